/**
 * Bench load-client child for bench/run.ts: holds its share of subscriber connections speaking one of five
 * protocols directly (no client library, so the load side stays cheap), and per phase counts the messages
 * tagged with that phase and records publish-to-delivery latency from the publisher's timestamp in the
 * payload ("__t"). Same IPC reports as bench/clients/ws-subscribers.ts (ConnectResult, PhaseReport).
 *
 *   hashpub   WebSocket /v1/ws: {"type":"connect"} then {"type":"subscribe"}; ready on "subscribed".
 *   floor     WebSocket (the `ws` floor server broadcasts to every socket); ready on open.
 *   socketio  engine.io v4 over WebSocket: '0{...}' open -> send '40' -> '40{...}' connected (ready);
 *             '2' ping -> '3' pong; messages '42["m",{...}]'.
 *   faye      Bayeux over WebSocket on /bayeux: handshake, then subscribe + connect in one frame; ready on the
 *             subscribe reply; /meta/connect is re-sent whenever its reply arrives.
 *   sse       Server-Sent Events over raw HTTP/1.1 (net socket), chunked transfer decoded by hand; ready on
 *             the first body bytes (the origin's hold-stream preamble).
 *
 * Payload fields are found with Buffer.indexOf (every "__p" occurrence in a frame or SSE record counts, since
 * Faye batches several messages per frame and SSE chunks can carry several events).
 */
import net from 'node:net';
import WebSocket from 'ws';
import { nowMs, type ClientEvent, type ConnectResult } from '../support/ipc.js';
import { P_KEY, PhaseTally, readInt, T_KEY } from '../support/tally.js';

export type Protocol = 'hashpub' | 'floor' | 'socketio' | 'faye' | 'sse';

export type SubscriberRequest =
  | { cmd: 'connect'; urls: string[]; count: number; batch: number; protocol: Protocol; channel: string; deadlineMs: number }
  | { cmd: 'phase'; phase: number; expectPerSocket: number }
  /** Lowers the expectation of the current phase when some publishes failed (so "done" comes without a timeout). */
  | { cmd: 'expect'; phase: number; expectPerSocket: number }
  | { cmd: 'report' }
  /** Closes the sockets that got nothing in the current phase (accepted but never delivered to) and stops counting them. */
  | { cmd: 'prune' }
  | { cmd: 'close' };

if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');
const send = (m: ClientEvent) => process.send!(m);

const RECORD_END = Buffer.from('\n\n');
const DEBUG = process.env.BENCH_DEBUG === '1';
const debugFirst: string[] = [];

interface Conn { close(): void }
const conns: Conn[] = [];
const tally = new PhaseTally();
let closed = 0;
/** Slots of failed connection attempts (never receive anything). */
let holes = 0;
/** Slots that are holes (failed attempts, pruned sockets): 1. */
let dead = new Uint8Array(0);

/** Counts every message of the current phase in `data` (a whole frame or whole SSE records). */
function onData(idx: number, data: Buffer): void {
  let p = data.indexOf(P_KEY);
  if (p < 0) return;
  let at = 0;
  while (p >= 0) {
    if (readInt(data, p + P_KEY.length) === tally.phase) {
      if (at === 0) at = nowMs();
      tally.record(idx, at, data, data.indexOf(T_KEY, p));
    }
    p = data.indexOf(P_KEY, p + P_KEY.length);
  }
  if (!tally.doneSent && at !== 0 && tally.received >= tally.expectPerSocket * (conns.length - holes)) {
    tally.doneSent = true;
    send(report(true));
  }
}

const report = (done: boolean) => tally.report(done, conns.length, conns.length - holes, closed);

// ---------------------------------------------------------------------------------------------------
// Opening one subscriber: resolves with a Conn once it is ready; `idx` is its slot in perSocket.

type Opener = (url: string, channel: string, idx: number, timeoutMs: number) => Promise<Conn>;

