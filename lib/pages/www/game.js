// The game demo: the server owns the world; this page only sends what keys are held (client publishes on
// game:input) and draws what arrives on game:state, already cut to what is near our ship by the deliver hook.
import { connectAs } from './demo-login.js';

const $ = (id) => document.getElementById(id);
const canvas = $('arena');
const ctx = canvas.getContext('2d');
const held = new Set();
const KEYS = { ArrowLeft: 'left', a: 'left', ArrowRight: 'right', d: 'right', ArrowUp: 'thrust', w: 'thrust', ' ': 'fire' };
const game = { view: null, updates: 0, latencies: [], me: null, sent: 0 };
globalThis.game = game; // tests and the curious
let client = null;
let lastSent = '';

function input() {
  return { turn: (held.has('right') ? 1 : 0) - (held.has('left') ? 1 : 0), thrust: held.has('thrust'), fire: held.has('fire') };
}

/** Sends our input when it changes, and once a second anyway (the server drops players it has not heard from). */
function send(force = false) {
  const i = JSON.stringify(input());
  if (!client || (!force && i === lastSent)) return;
  lastSent = i;
  game.sent++;
  client.publish('game:input', JSON.parse(i)).catch(() => {});
}

function key(e, down) {
  const k = KEYS[e.key] ?? KEYS[e.key.toLowerCase?.()];
  if (!k) return;
  e.preventDefault();
  if (down) held.add(k); else held.delete(k);
  send();
}

function draw() {
  const v = game.view;
  const W = canvas.width;
  const H = canvas.height;
  ctx.fillStyle = '#0b1020';
  ctx.fillRect(0, 0, W, H);
  if (v) {
    const cx = v.me?.x ?? v.world / 2;
    const cy = v.me?.y ?? v.world / 2;
    const d = (from, to) => { let x = (((to - from) % v.world) + v.world) % v.world; if (x > v.world / 2) x -= v.world; return x; };
    const at = (o) => [W / 2 + d(cx, o.x), H / 2 + d(cy, o.y)];
    ctx.strokeStyle = '#8b95a7';
    ctx.lineWidth = 2;
    for (const r of v.rocks) { const [x, y] = at(r); ctx.beginPath(); ctx.arc(x, y, r.r, 0, Math.PI * 2); ctx.stroke(); }
    ctx.fillStyle = '#ffd166';
    for (const s of v.shots) { const [x, y] = at(s); ctx.fillRect(x - 2, y - 2, 4, 4); }
    for (const s of [...v.ships, ...(v.me ? [v.me] : [])]) {
      const [x, y] = at(s);
      const mine = s.id === v.me?.id;
      ctx.save();
      ctx.translate(x, y);
      ctx.rotate(s.a);
      ctx.beginPath(); ctx.moveTo(14, 0); ctx.lineTo(-10, 9); ctx.lineTo(-6, 0); ctx.lineTo(-10, -9); ctx.closePath();
      ctx.strokeStyle = s.down ? '#c4320a' : mine ? '#6ea8ff' : '#4fd1a5';
      ctx.stroke();
      ctx.restore();
      ctx.fillStyle = mine ? '#6ea8ff' : '#4fd1a5';
      ctx.font = '12px system-ui';
      ctx.fillText(`${s.id} ${s.score}`, x + 14, y - 12);
    }
  }
  requestAnimationFrame(draw);
}

async function start(name) {
  ({ client } = await connectAs({ name, lang: 'en', role: 'user' }));
  game.me = name;
  client.on('state', (s, info) => { $('state').textContent = `${s}${info.transport ? ` · ${info.transport}` : ''}`; });
  client.subscribe('game:state', (m) => {
    game.view = m.data;
    game.updates++;
    game.latencies.push(Date.now() - m.data.t);
    if (game.latencies.length > 100) game.latencies.shift();
  });
  $('login-box').hidden = true;
  $('game-box').hidden = false;
  canvas.focus();
  addEventListener('keydown', (e) => key(e, true));
  addEventListener('keyup', (e) => key(e, false));
  setInterval(() => send(true), 1000);
  let before = 0;
  setInterval(() => {
    $('ups').textContent = String(game.updates - before);
    before = game.updates;
    const sorted = [...game.latencies].sort((a, b) => a - b);
    $('lat').textContent = String(sorted[Math.floor(sorted.length / 2)] ?? 0);
    $('score').textContent = String(game.view?.me?.score ?? 0);
    $('players').textContent = String(game.view?.players ?? 0);
  }, 1000);
  send(true);
  requestAnimationFrame(draw);
}

$('login').onsubmit = async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    await start($('name').value.trim());
  } catch (err) {
    $('login-error').textContent = err.message;
  }
};
