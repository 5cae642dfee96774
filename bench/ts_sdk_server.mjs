// The baseline of the HTTP benchmark: an MCP server built on the official
// TypeScript SDK (stateful sessions, JSON responses) serving the same trivial
// tool as `mcp-audit serve --toolkit conformance`, and auditing the plain way:
// one JSON line appended to a file per call.
//   node ts_sdk_server.mjs PORT AUDIT_FILE
import { createServer } from 'node:http';
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

const [port, auditFile] = process.argv.slice(2);
const transports = new Map();

function newSession() {
  const server = new McpServer({ name: 'ts-sdk-baseline', version: '1.0.0' });
  server.tool('test_simple_text', 'Returns a simple text', async (extra) => {
    appendFileSync(auditFile, JSON.stringify({
      timestamp: new Date().toISOString(), tool: 'test_simple_text', session: extra.sessionId, outcome: 'success',
    }) + '\n');
    return { content: [{ type: 'text', text: 'This is a simple text response for testing.' }] };
  });
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: true,
    onsessioninitialized: (id) => transports.set(id, transport),
  });
  server.connect(transport);
  return transport;
}

createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
  const id = req.headers['mcp-session-id'];
  const transport = id ? transports.get(id) : newSession();
  if (!transport) {
    res.writeHead(404).end();
    return;
  }
  await transport.handleRequest(req, res, body);
}).listen(Number(port), '127.0.0.1', () => console.error(`ts-sdk-baseline listening on ${port}`));
