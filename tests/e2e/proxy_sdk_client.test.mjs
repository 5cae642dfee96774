// `mcp-audit proxy` in front of MCP servers that nobody here wrote (pinned in
// package.json), driven by the official TypeScript SDK client over stdio and
// over Streamable HTTP (one upstream process per session), and in front of one
// that itself speaks Streamable HTTP (--upstream-url): every tool answers
// through the proxy as it does directly, and each call has its record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { binary, scratchDir, readRecords } from './helpers.mjs';

const serverScript = (name) => resolve(`node_modules/@modelcontextprotocol/${name}/dist/index.js`);

async function connect(command, args, env) {
  const transport = new StdioClientTransport({ command, args, env: { ...process.env, ...env }, stderr: 'pipe' });
  const client = new Client({ name: 'proxy-e2e', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

// `mcp-audit proxy --http` with a one-time API key (for the caller erin) in
// front of `command`; resolves once it listens. close() stops it (records flushed).
async function connectOverHttp(auditDir, command, env) {
  const child = spawn(binary, ['proxy', '--http', '127.0.0.1:0', '--dev-api-key', '--audit-dir', auditDir,
    '--user', 'erin', '--', ...command], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  const [url, key] = await new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const url = stderr.match(/endpoint: +(http:\/\/\S+)/);
      const key = stderr.match(/dev API key: +(\S+)/);
      if (url && key && /stop:/.test(stderr)) resolve([url[1], key[1]]);
    });
    child.on('exit', (code) => reject(new Error(`mcp-audit proxy exited with ${code}: ${stderr}`)));
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'X-API-Key': key } } });
  const client = new Client({ name: 'proxy-e2e-http', version: '1.0.0' });
  await client.connect(transport);
  const close = client.close.bind(client);
  client.close = async () => {
    await transport.terminateSession();
    await close();
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  };
  return client;
}

// Makes `calls` ([tool, arguments] pairs) with `client`, then lists its tools and
// closes it: the results, the tools, and the progress the server sent on the way.
async function runCalls(client, calls) {
  const results = [];
  const progress = [];
  for (const [name, args] of calls) {
    results.push(await client.callTool({ name, arguments: args }, undefined,
      { onprogress: (p) => progress.push(p.progress) }));
  }
  const { tools } = await client.listTools();
  await client.close();
  return { results, tools, progress };
}

// Runs `calls` against the server started directly, then (after `reset`)
// through the proxy over stdio and over HTTP, and returns the results and the
// records of each.
async function compare(t, server, serverArgs, calls, { env = {}, reset = () => {} } = {}) {
  const dir = scratchDir(t);
  const auditDir = join(dir, 'audit'), httpAuditDir = join(dir, 'audit-http');
  const run = (client) => runCalls(client, calls);
  reset();
  const direct = await run(await connect(process.execPath, [serverScript(server), ...serverArgs], env));
  reset();
  const proxied = await run(await connect(binary,
    ['proxy', '--audit-dir', auditDir, '--user', 'erin', '--', process.execPath, serverScript(server), ...serverArgs],
    env));
  reset();
  const overHttp = await run(await connectOverHttp(httpAuditDir,
    [process.execPath, serverScript(server), ...serverArgs], env));
  assert.deepEqual(proxied.tools, direct.tools, 'the same tools');
  assert.deepEqual(overHttp.tools, direct.tools, 'the same tools over HTTP');
  return {
    direct: direct.results, proxied: proxied.results, records: readRecords(auditDir), progress: proxied.progress,
    overHttp: overHttp.results, httpRecords: readRecords(httpAuditDir), httpProgress: overHttp.progress,
  };
}

