// The read API's OpenAPI document, as `mcp-audit serve --http` serves it: a
// valid OpenAPI 3.1 description (checked by an outside validator) of every
// endpoint the server answers, and answers that have the documented shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { scratchDir, startMcpAudit } from './helpers.mjs';

async function startServer(t, dir) {
  const server = await startMcpAudit(t,
    ['serve', '--http', '127.0.0.1:0', '--dev-api-key', '--audit-dir', `${dir}/audit`],
    [/endpoint: +(http:\/\/\S+)\/mcp/, /dev API key: +(\S+)/, /(stop):/]);
  return { base: server.found[0], key: server.found[1] };
}

test('the read API describes itself in valid OpenAPI 3.1 and answers as described', async (t) => {
  const { base, key } = await startServer(t, scratchDir(t));
  const get = (path) => fetch(base + path, { headers: { 'X-API-Key': key } });

  const reply = await get('/api/v1/openapi.json');
  assert.equal(reply.status, 200);
  const document = await reply.json();
  const validator = new Validator();
  const result = await validator.validate(document);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  assert.equal(validator.version, '3.1');

  // Every documented operation is served (the dev key has the auditor role); nothing undocumented is.
  const examples = { '{id}': 'no-such-record', '{job}': 'no-such-job', '{kind}': 'access-review', '{stream}': 'no-such-stream' };
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const concrete = path.replace(/\{\w+\}/g, (name) => examples[name]);
      const answer = await fetch(base + concrete, { method: method.toUpperCase(), headers: { 'X-API-Key': key } });
      const expected = Object.keys(operation.responses).find((code) => code.startsWith('2'));
      const unknown = concrete.includes('no-such-');
      assert.equal(String(answer.status), unknown ? '404' : expected, `${method} ${concrete}`);
      assert.ok(unknown || answer.status === 202 || operation.responses[expected].content, `${path}: content described`);
    }
  }
  assert.equal((await get('/api/v1/undocumented')).status, 404);

  // The answers carry what their schemas require.
  const required = (schema) => schema.content['application/json'].schema.required;
  const events = await (await get('/api/v1/events?limit=5')).json();
  for (const name of required(document.paths['/api/v1/events'].get.responses['200'])) assert.ok(name in events, name);
  assert.ok(events.events.length >= 1, 'the server records its own start');
  const stats = await (await get('/api/v1/stats?bucket=day')).json();
  for (const name of required(document.paths['/api/v1/stats'].get.responses['200'])) assert.ok(name in stats, name);
  const bad = await (await get('/api/v1/events?limit=0')).json();
  for (const name of document.components.schemas.Error.required) assert.ok(name in bad, name);
  assert.equal(bad.parameter, 'limit');
});
