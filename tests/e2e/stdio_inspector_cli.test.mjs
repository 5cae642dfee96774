// The MCP Inspector's CLI mode drives `mcp-audit serve --stdio`, one process
// per call, as a developer would from a shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { binary, scratchDir, readRecords, PATIENTS } from './helpers.mjs';

const run = promisify(execFile);
const inspector = join(import.meta.dirname, 'node_modules', '.bin', 'mcp-inspector');

async function inspect(auditDir, ...args) {
  try {
    const { stdout } = await run(inspector,
      ['--cli', binary, 'serve', '--stdio', '--audit-dir', auditDir, '--user', 'ivan', ...args],
      { timeout: 60_000 });
    return { code: 0, stdout };
  } catch (error) {
    return { code: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}

test('the Inspector CLI lists tools and calls each catalog tool, each audited', async (t) => {
  const auditDir = join(scratchDir(t), 'audit');
  const list = await inspect(auditDir, '--method', 'tools/list');
  assert.equal(list.code, 0, list.stderr);
  assert.equal(JSON.parse(list.stdout).tools.length, 5);

  const calls = [
    ['catalog_search', ['query=orders', 'limit=3'], { query: 'orders', limit: 3 }],
    ['catalog_get_entity', [`urn=${PATIENTS}`], { urn: PATIENTS }],
    ['catalog_get_schema', [`urn=${PATIENTS}`], { urn: PATIENTS }],
    ['catalog_get_lineage', [`urn=${PATIENTS}`, 'direction=downstream'], { urn: PATIENTS, direction: 'downstream' }],
    ['catalog_list_tags', ['filter=ph'], { filter: 'ph' }],
  ];
  for (const [name, toolArgs] of calls) {
    const result = await inspect(auditDir, '--method', 'tools/call', '--tool-name', name, '--tool-arg', ...toolArgs);
    assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    const parsed = JSON.parse(result.stdout);
    assert.notEqual(parsed.isError, true, `${name}: ${result.stdout}`);
  }

  const records = readRecords(auditDir);
  assert.equal(records.length, calls.length);
  for (const [i, [name, , params]] of calls.entries()) {
    assert.equal(records[i].tool, name);
    assert.equal(records[i].outcome, 'success');
    assert.equal(records[i].user.id, 'ivan');
    assert.deepEqual(records[i].params, params);
    assert.equal(records[i].request.client.name, 'inspector-cli');
    assert.ok(records[i].response.duration_ms >= 0);
  }
  assert.equal(records[1].compliance.phi, true);
});

// The Inspector CLI exits 5 when a tool answers isError. (It checks tool names
// against tools/list itself, so an unknown tool never reaches the server from
// it; the SDK client test covers that case.)
test('the Inspector CLI sees invalid arguments and tool failures, and both are audited', async (t) => {
  const auditDir = join(scratchDir(t), 'audit');
  const invalid = await inspect(auditDir, '--method', 'tools/call', '--tool-name', 'catalog_search',
    '--tool-arg', 'query=x', 'limit=500');
  assert.equal(invalid.code, 5);
  const refused = JSON.parse(invalid.stdout);
  assert.equal(refused.isError, true);
  assert.match(refused.content[0].text, /\/limit: .*100/);

  const missing = await inspect(auditDir, '--method', 'tools/call', '--tool-name', 'catalog_get_entity',
    '--tool-arg', 'urn=urn:li:dataset:missing');
  assert.equal(missing.code, 5);
  assert.match(JSON.parse(missing.stdout).content[0].text, /No entity with URN urn:li:dataset:missing/);

  const records = readRecords(auditDir);
  assert.deepEqual(records.map((r) => [r.tool, r.outcome, r.error?.reason]), [
    ['catalog_search', 'denied', 'invalid_arguments'],
    ['catalog_get_entity', 'failure', 'tool_error'],
  ]);
  assert.deepEqual(records[0].params, { query: 'x', limit: 500 });
});
