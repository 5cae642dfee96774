// The official TypeScript SDK client (StreamableHTTPClientTransport) and the MCP
// Inspector CLI call `mcp-audit serve --http` with an API key and with a JWT;
// every call must be audited with who, from where, in which session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { scratchDir, readRecords, segmentFiles, startMcpAudit, makeApiKey, PATIENTS } from './helpers.mjs';

const run = promisify(execFile);
const inspector = join(import.meta.dirname, 'node_modules', '.bin', 'mcp-inspector');

// Starts `mcp-audit serve --http 127.0.0.1:0` and resolves with its endpoint URL.
async function startServer(t, dir, configText) {
  const configFile = join(dir, 'mcp-audit.toml');
  writeFileSync(configFile, configText);
  const auditDir = join(dir, 'audit');
  const server = await startMcpAudit(t,
    ['serve', '--http', '127.0.0.1:0', '--config', configFile, '--audit-dir', auditDir], [/endpoint: +(http:\/\/\S+)/]);
  return { url: server.found[0], auditDir, stop: server.stop, stderr: server.stderr };
}

async function connect(url, headers) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'sdk-http-e2e', version: '2.0.0' });
  await client.connect(transport);
  return { client, transport };
}

function base64url(data) {
  return Buffer.from(data).toString('base64url');
}

function signJwt(privateKey, claims) {
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify(claims));
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), privateKey).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

const now = () => Math.floor(Date.now() / 1000);

test('with an API key: the SDK client calls tools and each record names the caller, session and address',
  async (t) => {
    const dir = scratchDir(t);
    const alice = makeApiKey('alice', 'analyst', 'acme');
    const server = await startServer(t, dir, alice.entry);
    const { client, transport } = await connect(server.url, { 'X-API-Key': alice.key });
    const { tools } = await client.listTools();
    assert.equal(tools.length, 5);
    const search = await client.callTool({ name: 'catalog_search', arguments: { query: 'patients' } });
    assert.equal(search.structuredContent.results[0].urn, PATIENTS);
    const entity = await client.callTool({ name: 'catalog_get_entity', arguments: { urn: PATIENTS } });
    assert.notEqual(entity.isError, true);
    const sessionId = transport.sessionId;
    assert.match(sessionId, /^[0-9a-f]{32}$/);
    await client.close();
    await server.stop();

    const records = readRecords(server.auditDir);
    assert.deepEqual(records.map((r) => r.tool), ['catalog_search', 'catalog_get_entity']);
    for (const record of records) {
      assert.equal(record.outcome, 'success');
      assert.equal(record.user.id, 'alice');
      assert.equal(record.user.tenant_id, 'acme');
      assert.deepEqual(record.user.roles, ['analyst']);
      assert.equal(record.user.auth_method, 'api_key');
      assert.equal(record.request.transport, 'http');
      assert.equal(record.request.client_ip, '127.0.0.1');
      assert.equal(record.request.session_id, sessionId);
      assert.equal(record.request.client.name, 'sdk-http-e2e');
      assert.ok(record.request.id.length > 0);
      assert.ok(record.response.duration_ms >= 0);
    }
    // The key itself is nowhere in the journal.
    for (const file of segmentFiles(server.auditDir)) {
      assert.ok(!readFileSync(file, 'utf8').includes(alice.key));
    }
  });