function assertRecorded(records, calls, results, transport = 'stdio') {
  assert.equal(records.length, calls.length, 'one record per call');
  records.forEach((record, i) => {
    assert.equal(record.tool, calls[i][0]);
    assert.equal(record.user.id, 'erin');
    assert.equal(record.request.transport, transport);
    if (transport === 'http') assert.equal(record.request.client_ip, '127.0.0.1');
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
  const { direct, proxied, records, overHttp, httpRecords } = await compare(t, 'server-filesystem', [root], calls,
    { reset });
  calls.forEach(([name], i) => {
    if (name === 'get_file_info') return;  // its times differ between the runs
    assert.deepEqual(proxied[i], direct[i], name);
    assert.deepEqual(overHttp[i], direct[i], `${name} over HTTP`);
  });
  assert.equal(proxied.at(-1).isError, true);
  assertRecorded(records, calls, proxied);
  assertRecorded(httpRecords, calls, overHttp, 'http');
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
  const { direct, proxied, records, overHttp, httpRecords } = await compare(t, 'server-memory', [], calls,
    { env: { MEMORY_FILE_PATH: file }, reset: () => rmSync(file, { force: true }) });
  assert.deepEqual(proxied, direct);
  assert.deepEqual(overHttp, direct);
  assertRecorded(records, calls, proxied);
  assertRecorded(httpRecords, calls, overHttp, 'http');
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
  const { direct, proxied, records, progress, overHttp, httpRecords, httpProgress } =
    await compare(t, 'server-everything', ['stdio'], calls);
  // The server's last notification may race its result (the client then drops it), so
  // how many arrive varies from run to run, directly too; at least one must come through.
  for (const relayed of [progress, httpProgress]) {
    assert.ok(relayed.length >= 1, `progress relayed: ${JSON.stringify(relayed)}`);
    assert.deepEqual(relayed, [...relayed].sort((a, b) => a - b), 'in order');
  }
  // Its dynamic resources say when they were made: the same but for that.
  const timeless = (results) => JSON.parse(JSON.stringify(results).replace(/created at [0-9:]+ [AP]M/g, 'created at T'));
  assert.deepEqual(timeless(proxied), timeless(direct));
  assert.deepEqual(timeless(overHttp), timeless(direct));
  assert.match(JSON.stringify(proxied[1]), /42/);
  assertRecorded(records, calls, proxied);
  assertRecorded(httpRecords, calls, overHttp, 'http');
});

// A port nothing listens on now.
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('server-everything over Streamable HTTP: the proxy reaches it with --upstream-url', async (t) => {
  const port = await freePort();
  const server = spawn(process.execPath, [serverScript('server-everything'), 'streamableHttp'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PORT: String(port) } });
  t.after(() => server.kill('SIGTERM'));
  let serverLog = '';
  await new Promise((resolve, reject) => {
    server.stderr.on('data', (chunk) => {
      serverLog += chunk;
      if (/listening on port/.test(serverLog)) resolve();
    });
    server.on('exit', (code) => reject(new Error(`server-everything exited with ${code}: ${serverLog}`)));
  });
  const url = `http://127.0.0.1:${port}/mcp`;
  const calls = [
    ['echo', { message: 'hello through the proxy' }],
    ['get-sum', { a: 2, b: 40 }],
    ['get-tiny-image', {}],
    ['get-structured-content', { location: 'New York' }],
    ['get-resource-links', { count: 2 }],
    ['trigger-long-running-operation', { duration: 1, steps: 4 }],
  ];
  const run = (client) => runCalls(client, calls);
  const directTransport = new StreamableHTTPClientTransport(new URL(url));
  const directClient = new Client({ name: 'direct-http', version: '1.0.0' });
  await directClient.connect(directTransport);
  const direct = await run(directClient);
  const auditDir = join(scratchDir(t), 'audit');
  const proxied = await run(await connect(binary,
    ['proxy', '--audit-dir', auditDir, '--user', 'erin', '--upstream-url', url], {}));
  assert.deepEqual(proxied.tools, direct.tools, 'the same tools');
  const timeless = (results) => JSON.parse(JSON.stringify(results).replace(/created at [0-9:]+ [AP]M/g, 'created at T'));
  assert.deepEqual(timeless(proxied.results), timeless(direct.results));
  assert.ok(proxied.progress.length >= 1, `progress relayed from the server's SSE stream: ${proxied.progress}`);
  assertRecorded(readRecords(auditDir), calls, proxied.results);
  const ends = readRecords(auditDir, { all: true }).filter((r) => r.event_type.startsWith('upstream_'));
  assert.deepEqual(ends, [], 'the session with the server ended as asked');
});
