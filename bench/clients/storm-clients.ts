/**
 * Reconnect-storm load child (bench/reconnect-storm.ts): holds `count` full official clients (lib/client, the
 * `ws` package as its WebSocket, bound to one loopback source address), each subscribed to `perClient` of the
 * channels, connected to the first URL. After the parent's `kill` it measures, per client, the time from the
 * kill until the client is connected again and every subscription is `subscribed` again (resumed), counts the
 * failed connection attempts and the busy refusals (close 1013) on the way, and checks every message each
 * subscription delivers: offsets must follow each other with no jump unless the client announced a gap.
 */
import WebSocket from 'ws';
import { connect, type Client, type Message } from '../../lib/client/client.js';

if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');

export type StormRequest =
  | { cmd: 'start'; urls: string[]; count: number; first: number; channels: string[]; perClient: number; localAddress: string;
      backoff: { baseMs: number; capMs: number }; openPerSecond: number }
  | { cmd: 'kill'; at: number }
  | { cmd: 'finish'; last: Record<string, number>; timeoutMs: number };
export type StormEvent =
  | { ev: 'ready'; connected: number; subscribed: number }
  | { ev: 'progress'; resumed: number }
  | { ev: 'report'; clients: number; resumed: number; resumeMs: number[]; failedAttempts: number; busyRefusals: number;
      silentGaps: number; announcedGaps: number; messages: number; behind: number; notResumed: number };

const send = (m: StormEvent) => process.send!(m);

interface Watched {
  c: Client;
  subs: Array<{ channel: string; epoch: string | null; offset: number; subscribed: boolean }>;
  lostAt: number;
  resumedAt: number;
  failed: number;
  busy: number;
}

const clients: Watched[] = [];
let killAt = 0;
let armed = false;
let silentGaps = 0;
let announcedGaps = 0;
let messages = 0;

function open(r: Extract<StormRequest, { cmd: 'start' }>, i: number): Watched {
  const local = r.localAddress;
  class BoundWs extends WebSocket {
    constructor(url: string) { super(url, { localAddress: local, perMessageDeflate: false }); }
  }
  const c = connect(r.urls, { transports: ['websocket'], WebSocket: BoundWs as never, backoff: r.backoff });
  const w: Watched = { c, subs: [], lostAt: 0, resumedAt: 0, failed: 0, busy: 0 };
  // Armed once every client is subscribed: any disconnect after that is the kill's (the parent's `kill` message
  // may arrive after a client already noticed the loss).
  c.on('state', (s) => {
    if (!armed) return;
    if (s === 'disconnected') { if (w.lostAt) w.failed++; else w.lostAt = Date.now(); }
  });
  c.on('error', (err) => { if (armed && /1013/.test(err.message)) w.busy++; });
  for (let k = 0; k < r.perClient; k++) {
    const channel = r.channels[(i + k) % r.channels.length]!;
    const st = { channel, epoch: null as string | null, offset: 0, subscribed: false };
    w.subs.push(st);
    const sub = c.subscribe(channel, (m: Message) => {
      messages++;
      if (st.epoch === m.epoch && st.offset > 0 && m.offset !== st.offset + 1) silentGaps++;
      st.epoch = m.epoch;
      st.offset = m.offset;
    });
    sub.on('gap', () => { announcedGaps++; st.epoch = null; st.offset = 0; });
    sub.on('state', (s) => {
      st.subscribed = s === 'subscribed';
      if (armed && w.lostAt && !w.resumedAt && c.state === 'connected' && w.subs.every((x) => x.subscribed)) w.resumedAt = Date.now();
    });
  }
  return w;
}

process.on('message', (raw) => {
  const r = raw as StormRequest;
  if (r.cmd === 'start') {
    let i = 0;
    const batch = Math.max(1, Math.round(r.openPerSecond / 10));
    const t = setInterval(() => {
      for (let k = 0; k < batch && i < r.count; k++, i++) clients.push(open(r, r.first + i));
      if (i >= r.count) clearInterval(t);
    }, 100);
    const check = setInterval(() => {
      const connected = clients.filter((w) => w.c.state === 'connected').length;
      const subscribed = clients.filter((w) => w.subs.every((s) => s.subscribed)).length;
      if (clients.length === r.count && subscribed === r.count) { clearInterval(check); armed = true; send({ ev: 'ready', connected, subscribed }); }
    }, 500);
  } else if (r.cmd === 'kill') {
    killAt = r.at;
    setInterval(() => send({ ev: 'progress', resumed: clients.filter((w) => w.resumedAt).length }), 1000).unref();
  } else {
    const deadline = Date.now() + r.timeoutMs;
    const caughtUp = (w: Watched) => w.subs.every((s) => s.offset >= (r.last[s.channel] ?? 0));
    const t = setInterval(() => {
      if (!clients.every(caughtUp) && Date.now() < deadline) return;
      clearInterval(t);
      const resumed = clients.filter((w) => w.resumedAt);
      send({
        ev: 'report', clients: clients.length, resumed: resumed.length, resumeMs: resumed.map((w) => Math.max(0, w.resumedAt - killAt)),
        failedAttempts: clients.reduce((a, w) => a + w.failed, 0), busyRefusals: clients.reduce((a, w) => a + w.busy, 0),
        silentGaps, announcedGaps, messages, behind: clients.filter((w) => !caughtUp(w)).length,
        notResumed: clients.length - resumed.length,
      });
    }, 250);
  }
});
