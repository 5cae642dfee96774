// Shared by the end-to-end tests: a scratch audit directory and its records.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const binary = process.env.MCP_AUDIT_BINARY;
if (!binary) throw new Error('MCP_AUDIT_BINARY must name the mcp-audit binary');

export function scratchDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-audit-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The journal's segment files, oldest first.
export function segmentFiles(auditDir) {
  if (!existsSync(auditDir)) return [];
  return readdirSync(auditDir).filter((name) => /^segment-\d{20}\.jsonl$/.test(name)).sort()
    .map((name) => join(auditDir, name));
}

// Every record in the journal, in order; by default only those of tool calls.
export function readRecords(auditDir, { all = false } = {}) {
  return segmentFiles(auditDir)
    .flatMap((file) => readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0))
    .map((l) => JSON.parse(l))
    .filter((record) => all || record.event_type === 'tool_call');
}

export const PATIENTS = 'urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)';
export const ORDERS = 'urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)';

// Starts mcp-audit with `args` and resolves once its banner (stderr) matches
// every pattern, with the first group of each; stopped (SIGTERM) when the test
// ends, or by `stop()`.
export async function startMcpAudit(t, args, patterns) {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const found = await new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const matches = patterns.map((pattern) => stderr.match(pattern));
      if (matches.every(Boolean)) resolve(matches.map((match) => match[1]));
    });
    child.on('exit', (code) => reject(new Error(`mcp-audit exited with ${code}: ${stderr}`)));
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  t.after(stop);
  return { found, stop, stderr: () => stderr };
}

// A key made by `mcp-audit apikey`, as an operator makes one: the key, and its [[auth.api_keys]] entry.
export function makeApiKey(user, role, tenant = '') {
  const args = ['apikey', '--user', user, '--role', role, ...(tenant ? ['--tenant', tenant] : [])];
  const out = execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [key, ...entry] = out.split('\n');
  return { key, entry: entry.join('\n') };
}
