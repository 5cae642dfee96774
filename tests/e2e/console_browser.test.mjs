// The auditor's console in a real browser (Debian's Chromium, driven by
// puppeteer-core): sign in, filter by user and outcome, open a record, watch
// the integrity page turn red after a journal line is altered, and be refused
// without the auditor role. Screenshots are kept in $MCP_AUDIT_ARTIFACTS/console.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import puppeteer from 'puppeteer-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { scratchDir, segmentFiles, startMcpAudit, makeApiKey } from './helpers.mjs';

const artifacts = join(process.env.MCP_AUDIT_ARTIFACTS || tmpdir(), 'console');
mkdirSync(artifacts, { recursive: true });

async function startServer(t, dir, configText) {
  const configFile = join(dir, 'mcp-audit.toml');
  writeFileSync(configFile, configText);
  const auditDir = join(dir, 'audit');
  const server = await startMcpAudit(t,
    ['serve', '--http', '127.0.0.1:0', '--config', configFile, '--audit-dir', auditDir],
    [/endpoint: +(http:\/\/\S+)/, /console: +(http:\/\/\S+)/]);
  return { mcp: server.found[0], console: server.found[1], auditDir };
}

async function callTool(url, key, name, args) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'X-API-Key': key } } });
  const client = new Client({ name: 'console-e2e', version: '1.0.0' });
  await client.connect(transport);
  const result = await client.callTool({ name, arguments: args });
  await client.close();
  return result;
}

async function launch(t) {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  return browser;
}

async function signIn(page, consoleUrl, key) {
  await page.goto(consoleUrl);
  await page.waitForSelector('#signin:not([hidden])');
  await page.type('input[name=credential]', key);
  await Promise.all([page.waitForNavigation(), page.click('#signin button[type=submit]')]);
}

const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