/** Common WebSocket setup: `setup` handles frames until it calls ok(); afterwards frames go to `steady`. */
function openWs(url: string, idx: number, timeoutMs: number,
  onOpen: (ws: WebSocket) => void,
  setup: (ws: WebSocket, data: Buffer, ok: () => void, fail: (e: Error) => void) => void,
  steady: (ws: WebSocket, data: Buffer) => void): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, skipUTF8Validation: true });
    let ready = false;
    let settled = false;
    const timer = setTimeout(() => fail(new Error('timed out')), timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const ok = () => {
      if (settled) return;
      settled = true;
      ready = true;
      clearTimeout(timer);
      resolve({ close: () => ws.terminate() });
    };
    ws.on('error', (err) => { if (!ready) fail(err); });
    ws.on('close', () => { if (ready) closed++; else fail(new Error('closed during setup')); });
    ws.on('open', () => onOpen(ws));
    ws.on('message', (data: Buffer) => {
      if (ready) steady(ws, data);
      else {
        try { setup(ws, data, ok, fail); } catch (err) { fail(err as Error); }
      }
    });
  });
}

// The floor is ready as soon as the socket opens: wrap openWs so "open" resolves.
const openFloorReady: Opener = (url, _channel, idx, timeoutMs) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, skipUTF8Validation: true });
  let ready = false;
  const timer = setTimeout(() => { ws.terminate(); reject(new Error('timed out')); }, timeoutMs);
  ws.on('error', (err) => { if (!ready) { clearTimeout(timer); ws.terminate(); reject(err); } });
  ws.on('close', () => { if (ready) closed++; });
  ws.on('open', () => { ready = true; clearTimeout(timer); resolve({ close: () => ws.terminate() }); });
  ws.on('message', (d: Buffer) => onData(idx, d));
});

const openHashpub: Opener = (url, channel, idx, timeoutMs) => openWs(url, idx, timeoutMs,
  (ws) => ws.send('{"type":"connect"}'),
  (ws, data, ok, fail) => {
    const text = data.toString('utf8');
    const m = JSON.parse(text) as { type: string };
    if (m.type === 'connected') ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel }));
    else if (m.type === 'subscribed') ok();
    else if (m.type === 'error') fail(new Error(`server error: ${text.slice(0, 200)}`));
  },
  (_ws, d) => onData(idx, d));

/** engine.io v4 packet types: 0 open, 2 ping, 3 pong, 4 message; socket.io: 0 connect, 2 event. */
const openSocketIo: Opener = (url, _channel, idx, timeoutMs) => openWs(url, idx, timeoutMs,
  () => {},
  (ws, data, ok, fail) => {
    const c0 = data[0];
    if (c0 === 0x30) ws.send('40'); // engine.io open -> socket.io CONNECT to the main namespace
    else if (c0 === 0x34 && data[1] === 0x30) ok(); // '40{"sid":...}': connected (the server joined the room)
    else if (c0 === 0x32 && data.length === 1) ws.send('3');
    else if (c0 === 0x34 && data[1] === 0x34) fail(new Error(`connect error: ${data.toString('utf8').slice(0, 200)}`));
  },
  (ws, data) => {
    if (data.length === 1 && data[0] === 0x32) ws.send('3');
    else onData(idx, data);
  });

