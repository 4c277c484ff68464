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
import { newTally, runStormChild, type StormRequest } from './storm-child.js';


interface Watched {
  c: Client;
  urls: string[];
  subs: Array<{ channel: string; epoch: string | null; offset: number; subscribed: boolean }>;
  lostAt: number;
  resumedAt: number;
  failed: number;
  busy: number;
}

const tally = newTally();

function open(r: Extract<StormRequest, { cmd: 'start' }>, i: number): Watched {
  const local = r.localAddress;
  class BoundWs extends WebSocket {
    constructor(url: string) { super(url, { localAddress: local, perMessageDeflate: false }); }
  }
  // Every other client lists the survivors in reverse (bench/reconnect-storm.ts --spread names two).
  const urls = i % 2 ? [r.urls[0]!, ...r.urls.slice(1).reverse()] : r.urls;
  const c = connect(urls, { transports: ['websocket'], WebSocket: BoundWs as never, backoff: r.backoff });
  const w: Watched = { c, urls: r.urls.map((u) => u.replace(/\/+$/, '')), subs: [], lostAt: 0, resumedAt: 0, failed: 0, busy: 0 };
  // Armed once every client is subscribed: any disconnect after that is the kill's (the parent's `kill` message
  // may arrive after a client already noticed the loss).
  let lastError = '';
  c.on('state', (s, info) => {
    if (!tally.armed) return;
    if (s === 'disconnected') {
      if (!w.lostAt) { w.lostAt = Date.now(); return; }
      w.failed++;
      const key = `${'ABC'[r.urls.findIndex((u) => u.replace(/\/+$/, '') === info.url)] ?? '?'} ${lastError}`;
      tally.failedBy[key] = (tally.failedBy[key] ?? 0) + 1;
    }
  });
  c.on('error', (err) => {
    lastError = `${err.code}: ${err.message}`.replace(/\d{4,}/g, 'N');
    if (tally.armed && /1013/.test(err.message)) w.busy++;
  });
  for (let k = 0; k < r.perClient; k++) {
    const channel = r.channels[(i + k) % r.channels.length]!;
    const st = { channel, epoch: null as string | null, offset: 0, subscribed: false };
    w.subs.push(st);
    const sub = c.subscribe(channel, (m: Message) => {
      tally.messages++;
      if (st.epoch === m.epoch && st.offset > 0 && m.offset !== st.offset + 1) tally.silentGaps++;
      st.epoch = m.epoch;
      st.offset = m.offset;
    });
    // The client emits `gap` for the node's `recovered: false` (while still subscribing) and for a jump it notices
    // itself in the stream (while subscribed): only the first is announced by the node; the second is a silent gap.
    sub.on('gap', () => {
      if (sub.state === 'subscribed') tally.silentGaps++;
      else tally.announcedGaps++;
      st.epoch = null;
      st.offset = 0;
    });
    sub.on('state', (s) => {
      st.subscribed = s === 'subscribed';
      if (tally.armed && w.lostAt && !w.resumedAt && c.state === 'connected' && w.subs.every((x) => x.subscribed)) w.resumedAt = Date.now();
    });
  }
  return w;
}

runStormChild<Watched>({
  open,
  connected: (w) => w.c.state === 'connected',
  onFirstUrl: (w) => (w.c.state === 'connected' && w.c.url === w.urls[0]) || w.lostAt > 0, // or it already saw A go
}, tally);
