// The hashpub dashboard: a plain ES module that reads GET /v1/stats once a second (one request to this node
// answers for every member) and drives the channel REST API. The API key is typed into the page and kept in
// sessionStorage (gone when the tab closes). Everything shown from the network goes in as text, never as HTML.
import { rateChart } from './chart.js';

const $ = (id) => document.getElementById(id);
const KEY = 'hashpub.apiKey';
const PAGE = 50; // presence names per page: big rooms are paged, never listed whole
let apiKey = sessionStorage.getItem(KEY) ?? '';
let members = []; // last /v1/stats members, for node names in the channel view
let channel = null; // the channel shown
let presenceCursor = null;
let timer = null;
const chart = rateChart($('chart'));

/** Calls the REST API of this node with the key; throws Error("code: message") on an error answer. */
async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    cache: 'no-store',
    headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(answer?.error ? `${answer.error.code}: ${answer.error.message}` : `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return answer;
}

/** A new element with text content (and optional class). */
function el(tag, text = '', cls = '') {
  const e = document.createElement(tag);
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = c instanceof Node ? Object.assign(document.createElement('td'), {}) : el('td', String(c.text ?? c));
    if (c instanceof Node) td.append(c);
    if (c.num) td.className = 'num';
    tr.append(td);
  }
  return tr;
}
const num = (n) => ({ text: Number.isInteger(n) ? n.toLocaleString('en') : n.toFixed(1), num: true });
const short = (id) => id.slice(0, 8);
const nodeName = (id) => {
  const m = members.find((x) => x.id === id);
  return m ? `${short(id)} (${new URL(m.url).host})` : short(id);
};
function status(text, cls = '') {
  $('status').textContent = text;
  $('status').className = cls;
}

// ---- live figures ----

async function refresh(first) {
  if (!apiKey) return status('type the API key to start', 'muted');
  try {
    const s = await api('GET', `/v1/stats${first ? '?history=1' : ''}`);
    members = s.members;
    $('node').textContent = `node ${short(s.node)}`;
    showTotals(s.totals);
    showMembers(s);
    if (first) seedChart(s.members);
    chart.push(s.time / 1000, s.totals.messagesInPerSecond, s.totals.messagesOutPerSecond);
    if (channel) await showChannel(false);
    status(`live · ${new Date(s.time).toLocaleTimeString()}`, 'ok');
    schedule(false);
  } catch (err) {
    status(err.status === 401 ? 'wrong API key' : `error: ${err.message}`, 'bad');
    if (err.status !== 401) schedule(first);
  }
}
function schedule(first) {
  clearTimeout(timer);
  timer = setTimeout(() => refresh(first), 1000);
}

function showTotals(t) {
  const cards = [['members', t.members], ['connections', t.connections], ['sessions', t.sessions],
    ['subscriptions', t.subscriptions], ['messages in/s', t.messagesInPerSecond], ['messages out/s', t.messagesOutPerSecond]];
  $('totals').replaceChildren(...cards.map(([label, value]) => {
    const card = el('div', '', 'card');
    card.dataset.name = label;
    card.append(el('b', num(value).text), el('span', label));
    return card;
  }));
}

function showMembers(s) {
  $('member-count').textContent = `(${s.members.length})`;
  $('members').tBodies[0].replaceChildren(...s.members.map((m) => {
    const name = el('span', short(m.id) + (m.id === s.node ? ' (this node)' : ''), 'mono');
    const link = el('a', m.url);
    link.href = `${m.url}/dashboard`;
    if (!m.ok) return row([name, link, el('span', `no answer: ${m.error}`, 'bad')]);
    const x = m.stats;
    const r = x.replication;
    const repl = r ? `${r.copies} copies · ${r.writable ? 'writable' : 'NOT writable'}${r.lagBatches ? ` · lag ${r.lagBatches}` : ''}${r.behindChannels ? ` · ${r.behindChannels} behind` : ''}` : 'single node';
    return row([name, link, num(x.connections.ws), num(x.connections.sse), num(x.connections.poll), num(x.sessions), num(x.subscriptions),
      num(x.messagesInPerSecond), num(x.messagesOutPerSecond), { text: `${x.eventLoopLagMs.p99.toFixed(1)} ms`, num: true }, repl,
      { text: `${Math.round(x.memory.rssBytes / 1048576)} MB`, num: true }]);
  }));
}

/** The chart starts with the last minutes the members remember (summed per second). */
function seedChart(list) {
  const bySecond = new Map();
  for (const m of list) {
    for (const h of m.history ?? []) {
      const t = Math.round(h.time / 1000);
      const p = bySecond.get(t) ?? { in: 0, out: 0 };
      p.in += h.messagesInPerSecond;
      p.out += h.messagesOutPerSecond;
      bySecond.set(t, p);
    }
  }
  for (const t of [...bySecond.keys()].sort((a, b) => a - b)) chart.push(t, bySecond.get(t).in, bySecond.get(t).out);
}

// ---- one channel ----

async function showChannel(full) {
  const c = encodeURIComponent(channel);
  const [placement, config, history] = await Promise.all([
    api('GET', `/v1/channels/${c}/owner`), api('GET', `/v1/channels/${c}/config`), api('GET', `/v1/channels/${c}/history?limit=20`)]);
  const replica = placement.replica;
  $('placement').tBodies[0].replaceChildren(
    row(['owner', nodeName(placement.owner)]),
    row(['replica', replica ? `${replica.node ? nodeName(replica.node) : 'none'}${replica.caughtUp ? ' (caught up)' : ` (lag ${replica.lag})`}` : placement.replicas.map(nodeName).join(', ') || 'none (one copy)']),
    row(['epoch · offset', `${placement.epoch ?? history.epoch} · ${placement.offset ?? history.offset}`]),
  );
  if (full) {
    $('config').value = JSON.stringify(config, null, 2);
    presenceCursor = null;
    $('presence').replaceChildren();
  }
  await showPresence(config, full);
  $('history').tBodies[0].replaceChildren(...history.messages.slice().reverse().map((m) =>
    row([num(m.offset), { text: m.from ?? 'server' }, el('code', JSON.stringify(m.data).slice(0, 200))])));
  if (history.messages.length === 0) $('history').tBodies[0].replaceChildren(row([el('span', 'no messages kept', 'muted')]));
}

/** Counts and subscribers per node every second; names one page at a time (never the whole of a big room). */
async function showPresence(config, full) {
  const c = encodeURIComponent(channel);
  if (config.presence === false) {
    $('per-node').tBodies[0].replaceChildren(row([el('span', 'presence is off for this channel', 'muted')]));
    return;
  }
  const p = await api('GET', `/v1/channels/${c}/presence?limit=${PAGE}`);
  $('per-node').tBodies[0].replaceChildren(...Object.entries(p.nodes ?? {}).map(([id, n]) => row([nodeName(id), num(n)])),
    row([el('b', 'total'), { text: `${p.count} connections · ${p.members} users`, num: true }]));
  if (full && p.users) addNames(p);
  if (config.presence === 'count') {
    $('presence').replaceChildren(el('span', `${p.members} users (presence "count": names are not kept)`, 'muted'));
  }
}
function addNames(p) {
  for (const u of p.users) {
    const pill = el('span', u, 'pill');
    pill.title = 'click to kick';
    pill.onclick = () => { $('kick-user').value = u; };
    $('presence').append(pill);
  }
  presenceCursor = p.cursor;
  $('more').hidden = !p.cursor;
}

// ---- wiring ----

$('key').value = apiKey;
$('key-form').onsubmit = (e) => {
  e.preventDefault();
  apiKey = $('key').value.trim();
  sessionStorage.setItem(KEY, apiKey);
  refresh(true);
};
$('forget').onclick = () => {
  sessionStorage.removeItem(KEY);
  apiKey = '';
  $('key').value = '';
  clearTimeout(timer);
  status('key forgotten', 'muted');
};
$('lookup').onsubmit = async (e) => {
  e.preventDefault();
  channel = $('channel').value.trim();
  try {
    await showChannel(true);
    $('channel-view').hidden = false;
    $('channel-status').textContent = '';
  } catch (err) {
    $('channel-status').textContent = err.message;
  }
};
$('more').onclick = async () => {
  const p = await api('GET', `/v1/channels/${encodeURIComponent(channel)}/presence?limit=${PAGE}&cursor=${encodeURIComponent(presenceCursor)}`);
  addNames(p);
};
/** Runs an action and shows its answer (or error) next to its button. */
async function act(out, fn) {
  $(out).textContent = '…';
  try {
    $(out).textContent = await fn();
    $(out).className = 'ok';
  } catch (err) {
    $(out).textContent = err.message;
    $(out).className = 'bad';
  }
}
$('publish').onsubmit = (e) => {
  e.preventDefault();
  act('publish-result', async () => {
    const text = $('data').value;
    let data;
    try { data = JSON.parse(text); } catch { data = text; }
    const r = await api('POST', `/v1/channels/${encodeURIComponent(channel)}/messages`, { data });
    await showChannel(false);
    return `published at offset ${r.offset}`;
  });
};
$('config-form').onsubmit = (e) => {
  e.preventDefault();
  act('config-result', async () => {
    const saved = await api('PUT', `/v1/channels/${encodeURIComponent(channel)}/config`, JSON.parse($('config').value));
    $('config').value = JSON.stringify(saved, null, 2);
    return 'saved';
  });
};
$('kick').onsubmit = (e) => {
  e.preventDefault();
  act('kick-result', async () => {
    const r = await api('POST', `/v1/channels/${encodeURIComponent(channel)}/kick`, { user: $('kick-user').value.trim(), ban: Number($('kick-ban').value) || 0 });
    await showChannel(true);
    return `${r.kicked} subscription(s) ended`;
  });
};
refresh(true);
