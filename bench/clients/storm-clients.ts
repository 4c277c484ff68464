/**
 * Reconnect-storm load child (bench/reconnect-storm.ts): holds `count` full official clients (lib/client, the
 * `ws` package as its WebSocket, bound to one loopback source address), each subscribed to `perClient` of the
 * channels, connected to the first URL. After the parent's `kill` it measures, per client, the time from the
 * kill until the client is connected again and every subscription is `subscribed` again (resumed), counts the
 * failed connection attempts and the busy refusals (close 1013) on the way, and checks every message each
 * subscription delivers: offsets must follow each other with no jump unless the client announced a gap.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
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
      silentGaps: number; announcedGaps: number; messages: number; behind: number; notResumed: number;
      /** Failed attempts after the kill by node (A = the killed one, B) and error: where the tail comes from. */
      failedBy: Record<string, number> };

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
const failedBy: Record<string, number> = {};
let profiler: Session | null = null;

function open(r: Extract<StormRequest, { cmd: 'start' }>, i: number): Watched {
  const local = r.localAddress;
  class BoundWs extends WebSocket {
    constructor(url: string) { super(url, { localAddress: local, perMessageDeflate: false }); }
  }
  const c = connect(r.urls, { transports: ['websocket'], WebSocket: BoundWs as never, backoff: r.backoff });
  const w: Watched = { c, subs: [], lostAt: 0, resumedAt: 0, failed: 0, busy: 0 };
  // Armed once every client is subscribed: any disconnect after that is the kill's (the parent's `kill` message
  // may arrive after a client already noticed the loss).
  let lastError = '';
  c.on('state', (s, info) => {
    if (!armed) return;
    if (s === 'disconnected') {
      if (!w.lostAt) { w.lostAt = Date.now(); return; }
      w.failed++;
      const key = `${info.url === r.urls[0] ? 'A' : 'B'} ${lastError}`;
      failedBy[key] = (failedBy[key] ?? 0) + 1;
    }
  });
  c.on('error', (err) => {
    lastError = `${err.code}: ${err.message}`.replace(/\d{4,}/g, 'N');
    if (armed && /1013/.test(err.message)) w.busy++;
  });
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
    // The client emits `gap` for the node's `recovered: false` (while still subscribing) and for a jump it notices
    // itself in the stream (while subscribed): only the first is announced by the node; the second is a silent gap.
    sub.on('gap', () => {
      if (sub.state === 'subscribed') silentGaps++;
      else announcedGaps++;
      st.epoch = null;
      st.offset = 0;
    });
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
    // STORM_CLIENT_PROF=dir: a CPU profile of this client process from the kill to the report (where its time goes).
    if (process.env.STORM_CLIENT_PROF) {
      profiler = new Session();
      profiler.connect();
      profiler.post('Profiler.enable', () => profiler!.post('Profiler.start'));
    }
    setInterval(() => send({ ev: 'progress', resumed: clients.filter((w) => w.resumedAt).length }), 1000).unref();
  } else {
    const deadline = Date.now() + r.timeoutMs;
    const caughtUp = (w: Watched) => w.subs.every((s) => s.offset >= (r.last[s.channel] ?? 0));
    const t = setInterval(() => {
      if (!clients.every(caughtUp) && Date.now() < deadline) return;
      clearInterval(t);
      profiler?.post('Profiler.stop', (err, res) => {
        if (!err) writeFileSync(`${process.env.STORM_CLIENT_PROF}/storm-client-${process.pid}.cpuprofile`, JSON.stringify(res.profile));
      });
      const resumed = clients.filter((w) => w.resumedAt);
      send({
        ev: 'report', clients: clients.length, resumed: resumed.length, resumeMs: resumed.map((w) => Math.max(0, w.resumedAt - killAt)),
        failedAttempts: clients.reduce((a, w) => a + w.failed, 0), busyRefusals: clients.reduce((a, w) => a + w.busy, 0),
        silentGaps, announcedGaps, messages, behind: clients.filter((w) => !caughtUp(w)).length,
        notResumed: clients.length - resumed.length, failedBy,
      });
    }, 250);
  }
});
