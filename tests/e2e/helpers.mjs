// Shared by the end-to-end tests: a scratch audit directory and its records.
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
