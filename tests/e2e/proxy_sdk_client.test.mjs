// `mcp-audit proxy` in front of MCP servers that nobody here wrote (pinned in
// package.json), driven by the official TypeScript SDK client over stdio: every
// tool answers through the proxy as it does directly, and each call has its record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { binary, scratchDir, readRecords } from './helpers.mjs';

const serverScript = (name) => resolve(`node_modules/@modelcontextprotocol/${name}/dist/index.js`);

async function connect(command, args, env) {
  const transport = new StdioClientTransport({ command, args, env: { ...process.env, ...env }, stderr: 'pipe' });
  const client = new Client({ name: 'proxy-e2e', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

// Runs `calls` against the server started directly, then (after `reset`)
// through the proxy, and returns both lists of results and the proxy's records.
async function compare(t, server, serverArgs, calls, { env = {}, reset = () => {} } = {}) {
  const auditDir = join(scratchDir(t), 'audit');
  const run = async (client) => {
    const results = [];
    const progress = [];  // notifications/progress the server sent on the way
    for (const [name, args] of calls) {
      results.push(await client.callTool({ name, arguments: args }, undefined,
        { onprogress: (p) => progress.push(p.progress) }));
    }
    const { tools } = await client.listTools();
    await client.close();
    return { results, tools, progress };
  };
  reset();
  const direct = await run(await connect(process.execPath, [serverScript(server), ...serverArgs], env));
  reset();
  const proxied = await run(await connect(binary,
    ['proxy', '--audit-dir', auditDir, '--user', 'erin', '--', process.execPath, serverScript(server), ...serverArgs],
    env));
  assert.deepEqual(proxied.tools, direct.tools, 'the same tools');
  return { direct: direct.results, proxied: proxied.results, records: readRecords(auditDir), progress: proxied.progress };
}

function assertRecorded(records, calls, results) {
  assert.equal(records.length, calls.length, 'one record per call');
  records.forEach((record, i) => {
    assert.equal(record.tool, calls[i][0]);
    assert.equal(record.user.id, 'erin');
    assert.equal(record.outcome, results[i].isError ? 'failure' : 'success', `${calls[i][0]}`);
    assert.ok(record.response.duration_ms >= 0);
  });
}

test('server-filesystem: every tool answers through the proxy as it does directly', async (t) => {
  const root = join(scratchDir(t), 'files');
  const reset = () => {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'docs'), { recursive: true });
    writeFileSync(join(root, 'docs', 'a.txt'), 'alpha\nbeta\ngamma\n');
    writeFileSync(join(root, 'b.md'), '# title\n');
  };
  const calls = [
    ['list_allowed_directories', {}],
    ['list_directory', { path: root }],
    ['list_directory_with_sizes', { path: root, sortBy: 'name' }],
    ['directory_tree', { path: root }],
    ['read_text_file', { path: join(root, 'docs', 'a.txt'), head: 2 }],
    ['read_file', { path: join(root, 'b.md') }],
    ['read_multiple_files', { paths: [join(root, 'b.md'), join(root, 'docs', 'a.txt')] }],
    ['read_media_file', { path: join(root, 'b.md') }],
    ['write_file', { path: join(root, 'c.txt'), content: 'written through the proxy' }],
    ['edit_file', { path: join(root, 'c.txt'), edits: [{ oldText: 'written', newText: 'edited' }] }],
    ['create_directory', { path: join(root, 'new') }],
    ['move_file', { source: join(root, 'c.txt'), destination: join(root, 'new', 'c.txt') }],
    ['search_files', { path: root, pattern: '*.txt' }],
    ['get_file_info', { path: join(root, 'b.md') }],
    ['read_text_file', { path: '/etc/passwd' }],  // outside the allowed directory: a tool error
  ];
  const { direct, proxied, records } = await compare(t, 'server-filesystem', [root], calls, { reset });
  calls.forEach(([name], i) => {
    if (name === 'get_file_info') return;  // its times differ between the two runs
    assert.deepEqual(proxied[i], direct[i], name);
  });
  assert.equal(proxied.at(-1).isError, true);
  assertRecorded(records, calls, proxied);
});

test('server-memory: every tool answers through the proxy as it does directly', async (t) => {
  const file = join(scratchDir(t), 'memory.jsonl');
  const calls = [
    ['create_entities', { entities: [{ name: 'Ada', entityType: 'person', observations: ['writes programs'] },
      { name: 'Engine', entityType: 'machine', observations: [] }] }],
    ['create_relations', { relations: [{ from: 'Ada', to: 'Engine', relationType: 'programs' }] }],
    ['add_observations', { observations: [{ entityName: 'Engine', contents: ['analytical'] }] }],
    ['read_graph', {}],
    ['search_nodes', { query: 'analytical' }],
    ['open_nodes', { names: ['Ada'] }],
    ['delete_observations', { deletions: [{ entityName: 'Ada', observations: ['writes programs'] }] }],
    ['delete_relations', { relations: [{ from: 'Ada', to: 'Engine', relationType: 'programs' }] }],
    ['delete_entities', { entityNames: ['Engine'] }],
  ];
  const { direct, proxied, records } = await compare(t, 'server-memory', [], calls,
    { env: { MEMORY_FILE_PATH: file }, reset: () => rmSync(file, { force: true }) });
  assert.deepEqual(proxied, direct);
  assertRecorded(records, calls, proxied);
});

test('server-everything: its tools, progress notifications included, work through the proxy', async (t) => {
  const calls = [
    ['echo', { message: 'hello through the proxy' }],
    ['get-sum', { a: 2, b: 40 }],
    ['get-tiny-image', {}],
    ['get-structured-content', { location: 'New York' }],
    ['get-annotated-message', { messageType: 'error', includeImage: true }],
    ['get-resource-links', { count: 2 }],
    ['get-resource-reference', { resourceType: 'Text', resourceId: 1 }],
    ['trigger-long-running-operation', { duration: 1, steps: 4 }],
  ];
  const { direct, proxied, records, progress } = await compare(t, 'server-everything', ['stdio'], calls);
  // The server's last notification may race its result (the client then drops it), so
  // how many arrive varies from run to run, directly too; at least one must come through.
  assert.ok(progress.length >= 1, `progress relayed: ${JSON.stringify(progress)}`);
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'in order');
  // Its dynamic resources say when they were made: the same but for that.
  const timeless = (results) => JSON.parse(JSON.stringify(results).replace(/created at [0-9:]+ [AP]M/g, 'created at T'));
  assert.deepEqual(timeless(proxied), timeless(direct));
  assert.match(JSON.stringify(proxied[1]), /42/);
  assertRecorded(records, calls, proxied);
});