test('an auditor signs in, filters, opens a record and sees tampering turn the integrity page red', async (t) => {
  const dir = scratchDir(t);
  const auditor = makeApiKey('ann', 'auditor');
  const carol = makeApiKey('carol', 'analyst');
  const dave = makeApiKey('dave', 'analyst');
  const server = await startServer(t, dir, [auditor.entry, carol.entry, dave.entry,
    '[[policy.access]]\nroles = ["analyst"]\nallow = ["catalog_*"]\ndeny = ["catalog_get_schema"]\n',
    '[audit.checkpoints]\nevery_seconds = 1\n'].join('\n'));
  await callTool(server.mcp, carol.key, 'catalog_search', { query: 'orders' });
  await callTool(server.mcp, dave.key, 'catalog_search', { query: 'payroll' });
  await assert.rejects(callTool(server.mcp, dave.key, 'catalog_get_schema',
    { urn: 'urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.salaries,PROD)' }), /do not allow/);
  // A hostile caller's markup, in a tool name and in parameters: the console must show it as text.
  const markup = '<img src=x onerror="window.pwned=1">';
  await callTool(server.mcp, carol.key, 'catalog_search', { query: markup }).catch(() => {});
  await callTool(server.mcp, carol.key, markup, { query: markup }).catch(() => {});

  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const failures = [];
  page.on('pageerror', (error) => failures.push(error.message));
  // Errors of the page's own: a script error, a CSP violation, a request refused or failed.
  page.on('console', (message) => { if (message.type() === 'error') failures.push(message.text()); });
  page.on('response', (response) => { if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`); });

  // Not signed in: the sign-in form, nothing of the log.
  await page.goto(server.console);
  await page.waitForSelector('#signin:not([hidden])');
  assert.equal(await page.$eval('#nav', (nav) => nav.hidden), true);
  await shot(page, '01-sign-in');

  // Signed in: the overview, timed from the navigation to its figures.
  await signIn(page, server.console, auditor.key);
  const cookies = await browser.cookies();
  const session = cookies.find((c) => c.name === 'mcpaudit_console');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  const started = Date.now();
  await page.goto(server.console);
  await page.waitForFunction(() => document.querySelectorAll('#totals .card').length === 4);
  const firstLoad = Date.now() - started;
  console.log(`console first load (overview with its figures): ${firstLoad} ms (target: 1000 ms)`);
  const calls = await page.$eval('#totals .card.calls b', (b) => Number(b.textContent));
  assert.ok(calls >= 5, `the overview counts the calls: ${calls}`);
  assert.match(await page.$eval('#top-users', (list) => list.textContent), /dave/);
  assert.match(await page.$eval('#problems tbody', (body) => body.textContent), /catalog_get_schema/);
  await shot(page, '02-overview');

  // Events, filtered by user and outcome through the form: the filters land in the URL.
  await page.click('#nav a[data-page=events]');
  await page.waitForSelector('table#events tr[data-event-id]');
  assert.match(await page.$eval('table#events', (table) => table.textContent), /<img src=x/, 'markup shown as text');
  for (const row of await page.$$('table#events tr[data-event-id]')) {
    if (!(await row.evaluate((tr) => tr.textContent.includes('<img')))) continue;
    await row.click();
    await page.waitForSelector('#drawer:not([hidden])');
    assert.match(await page.$eval('#drawer-record', (pre) => pre.textContent), /onerror/);
    await page.keyboard.press('Escape');
  }
  assert.equal(await page.$$eval('main img, aside img', (images) => images.length), 0, 'no element made of a record');
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script of a record ran');
  await page.type('#filters input[name=user]', 'dave');
  await page.select('#filters select[name=outcome]', 'denied');
  await page.click('#filters button[type=submit]');
  await page.waitForFunction(() => location.hash.includes('user=dave') && location.hash.includes('outcome=denied'));
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('table#events tr[data-event-id]')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes('dave') && r.textContent.includes('denied'));
  });
  const rows = await page.$$eval('table#events tr[data-event-id]', (trs) => trs.map((tr) => tr.textContent));
  assert.equal(rows.length, 1, rows.join('\n'));
  assert.match(rows[0], /catalog_get_schema/);
  await shot(page, '03-events-filtered');

  // The link is shared: another tab opens the same selection.
  const shared = page.url();
  const other = await browser.newPage();
  await other.goto(shared);
  await other.waitForSelector('table#events tr[data-event-id]');
  assert.equal(await other.$eval('#filters input[name=user]', (input) => input.value), 'dave');
  assert.equal((await other.$$('table#events tr[data-event-id]')).length, 1);
  await other.close();

  // A record opens from the keyboard, with its place in the chain and the
  // checkpoint that includes it (one follows within a second here).
  const openId = await page.$eval('table#events tr[data-event-id]', (tr) => tr.dataset.eventId);
  const apiUrl = new URL(`/api/v1/events/${openId}`, server.mcp);
  for (let i = 0; i < 100; i++) {
    const answer = await (await fetch(apiUrl, { headers: { 'X-API-Key': auditor.key } })).json();
    if (answer.integrity?.checkpoint) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await page.focus('table#events tr[data-event-id]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#drawer:not([hidden])');
  const record = JSON.parse(await page.$eval('#drawer-record', (pre) => pre.textContent));
  assert.equal(record.tool, 'catalog_get_schema');
  assert.equal(record.outcome, 'denied');
  assert.equal(record.user.id, 'dave');
  assert.match(await page.$eval('#drawer-integrity', (dl) => dl.textContent), /[0-9a-f]{64}/);
  assert.match(await page.$eval('#drawer-integrity', (dl) => dl.textContent),
    /included incheckpoint \d+: tree of \d+ records, unsigned/);
  assert.match(page.url(), /id=/, 'the open record is in the URL too');
  await shot(page, '04-record');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#drawer', { hidden: true });

  // Integrity: verify now, green; a journal line altered, verify again, red.
  await page.click('#nav a[data-page=integrity]');
  await page.waitForSelector('#streams tbody tr');
  await page.click('#verify');
  await page.waitForSelector('#verdict[data-state=valid]');
  await shot(page, '05-integrity-valid');
  const segment = segmentFiles(server.auditDir)[0];
  const text = readFileSync(segment, 'utf8');
  assert.ok(text.includes('"payroll"'));
  writeFileSync(segment, text.replace('"payroll"', '"PAYROLL"'));
  await page.click('#verify');
  await page.waitForSelector('#verdict[data-state=tampered]');
  assert.match(await page.$eval('#verdict', (v) => v.textContent), /TAMPERED/);
  const colour = await page.$eval('#verdict', (v) => getComputedStyle(v).backgroundColor);
  const [r, g, b] = colour.match(/\d+/g).map(Number);
  assert.ok(r > 150 && g < 100 && b < 100, `the verdict is red: ${colour}`);
  assert.match(await page.$eval('#problems-list', (list) => list.textContent), /modified/);
  await shot(page, '06-integrity-tampered');

  // Dark, as the system asks.
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  const background = await page.$eval('body', (body) => getComputedStyle(body).backgroundColor);
  assert.ok(background.match(/\d+/g).map(Number).every((c) => c < 60), `dark: ${background}`);
  await shot(page, '07-integrity-dark');

  // Signed out: the log is closed again.
  await Promise.all([page.waitForNavigation(), page.click('#logout button')]);
  await page.waitForSelector('#signin:not([hidden])');
  assert.equal((await browser.cookies()).some((c) => c.name === 'mcpaudit_console'), false);
  assert.deepEqual(failures, [], 'no script errors, no CSP violations');
});

test('a caller without the auditor role is refused at sign-in and reads nothing', async (t) => {
  const dir = scratchDir(t);
  const analyst = makeApiKey('bob', 'analyst');
  const server = await startServer(t, dir, analyst.entry);
  const browser = await launch(t);
  const page = await browser.newPage();
  await signIn(page, server.console, analyst.key);
  await page.waitForSelector('#signin-message:not([hidden])');
  assert.match(await page.$eval('#signin-message', (p) => p.textContent), /lacks the auditor role/);
  assert.equal((await browser.cookies()).some((c) => c.name === 'mcpaudit_console'), false);
  await shot(page, '08-refused-without-auditor-role');

  await signIn(page, server.console, 'mcpa_not-a-key');
  await page.waitForSelector('#signin-message:not([hidden])');
  assert.match(await page.$eval('#signin-message', (p) => p.textContent), /not accepted/);
  // The API itself answers 401 to the browser without a session.
  const status = await page.evaluate(async () => (await fetch('/api/v1/events')).status);
  assert.equal(status, 401);
});
