// mcp-audit console: reads the audit log through /api/v1/ with the session
// cookie the sign-in set. Every value from a record goes in as text, never as markup.
'use strict';

const API = '/api/v1/';
const $ = (selector) => document.querySelector(selector);
const PAGES = ['overview', 'events', 'integrity', 'reports'];
const FILTERS = ['since', 'until', 'user', 'tenant', 'tool', 'outcome', 'event_type', 'session', 'resource', 'phi', 'q'];

class SignedOut extends Error {}
class Forbidden extends Error {}

// The answer's JSON, or its text as the error when it is not JSON.
async function bodyOf(reply) {
  if ((reply.headers.get('content-type') || '').startsWith('application/json')) return reply.json();
  return { error: (await reply.text()).slice(0, 300) || `HTTP ${reply.status}` };
}

async function api(path, init = {}) {
  const reply = await fetch(API + path, { credentials: 'same-origin', ...init });
  if (reply.status === 401) throw new SignedOut();
  const body = await bodyOf(reply);
  if (reply.status === 403) throw new Forbidden(body.error);
  if (!reply.ok) throw new Error(body.error || `HTTP ${reply.status}`);
  return body;
}

// Whether the browser holds a session (asked of the console, not of the log: no record, no refusal).
async function signedIn() {
  const reply = await fetch('/console/session', { credentials: 'same-origin' });
  return reply.ok && (await reply.json()).signed_in;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) tr.append(cell instanceof Node ? cell : element('td', cell ?? ''));
  return tr;
}

function outcomeCell(outcome) {
  return element('td', outcome, `outcome-${outcome}`);
}

function shortTime(timestamp) {
  return (timestamp || '').replace('T', ' ').replace('Z', '');
}

function notice(text) {
  const box = $('#notice');
  box.textContent = text || '';
  box.hidden = !text;
}

// ---- signing in --------------------------------------------------------------------------------

function showSignIn(message) {
  for (const page of document.querySelectorAll('.page')) page.hidden = true;
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#signin').hidden = false;
  const line = $('#signin-message');
  line.textContent = message || '';
  line.hidden = !message;
  $('#credential').focus();
}

const SIGN_IN_MESSAGES = {
  failed: 'That credential was not accepted.',
  forbidden: 'That credential is valid but lacks the auditor role: it cannot read the audit log.',
  unavailable: 'The sign-in could not be recorded in the audit log, so it was refused. Try again later.',
  out: 'Signed out.',
};

// ---- pages ---------------------------------------------------------------------------------------

function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, query] = hash.split('?');
  return { page: PAGES.includes(name) ? name : 'overview', params: new URLSearchParams(query || '') };
}

async function show() {
  const { page, params } = currentRoute();
  if (!(await signedIn())) return showSignIn();
  $('#signin').hidden = true;
  for (const name of PAGES) $(`#page-${name}`).hidden = name !== page;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  notice('');
  try {
    if (page === 'overview') await overview();
    if (page === 'events') await events(params);
    if (page === 'integrity') await integrity();
    if (page === 'reports') reports();
  } catch (error) {
    if (error instanceof SignedOut) return showSignIn();
    if (error instanceof Forbidden) return showSignIn(error.message);
    notice(`The audit log could not be read: ${error.message}`);
  }
}

// Overview: the last 24 hours.
async function overview() {
  const since = new Date(Date.now() - 24 * 3600 * 1000);
  since.setUTCMinutes(0, 0, 0);
  const sinceText = since.toISOString();
  // One read first: signed out, that is the only refused request.
  const stats = await api(`stats?bucket=hour&event_type=tool_call&since=${encodeURIComponent(sinceText)}`);
  const [problems, phi] = await Promise.all([
    Promise.all([api('events?outcome=denied&limit=10'), api('events?outcome=failure&limit=10')]),
    api('events?phi=true&limit=200'),
  ]);
  $('#overview-range').textContent = `since ${shortTime(sinceText).slice(0, 16)} UTC`;
  const totals = $('#totals');
  totals.replaceChildren();
  for (const [name, value] of [['calls', stats.totals.total], ['success', stats.totals.success],
    ['failure', stats.totals.failure], ['denied', stats.totals.denied]]) {
    const card = element('div', null, `card ${name}`);
    card.append(element('b', value), element('span', name));
    totals.append(card);
  }
  drawChart($('#chart'), stats.buckets, since);
  fillRanked($('#top-tools'), stats.top_tools, 'tool');
  fillRanked($('#top-users'), stats.top_users, 'user');
  fillRanked($('#denials'), stats.denials_by_reason, 'reason');
  const recent = [...problems[0].events, ...problems[1].events]
    .sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1)).slice(0, 10);
  $('#problems tbody').replaceChildren(...recent.map((e) => row([shortTime(e.timestamp), e.event_type, e.tool,
    e.user?.id, outcomeCell(e.outcome), e.error?.reason ?? e.error?.message])));
  const unexplained = phi.events.filter((e) => !e.compliance?.access_reason);
  $('#phi-unexplained tbody').replaceChildren(...unexplained.map((e) => row([shortTime(e.timestamp), e.tool,
    e.user?.id, (e.resources || []).join(' ')])));
  if (unexplained.length === 0) $('#phi-unexplained tbody').append(row(['none', '', '', '']));
}