const FAYE_CONNECT = Buffer.from('"/meta/connect"');
const openFaye: Opener = (url, channel, idx, timeoutMs) => {
  let clientId = '';
  const connectMsg = () => JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'websocket' }]);
  return openWs(url, idx, timeoutMs,
    (ws) => ws.send(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'], id: '1' }])),
    (ws, data, ok, fail) => {
      const msgs = JSON.parse(data.toString('utf8')) as Array<{ channel: string; successful?: boolean; clientId?: string; error?: string }>;
      for (const m of msgs) {
        if (m.channel === '/meta/handshake') {
          if (!m.successful || !m.clientId) return fail(new Error(`handshake failed: ${m.error ?? ''}`));
          clientId = m.clientId;
          // alone: Faye holds the replies of a batch that contains /meta/connect until the connect returns
          ws.send(JSON.stringify([{ channel: '/meta/subscribe', clientId, subscription: `/${channel}`, id: '2' }]));
        } else if (m.channel === '/meta/subscribe') {
          if (!m.successful) return fail(new Error(`subscribe failed: ${m.error ?? ''}`));
          ws.send(connectMsg()); // attaches this socket to the client: deliveries flow from now on
          ok();
        } else if (m.channel === '/meta/connect' && m.successful) ws.send(connectMsg());
      }
    },
    (ws, data) => {
      onData(idx, data);
      if (data.indexOf(FAYE_CONNECT) >= 0) ws.send(connectMsg()); // the held connect came back: renew it
    });
};

