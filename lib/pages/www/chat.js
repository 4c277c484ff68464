// The chat demo: a plain ES module on the official client. Each room is one subscription: it starts a few
// messages back (history on join, through the same deliver hook that translates live messages), keeps the
// member list from presence events, and ends when a moderator kicks us (a ban keeps us out).
import { connectAs } from './demo-login.js';

const $ = (id) => document.getElementById(id);
const HISTORY = 20; // messages shown from before we joined
const rooms = new Map(); // channel -> { title, private, sub, log: [], people: Set, gone: reason | null }
let current = null;
let client = null;
let me = null;

function line(room, parts, cls = '') {
  room.log.push({ parts, cls });
  if (room.log.length > 500) room.log.shift();
  if (room === rooms.get(current)) render();
}

function render() {
  const room = rooms.get(current);
  $('room-title').textContent = room.title;
  $('log').replaceChildren(...room.log.map(({ parts, cls }) => {
    const p = document.createElement('p');
    if (cls) p.className = cls;
    for (const [text, c] of parts) {
      const span = document.createElement('span');
      span.textContent = text;
      if (c) span.className = c;
      p.append(span);
    }
    return p;
  }));
  $('log').scrollTop = $('log').scrollHeight;
  $('people').replaceChildren(...[...room.people].sort().map((u) => {
    const li = document.createElement('li');
    li.textContent = u === me.user ? `${u} (you)` : u;
    return li;
  }));
  $('count').textContent = `(${room.people.size})`;
  $('room-note').textContent = room.gone ?? '';
  $('text').disabled = Boolean(room.gone);
  for (const b of $('rooms').children) {
    b.classList.toggle('current', b.dataset.channel === current);
    b.classList.toggle('gone', Boolean(rooms.get(b.dataset.channel).gone));
  }
}

/** Subscribes to a room from HISTORY messages back; the handlers fill its log and member list. */
function join(room, position) {
  room.gone = null;
  room.people = new Set();
  const since = position ? { epoch: position.epoch, offset: Math.max(0, position.offset - HISTORY) } : undefined;
  room.sub = client.subscribe(room.channel, (m) => {
    const d = m.data ?? {};
    const parts = [[m.from ?? 'server', 'from'], [String(d.text ?? JSON.stringify(d))]];
    if (d.lang) parts.push([`translated to ${d.lang}`, 'tr']);
    line(room, parts);
  }, since ? { since } : {});
  room.sub.on('presence', (p) => {
    if (p.members) room.people = new Set(p.members);
    for (const u of p.joins ?? []) room.people.add(u);
    for (const u of p.leaves ?? []) room.people.delete(u);
    if (room === rooms.get(current)) render();
  });
  room.sub.on('error', (err) => {
    const why = { kicked: 'You were removed from this room by a moderator.', banned: 'You are banned from this room for now.',
      forbidden: 'This room is private (moderators only).' }[err.code] ?? `Left: ${err.message}`;
    room.gone = why;
    room.people.delete(me.user);
    line(room, [[why]], 'sys');
    render();
  });
}

async function start(who) {
  ({ client, me } = await connectAs(who));
  client.on('state', (s, info) => { $('state').textContent = `${s}${info.transport ? ` · ${info.transport}` : ''}`; });
  $('who').textContent = `${me.user} · ${me.lang} · ${me.role}`;
  const listed = await (await fetch('/demo/rooms')).json();
  for (const r of listed.rooms) {
    const room = { channel: r.channel, title: r.title, private: r.private, log: [], people: new Set(), gone: null };
    rooms.set(r.channel, room);
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = r.title;
    b.dataset.channel = r.channel;
    b.onclick = () => {
      current = r.channel;
      // Back into a room we left (kicked, refused): try again; a ban answers `banned`.
      if (room.gone) join(room, null);
      render();
    };
    $('rooms').append(b);
    join(room, r);
  }
  current = listed.rooms[0].channel;
  $('login-box').hidden = true;
  $('app').hidden = false;
  render();
  $('text').focus();
}

$('login').onsubmit = async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    await start({ name: $('name').value.trim(), lang: $('lang').value, role: $('role').value });
  } catch (err) {
    $('login-error').textContent = err.message;
  }
};

$('say').onsubmit = async (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  $('text').value = '';
  const room = rooms.get(current);
  try {
    await client.publish(current, { text });
  } catch (err) {
    // A moderator's command is carried out by the publish hook and answered as a refusal naming what it did.
    const done = /^(kicked|banned) /.test(err.message);
    line(room, [[done ? `✓ ${err.message}` : `not sent: ${err.message}`]], 'sys');
  }
};

// Tests and the curious: the page's state.
globalThis.chat = { rooms, get current() { return current; }, get client() { return client; } };