function fillRanked(list, items, key) {
  list.replaceChildren(...items.map((item) => {
    const li = element('li', item[key] || '(none)');
    li.append(element('span', item.count));
    return li;
  }));
  if (items.length === 0) list.append(element('li', 'none'));
}

// Calls over time as stacked bars: small SVG of our own (no chart library to ship or trust).
function drawChart(container, buckets, since) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  const width = 960, height = 220, left = 48, bottom = 24, top = 10;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  const hours = 25;
  const byStart = new Map(buckets.map((b) => [Date.parse(b.start), b]));
  const slots = [];
  for (let i = 0; i < hours; i++) {
    const start = since.getTime() + i * 3600 * 1000;
    slots.push({ start: new Date(start).toISOString(),
      ...(byStart.get(start) || { success: 0, failure: 0, denied: 0, total: 0 }) });
  }
  const max = Math.max(1, ...slots.map((s) => s.success + s.failure + s.denied));
  svg.setAttribute('aria-label', `calls per hour, at most ${max} in an hour`);
  const plot = height - bottom - top;
  const step = (width - left) / hours;
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  for (const tick of new Set([0, Math.round(max / 2), max])) {
    const y = top + plot * (1 - tick / max);
    add('line', { x1: left, x2: width, y1: y, y2: y, class: 'grid' });
    add('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, tick);
  }
  slots.forEach((slot, i) => {
    let y = top + plot;
    for (const outcome of ['success', 'failure', 'denied']) {
      const h = (slot[outcome] / max) * plot;
      if (h <= 0) continue;
      y -= h;
      const bar = add('rect', { x: left + i * step + 1, y, width: Math.max(1, step - 2), height: h,
        class: `bar-${outcome}` });
      const title = document.createElementNS(NS, 'title');
      title.textContent = `${shortTime(slot.start)}: ${slot[outcome]} ${outcome}`;
      bar.append(title);
    }
    if (i % 4 === 0)
      add('text', { x: left + i * step, y: height - 6, class: 'axis' }, slot.start.slice(11, 16));
  });
  container.replaceChildren(svg);
}

// Events: filters in the URL, newest first, more as the list is scrolled.
let eventsQuery = null;   // the filters shown
let nextCursor = null;
let loading = null;       // the filters of the page being read, if one is

async function events(params) {
  const form = $('#filters');
  for (const name of FILTERS) form.elements[name].value = params.get(name) || '';
  const query = new URLSearchParams();
  for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
  eventsQuery = query.toString();
  nextCursor = null;
  $('#events tbody').replaceChildren();
  await loadEvents();
  if (params.get('id')) await openRecord(params.get('id'));
}

async function loadEvents() {
  if (loading === eventsQuery) return;  // that page is on its way
  const asked = eventsQuery;
  loading = asked;
  try {
    const query = new URLSearchParams(asked);
    query.set('limit', '100');
    if (nextCursor) query.set('cursor', nextCursor);
    const page = await api(`events?${query}`);
    if (asked !== eventsQuery) return;  // the filters changed meanwhile
    const body = $('#events tbody');
    for (const e of page.events) {
      const tr = row([shortTime(e.timestamp), e.event_type, e.tool, e.user?.id, e.user?.tenant_id,
        outcomeCell(e.outcome), e.error?.reason ?? '']);
      tr.dataset.eventId = e.id;
      tr.tabIndex = 0;
      body.append(tr);
    }
    nextCursor = page.next_cursor;
    $('#more').hidden = !nextCursor;
    const shown = body.children.length;
    $('#events-status').textContent = shown === 0 ? 'No records match these filters.'
      : `${shown} record${shown === 1 ? '' : 's'}${nextCursor ? ', newest first; more below' : ''}`;
  } finally {
    if (loading === asked) loading = null;
  }
}

