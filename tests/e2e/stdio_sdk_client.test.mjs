// The official MCP TypeScript SDK client drives `mcp-audit serve --stdio`;
// every call must leave exactly one correct audit record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { binary, scratchDir, readRecords, segmentFiles, PATIENTS, ORDERS } from './helpers.mjs';

async function connect(auditDir, extraArgs = [], env = {}) {
  const transport = new StdioClientTransport({
    command: binary,
    args: ['serve', '--stdio', '--audit-dir', auditDir, ...extraArgs],
    env: { ...process.env, ...env },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'sdk-e2e', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

test('the SDK client lists and calls every catalog tool, each call audited once', async (t) => {
  const auditDir = join(scratchDir(t), 'audit');
  const client = await connect(auditDir, ['--user', 'dana']);

  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((tool) => tool.name).sort(), [
    'catalog_get_entity', 'catalog_get_lineage', 'catalog_get_schema', 'catalog_list_tags', 'catalog_search',
  ]);
  for (const tool of tools) {
    assert.equal(tool.inputSchema.type, 'object');
    assert.equal(tool.annotations.readOnlyHint, true);
  }

  const calls = [
    ['catalog_search', { query: 'customer', limit: 5 }],
    ['catalog_get_entity', { urn: PATIENTS }],
    ['catalog_get_schema', { urn: PATIENTS }],
    ['catalog_get_lineage', { urn: ORDERS, direction: 'downstream', depth: 2 }],
    ['catalog_list_tags', { filter: 'p' }],
  ];
  for (const [name, args] of calls) {
    const result = await client.callTool({ name, arguments: args });
    assert.notEqual(result.isError, true, `${name}: ${JSON.stringify(result.content)}`);
    assert.ok(result.structuredContent, `${name} returns structured content`);
  }
  const search = await client.callTool({ name: 'catalog_search', arguments: { query: 'patients' } });
  assert.equal(search.structuredContent.results[0].urn, PATIENTS);

  // Invalid arguments: the model sees a tool error it can correct.
  const invalid = await client.callTool({ name: 'catalog_get_lineage', arguments: { urn: ORDERS, depth: 99 } });
  assert.equal(invalid.isError, true);
  assert.match(invalid.content[0].text, /depth/);

  // An unknown tool: a JSON-RPC error.
  await assert.rejects(client.callTool({ name: 'drop_tables', arguments: {} }), (error) => {
    assert.ok(error instanceof McpError);
    assert.equal(error.code, -32602);
    assert.match(error.message, /Unknown tool: drop_tables/);
    return true;
  });
  await client.close();

  const records = readRecords(auditDir);
  assert.equal(records.length, calls.length + 3, 'one record per tools/call');
  const byRequest = records.map((r) => [r.tool, r.outcome]);
  assert.deepEqual(byRequest.slice(0, 5).map(([tool]) => tool), calls.map(([name]) => name));
  for (const [i, [name, args]] of calls.entries()) {
    const record = records[i];
    assert.equal(record.schema, 'mcp-audit/1');
    assert.match(record.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(record.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(record.event_type, 'tool_call');
    assert.equal(record.tool, name);
    assert.equal(record.outcome, 'success');
    assert.equal(record.user.id, 'dana');
    assert.deepEqual(record.params, args);
    assert.equal(record.request.transport, 'stdio');
    assert.equal(record.request.client.name, 'sdk-e2e');
    assert.equal(typeof record.response.duration_ms, 'number');
    assert.ok(record.response.duration_ms >= 0);
    assert.ok(record.response.bytes > 0);
  }
  // The PHI dataset's calls say so; the others do not.
  assert.equal(records[1].compliance.phi, true);
  assert.deepEqual(records[1].resources, [PATIENTS]);
  assert.equal(records[0].compliance?.phi, undefined);
  assert.equal(records[5].outcome, 'success');
  assert.deepEqual(records.slice(6).map((r) => [r.tool, r.outcome, r.error.reason]), [
    ['catalog_get_lineage', 'denied', 'invalid_arguments'],
    ['drop_tables', 'denied', 'unknown_tool'],
  ]);
  // One session for the whole connection; distinct request ids.
  assert.equal(new Set(records.map((r) => r.request.session_id)).size, 1);
  assert.equal(new Set(records.map((r) => r.request.id)).size, records.length);
  for (const file of segmentFiles(auditDir)) assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(auditDir).mode & 0o777, 0o700);
});

test('a tool failure reaches the client as isError and the record as failure', async (t) => {
  const auditDir = join(scratchDir(t), 'audit');
  const client = await connect(auditDir, [], { MCP_AUDIT_USER: 'erin' });
  const result = await client.callTool({ name: 'catalog_get_schema', arguments: { urn: 'urn:li:dashboard:(looker,revenue_overview)' } });
  assert.equal(result.isError, true);
  assert.match(result.content[0].text, /not a dataset/);
  await client.close();
  const [record] = readRecords(auditDir);
  assert.equal(record.outcome, 'failure');
  assert.equal(record.user.id, 'erin');
  assert.equal(record.user.auth_method, 'env');
  assert.equal(record.response.is_error, true);
  assert.match(record.error.message, /not a dataset/);
});

test('concurrent calls from one client are answered and audited one by one', async (t) => {
  const auditDir = join(scratchDir(t), 'audit');
  const client = await connect(auditDir);
  const queries = Array.from({ length: 50 }, (_, i) => `q${i}`);
  const results = await Promise.all(
    queries.map((query) => client.callTool({ name: 'catalog_search', arguments: { query } })));
  assert.equal(results.length, 50);
  await client.close();
  const records = readRecords(auditDir);
  assert.deepEqual(records.map((r) => r.params.query).sort(), [...queries].sort());
});