test('with a JWT: the identity comes from its claims; refused tokens are audited without the token', async (t) => {
  const dir = scratchDir(t);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'idp.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  const server = await startServer(t, dir, `
[auth.jwt]
public_key_file = "${join(dir, 'idp.pem')}"
issuer = "https://idp.example.com"
audience = ["mcp-audit"]
`);
  const claims = {
    sub: 'dana', email: 'dana@example.com', tenant_id: 'initech', roles: ['clinician'],
    iss: 'https://idp.example.com', aud: 'mcp-audit', exp: now() + 300,
  };
  const token = signJwt(privateKey, claims);
  const { client } = await connect(server.url, { Authorization: `Bearer ${token}` });
  const lineage = await client.callTool({
    name: 'catalog_get_lineage', arguments: { urn: PATIENTS, direction: 'downstream' },
  });
  assert.notEqual(lineage.isError, true);
  await client.close();
  // The Inspector CLI with the same bearer token.
  const { stdout } = await run(inspector, ['--cli', server.url, '--transport', 'http',
    '--header', `Authorization: Bearer ${token}`, '--method', 'tools/call', '--tool-name', 'catalog_get_schema',
    '--tool-arg', `urn=${PATIENTS}`], { timeout: 60_000 });
  assert.ok(JSON.parse(stdout).structuredContent);

  // What a client with a bad token meets: 401, and no session.
  const expired = signJwt(privateKey, { ...claims, exp: now() - 3600 });
  await assert.rejects(connect(server.url, { Authorization: `Bearer ${expired}` }), /401|Unauthorized/);
  const foreign = signJwt(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, claims);
  await assert.rejects(connect(server.url, { Authorization: `Bearer ${foreign}` }), /401|Unauthorized/);
  const wrongAudience = signJwt(privateKey, { ...claims, aud: 'someone-else' });
  const refused = await fetch(server.url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${wrongAudience}`, 'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get('www-authenticate'), /error="invalid_token", error_description="wrong audience"/);
  assert.match(refused.headers.get('www-authenticate'), /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
  // A token without a signature ("alg": "none") is refused like any other bad token.
  const unsigned = `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}.`;
  const none = await fetch(server.url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${unsigned}`, 'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  assert.equal(none.status, 401);
  assert.equal((await none.json()).error.message, "Unauthorized: algorithm 'none' is not accepted");
  await server.stop();

  const all = readRecords(server.auditDir, { all: true });
  const calls = all.filter((r) => r.event_type === 'tool_call');
  assert.deepEqual(calls.map((r) => [r.tool, r.user.id, r.request.client.name]),
    [['catalog_get_lineage', 'dana', 'sdk-http-e2e'], ['catalog_get_schema', 'dana', 'inspector-cli']]);
  const call = calls[0];
  assert.equal(call.user.id, 'dana');
  assert.equal(call.user.email, 'dana@example.com');
  assert.equal(call.user.tenant_id, 'initech');
  assert.deepEqual(call.user.roles, ['clinician']);
  assert.equal(call.user.auth_method, 'jwt');
  const failures = all.filter((r) => r.event_type === 'auth_failure');
  assert.deepEqual(failures.map((r) => r.error.message).sort(),
    ["algorithm 'none' is not accepted", 'signature does not verify', 'token expired', 'wrong audience']);
  for (const failure of failures) {
    assert.equal(failure.outcome, 'denied');
    assert.equal(failure.request.client_ip, '127.0.0.1');
  }
  const journal = segmentFiles(server.auditDir).map((f) => readFileSync(f, 'utf8')).join('');
  for (const secret of [token, expired, foreign, wrongAudience, unsigned]) assert.ok(!journal.includes(secret));
});

test('the Inspector CLI calls a tool over HTTP with an API key header', async (t) => {
  const dir = scratchDir(t);
  const ivan = makeApiKey('ivan', 'ops', 'acme');
  const server = await startServer(t, dir, ivan.entry);
  const { stdout } = await run(inspector, ['--cli', server.url, '--transport', 'http',
    '--header', `X-API-Key: ${ivan.key}`, '--method', 'tools/call', '--tool-name', 'catalog_list_tags',
    '--tool-arg', 'filter=ph'], { timeout: 60_000 });
  assert.ok(JSON.parse(stdout).structuredContent.tags.length > 0);
  await server.stop();
  const records = readRecords(server.auditDir);
  assert.equal(records.length, 1);
  assert.equal(records[0].tool, 'catalog_list_tags');
  assert.equal(records[0].user.id, 'ivan');
  assert.equal(records[0].request.client.name, 'inspector-cli');
});