function applyFilters(event) {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    const value = $('#filters').elements[name].value.trim();
    if (value) query.set(name, value);
  }
  location.hash = `#/events${query.toString() ? '?' + query : ''}`;
}

// What a checkpoint's C2SP note signs, for a person: "tree of N records,
// signed by key K" (its text is origin, size, root; its signature lines
// follow the last blank line, each "— <key name> <signature>").
function noteSummary(note) {
  const blank = note.lastIndexOf('\n\n');
  const text = blank < 0 ? note : note.slice(0, blank + 1);
  const keys = blank < 0 ? [] : note.slice(blank + 2).split('\n')
    .filter((line) => line.startsWith('\u2014 ')).map((line) => line.split(' ')[1]);
  const size = text.split('\n')[1];
  return `tree of ${size} records, ` + (keys.length ? `signed by key ${keys.join(', ')}` : 'unsigned');
}

async function openRecord(id) {
  const answer = await api(`events/${encodeURIComponent(id)}`);
  const drawer = $('#drawer');
  $('#drawer-title').textContent = `${answer.event.event_type} ${answer.event.tool || ''}`.trim();
  const list = $('#drawer-integrity');
  list.replaceChildren();
  const integrity = answer.integrity || {};
  const checkpoint = integrity.checkpoint;
  for (const [name, value] of [['id', answer.event.id], ['stream', integrity.stream], ['seq', integrity.seq],
    ['prev', integrity.prev], ['hash', integrity.hash],
    ['sealed by', checkpoint ? `checkpoint seq ${checkpoint.integrity?.seq} (${shortTime(checkpoint.timestamp)})`
      : 'no checkpoint yet'],
    ['signed', checkpoint ? (checkpoint.details?.key_id ? `key ${checkpoint.details.key_id}` : 'unsigned') : ''],
    ['included in', checkpoint?.details?.note
      ? `checkpoint ${checkpoint.integrity?.seq}: ${noteSummary(checkpoint.details.note)}` : '']]) {
    list.append(element('dt', name), element('dd', value ?? '', 'mono'));
  }
  $('#drawer-record').textContent = JSON.stringify(answer.event, null, 2);
  drawer.hidden = false;
  $('#drawer-close').focus();
}

function closeDrawer() {
  $('#drawer').hidden = true;
  const { params } = currentRoute();
  const id = params.get('id');
  if (id) {
    params.delete('id');
    history.replaceState(null, '', `#/events${params.toString() ? '?' + params : ''}`);
  }
  if (id) document.querySelector(`tr[data-event-id="${CSS.escape(id)}"]`)?.focus();
}

function openFromRow(tr) {
  if (!tr || !tr.dataset.eventId) return;
  const { params } = currentRoute();
  params.set('id', tr.dataset.eventId);
  history.replaceState(null, '', `#/events?${params}`);
  openRecord(tr.dataset.eventId).catch((error) => notice(`The record could not be read: ${error.message}`));
}

// Integrity: chain heads, checkpoints, and verify runs.
async function integrity() {
  const answer = await api('integrity');
  $('#streams tbody').replaceChildren(...answer.streams.map((s) => row([s.stream, s.head.seq,
    element('td', (s.head.hash || '').slice(0, 16) + '…', 'mono'),
    s.checkpoint ? `seq ${s.checkpoint.covers_seq} at ${shortTime(s.checkpoint.timestamp)}` : 'none yet',
    s.checkpoint?.key_id ?? '', s.checkpoint ? (s.checkpoint.signed ? 'yes' : 'no') : ''])));
  $('#verify').disabled = !answer.verify_available;
  if (!answer.verify_available) $('#verify-status').textContent = 'This console has no journal to verify.';
  if (answer.last_verify) showVerdict(answer.last_verify);
}