/** SSE over a raw socket: HTTP/1.1 GET, response headers, then (possibly chunked) event records. */
const openSse: Opener = (url, _channel, idx, timeoutMs) => new Promise((resolve, reject) => {
  const u = new URL(url);
  const sock = net.connect({ host: u.hostname, port: Number(u.port) });
  sock.setNoDelay(true);
  let ready = false;
  let settled = false;
  let head: Buffer | null = Buffer.alloc(0);
  let chunked = false;
  // chunked decoder state
  let rem = 0;
  let skip = 0;
  let sizeLine = '';
  let pending: Buffer | null = null;
  const timer = setTimeout(() => fail(new Error('timed out')), timeoutMs);
  const fail = (err: Error) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    sock.destroy();
    reject(err);
  };
  const becomeReady = () => {
    if (settled) return;
    settled = true;
    ready = true;
    clearTimeout(timer);
    resolve({ close: () => sock.destroy() });
  };
  const body = (b: Buffer) => {
    if (b.length === 0) return;
    if (!ready) becomeReady();
    const buf = pending ? Buffer.concat([pending, b]) : b;
    const end = buf.lastIndexOf(RECORD_END);
    if (end < 0) { pending = buf; return; }
    pending = end + 2 < buf.length ? buf.subarray(end + 2) : null;
    onData(idx, end + 2 === buf.length ? buf : buf.subarray(0, end + 2));
  };
  const dechunk = (b: Buffer) => {
    let i = 0;
    while (i < b.length) {
      if (rem > 0) {
        const n = Math.min(rem, b.length - i);
        body(b.subarray(i, i + n));
        i += n;
        rem -= n;
        if (rem === 0) skip = 2;
      } else if (skip > 0) {
        i++;
        skip--;
      } else {
        const c = b[i++]!;
        if (c === 10) {
          rem = parseInt(sizeLine, 16) || 0;
          sizeLine = '';
          if (rem === 0) { sock.destroy(); return; } // last chunk
        } else if (c !== 13) sizeLine += String.fromCharCode(c);
      }
    }
  };
  sock.on('connect', () => {
    sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`);
  });
  sock.on('data', (b: Buffer) => {
    if (DEBUG && (debugFirst[idx]?.length ?? 0) < 600) debugFirst[idx] = (debugFirst[idx] ?? '') + b.toString('latin1');
    if (head !== null) {
      const all = head.length ? Buffer.concat([head, b]) : b;
      const e = all.indexOf('\r\n\r\n');
      if (e < 0) { head = all; return; }
      const headers = all.toString('latin1', 0, e);
      head = null;
      if (!/^HTTP\/1\.[01] 200/.test(headers)) return fail(new Error(`status: ${headers.split('\r\n')[0]}`));
      chunked = /\r\ntransfer-encoding:\s*chunked/i.test(headers);
      b = all.subarray(e + 4);
    }
    if (chunked) dechunk(b);
    else body(b);
  });
  sock.on('error', (err) => { if (!ready) fail(err); });
  sock.on('close', () => { if (ready) closed++; else fail(new Error('closed during setup')); });
});

/** Retried SSE attempts (Pushpin answers 502 to some of many simultaneous first requests; EventSource retries too). */
let sseRetries = 0;
const openSseRetrying: Opener = async (url, channel, idx, timeoutMs) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openSse(url, channel, idx, timeoutMs);
    } catch (err) {
      if (attempt >= 5 || !/ 50[23] /.test(String((err as Error)?.message))) throw err;
      sseRetries++;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
};

const OPENERS: Record<Protocol, Opener> = {
  hashpub: openHashpub, floor: openFloorReady, socketio: openSocketIo, faye: openFaye, sse: openSseRetrying,
};

async function connect(req: Extract<SubscriberRequest, { cmd: 'connect' }>): Promise<ConnectResult> {
  const start = nowMs();
  const deadline = start + req.deadlineMs;
  const opener = OPENERS[req.protocol];
  tally.perSocket = new Uint32Array(req.count);
  dead = new Uint8Array(req.count);
  let failed = 0;
  let attempted = 0;
  const errors = new Map<string, number>();
  while (conns.length < req.count && nowMs() < deadline) {
    const n = Math.min(req.batch, req.count - conns.length); // conns holds the failed attempts' holes too
    const timeout = Math.max(1000, Math.min(15_000, deadline - nowMs()));
    // Each attempt gets slot base + k (its index in conns); a failed attempt leaves a hole there.
    const base = conns.length;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, k) => {
      const url = req.urls[(attempted + k) % req.urls.length]!;
      return opener(url, req.channel, base + k, timeout);
    }));
    attempted += n;
    for (const r of results) {
      if (r.status === 'rejected') {
        failed++;
        const msg = String((r.reason as Error)?.message ?? r.reason).slice(0, 120);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
        dead[conns.length] = 1;
        conns.push({ close: () => {} }); // hole: keeps slot indices aligned
      } else conns.push(r.value);
    }
  }
  holes = failed;
  if (conns.length > tally.perSocket.length) tally.perSocket = new Uint32Array(conns.length);
  if (sseRetries > 0) errors.set(`retried after 502/503 (then connected or failed as counted)`, sseRetries);
  return { ev: 'connected', ok: conns.length - failed, failed, errors: [...errors].map(([m, c]) => `${c}x ${m}`), ms: nowMs() - start };
}


process.on('message', async (raw) => {
  const m = raw as SubscriberRequest;
  try {
    if (m.cmd === 'connect') {
      send(await connect(m));
    } else if (m.cmd === 'phase') {
      tally.begin(m.phase, m.expectPerSocket);
      send({ ev: 'phase-ready', phase: m.phase });
    } else if (m.cmd === 'expect') {
      if (m.phase !== tally.phase) return;
      tally.expectPerSocket = m.expectPerSocket;
      if (!tally.doneSent && tally.received >= tally.expectPerSocket * (conns.length - holes)) {
        tally.doneSent = true;
        send(report(true));
      }
    } else if (m.cmd === 'prune') {
      let pruned = 0;
      for (let i = 0; i < conns.length; i++) {
        if (tally.perSocket[i] === 0 && !dead[i]) {
          dead[i] = 1;
          conns[i]!.close();
          pruned++;
        }
      }
      holes += pruned;
      process.send!({ ev: 'pruned', pruned });
    } else if (m.cmd === 'report') {
      if (DEBUG) for (let i = 0; i < conns.length; i++) if (tally.perSocket[i] === 0) process.stderr.write(`[debug ${i}] ${JSON.stringify(debugFirst[i]?.slice(0, 600))}\n`);
      send(report(tally.doneSent));
    }
    else if (m.cmd === 'close') {
      for (const c of conns) c.close();
      process.exit(0);
    }
  } catch (err) {
    send({ ev: 'fatal', error: String((err as Error)?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
