// Shared by the end-to-end tests: a scratch audit directory and its records.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const binary = process.env.MCP_AUDIT_BINARY;
if (!binary) throw new Error('MCP_AUDIT_BINARY must name the mcp-audit binary');

export function scratchDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-audit-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Every record the server wrote, in order.
export function readRecords(auditDir) {
  const file = join(auditDir, 'audit.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

export const PATIENTS = 'urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)';
export const ORDERS = 'urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)';