function showVerdict(job) {
  const box = $('#verdict');
  const progress = $('#verify-progress');
  if (job.state === 'running') {
    progress.hidden = false;
    $('#verify-status').textContent = `Verifying… ${job.records} records read`;
    return;
  }
  progress.hidden = true;
  $('#verify').disabled = false;
  $('#verify-status').textContent = `Last run ${shortTime(job.finished_at)} by ${job.requested_by || 'unknown'}`;
  box.hidden = false;
  box.className = `verdict ${job.state}`;
  box.dataset.state = job.state;
  box.textContent = job.state === 'valid' ? `Valid: ${job.records} records, every link and checkpoint intact.`
    : job.state === 'tampered' ? `TAMPERED: ${job.problem_count} problem(s) in ${job.records} records.`
      : `Verify failed: ${job.error}`;
  $('#problems-list').replaceChildren(...job.problems.map((p) =>
    element('li', `stream ${p.stream} seq ${p.seq}: ${p.verdict}: ${p.detail}${p.file ? ` (${p.file}:${p.line})` : ''}`)));
}

async function verifyNow() {
  $('#verify').disabled = true;
  $('#verdict').hidden = true;
  try {
    const started = await api('integrity/verify', { method: 'POST' });
    // Each look is a read of the log (and recorded): soon at first, then less often.
    for (let wait = 250; ; wait = Math.min(wait * 2, 4000)) {
      const job = await api(`integrity/verify/${encodeURIComponent(started.job)}`);
      showVerdict(job);
      if (job.state !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  } catch (error) {
    $('#verify').disabled = false;
    if (error instanceof SignedOut) return showSignIn();
    notice(`Verify could not run: ${error.message}`);
  }
}

// Reports: downloaded with the session cookie; a refusal is shown, not saved as the report.
function reportUrl(format) {
  const form = $('#report-form');
  const query = new URLSearchParams();
  for (const name of ['since', 'until', 'tenant']) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  query.set('format', format);
  return `${API}reports/${form.elements.kind.value}?${query}`;
}

function reports() {
  const since = $('#report-form').elements.since;
  if (!since.value) since.value = new Date(Date.now() - 30 * 24 * 3600 * 1000).toISOString().slice(0, 10);
  $('#report-status').textContent = '';
}

async function download(format) {
  const status = $('#report-status');
  status.textContent = 'Preparing the report…';
  try {
    const reply = await fetch(reportUrl(format), { credentials: 'same-origin' });
    if (reply.status === 401) return showSignIn();
    if (!reply.ok) {
      status.textContent = `The report was refused: ${(await bodyOf(reply)).error}`;
      return;
    }
    const name = `${$('#report-form').elements.kind.value}.${format}`;
    const link = element('a');
    link.href = URL.createObjectURL(await reply.blob());
    link.download = name;
    link.click();
    URL.revokeObjectURL(link.href);
    status.textContent = `Downloaded ${name}.`;
  } catch (error) {
    status.textContent = `The report could not be read: ${error.message}`;
  }
}

// ---- theme -------------------------------------------------------------------------------------

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  const dark = theme ? theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  $('#theme').textContent = dark ? 'Light' : 'Dark';
  $('#theme').setAttribute('aria-pressed', String(dark));
}

function toggleTheme() {
  const dark = $('#theme').getAttribute('aria-pressed') === 'true';
  const theme = dark ? 'light' : 'dark';
  try { localStorage.setItem('mcpaudit-theme', theme); } catch { /* private mode: this page only */ }
  applyTheme(theme);
}

// ---- start ---------------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  let saved = null;
  try { saved = localStorage.getItem('mcpaudit-theme'); } catch { /* none */ }
  applyTheme(saved);
  $('#theme').addEventListener('click', toggleTheme);
  $('#filters').addEventListener('submit', applyFilters);
  $('#clear').addEventListener('click', () => { location.hash = '#/events'; });
  $('#more').addEventListener('click', () => loadEvents().catch((error) => notice(error.message)));
  $('#events tbody').addEventListener('click', (event) => openFromRow(event.target.closest('tr')));
  $('#events tbody').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      openFromRow(event.target.closest('tr'));
    }
  });
  $('#drawer-close').addEventListener('click', closeDrawer);
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape' && !$('#drawer').hidden) closeDrawer(); });
  $('#verify').addEventListener('click', verifyNow);
  for (const format of ['csv', 'html', 'json'])
    $(`#report-${format}`).addEventListener('click', () => download(format));
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && nextCursor && !$('#page-events').hidden)
      loadEvents().catch((error) => notice(error.message));
  }).observe($('#sentinel'));
  window.addEventListener('hashchange', show);
  const signIn = new URLSearchParams(location.search).get('login');
  if (signIn in SIGN_IN_MESSAGES) {
    history.replaceState(null, '', location.pathname + location.hash);
    return showSignIn(SIGN_IN_MESSAGES[signIn]);
  }
  show();
});
