/**
 * Bench load-client child for the million-subscriber run (bench/million.ts): the same IPC protocol as
 * ws-subscribers.ts (connect / phase / report / close), but each subscriber is a bare net.Socket speaking just
 * enough RFC 6455 to hold a hashpub subscription: the upgrade request, masked text frames out (connect,
 * subscribe; the mask key is zero, which RFC 6455 allows: the server XORs with it as with any other), unmasked
 * frames in (text, ping -> pong, close). Why not the `ws` client: it costs about 10 KB of RSS per connection
 * in this process (bench/results/scale-200k-*: 1.78 GB for 175k), which at a million would take 10 of the
 * machine's 24 GB away from the server under test; this client's state is the socket and one small object.
 * It is a load generator only: it is not used to judge the server's protocol handling (the spec suites use
 * `ws` and Chromium for that).
 * Sockets bind to `localAddress` (127.0.0.x) when given, so the 4-tuple space of one source address is not the
 * limit.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { nowMs, type ClientEvent, type ClientRequest, type ConnectResult } from '../support/ipc.js';
import { P_KEY, PhaseTally, readInt, T_KEY } from '../support/tally.js';
import { clientFrame, frames, text } from './ws-frames.js';

if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');
const send = (m: ClientEvent) => process.send!(m);

/** A live subscriber: its socket and any partial frame not yet complete. */
interface Sub {
  sock: Socket;
  idx: number;
  rest: Buffer | null;
}

const subs: Sub[] = [];
const tally = new PhaseTally();
let closed = 0;
/** Why subscribed sockets closed: "close <code>" (the server's close frame), "no close frame", "error <code>". */
const closeReasons = new Map<string, number>();
const noteClose = (why: string) => closeReasons.set(why, (closeReasons.get(why) ?? 0) + 1);
/** Subscribed sockets that got a close frame or an error before their 'close' (the rest closed without one). */
const explained = new WeakSet<Socket>();
function onSubscribedClose(sock: Socket): void {
  closed++;
  if (!explained.has(sock)) noteClose('no close frame');
}
let halted = false;

// This process's own loop, watched by a 1 s beat: the longest gap between beats (reported by connect()), and a line
// on stderr when it stood still for over 5 s (a server drops a socket whose ping waits 25 s for its pong).
let lastBeat = nowMs();
let longestBeatGapMs = 0;
setInterval(() => {
  const now = nowMs();
  longestBeatGapMs = Math.max(longestBeatGapMs, now - lastBeat);
  if (now - lastBeat > 5000) {
    const m = process.memoryUsage();
    process.stderr.write(`[lean-subscribers ${process.pid}] loop stood still ${Math.round(now - lastBeat)} ms at ${new Date().toISOString()}: ` +
      `${subs.length} subscribed, ${closed} closed, rss ${Math.round(m.rss / 1048576)} MB, heap ${Math.round(m.heapUsed / 1048576)} MB\n`);
  }
  lastBeat = now;
}, 1000).unref();

/** Opens one subscriber; resolves once it is connected and subscribed. */
function open(url: URL, channel: string, localAddress: string | undefined, timeoutMs: number): Promise<Sub> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: url.hostname, port: Number(url.port), localAddress, noDelay: true });
    const sub: Sub = { sock, idx: -1, rest: null };
    let settled = false;
    let upgraded = false;
    let subscribed = false;
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error('timed out')), timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    const onSetupFrame = (opcode: number, payload: Buffer) => {
      if (opcode === 0x9) sock.write(clientFrame(0xa, payload));
      else if (opcode === 0x8) fail(new Error(`closed during setup (${payload.length >= 2 ? payload.readUInt16BE(0) : 'no code'})`));
      else if (opcode === 0x1) {
        const m = JSON.parse(payload.toString('utf8')) as { type: string };
        if (m.type === 'connected') sock.write(text(JSON.stringify({ type: 'subscribe', id: 1, channel })));
        else if (m.type === 'subscribed') {
          settled = subscribed = true;
          clearTimeout(timer);
          resolve(sub);
        } else if (m.type === 'error') fail(new Error(`server error: ${payload.toString('utf8').slice(0, 200)}`));
      }
    };
    sock.on('error', (err) => fail(err));
    sock.on('close', () => (subscribed ? onSubscribedClose(sock) : fail(new Error('closed during setup'))));
    sock.on('connect', () => {
      sock.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
    sock.on('data', (data: Buffer) => {
      // Subscribed, but its batch of opens is still settling (connect() swaps the listeners after all of them):
      // frames go on being read, so a ping in this window is answered (dropping it made the server close the
      // socket at its next ping; 227 of 100,000 subscribers missed the broadcast of million-2026-12-03.json).
      if (settled) {
        if (subscribed) sub.rest = frames(sub.rest, data, (op, payload) => onFrame(sub, op, payload));
        return;
      }
      if (!upgraded) {
        head = Buffer.concat([head, data]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.toString('latin1', 0, head.indexOf('\r\n'));
        if (!/^HTTP\/1\.1 101/.test(status)) return fail(new Error(`upgrade refused: ${status}`));
        upgraded = true;
        data = head.subarray(end + 4);
        head = Buffer.alloc(0);
        sock.write(text('{"type":"connect"}'));
        if (data.length === 0) return;
      }
      sub.rest = frames(sub.rest, data, onSetupFrame);
    });
  });
}

/** A frame on a subscribed socket: count phase messages, answer pings, note closes. */
function onFrame(sub: Sub, opcode: number, payload: Buffer): void {
  if (opcode === 0x9) {
    sub.sock.write(clientFrame(0xa, payload));
    return;
  }
  if (opcode === 0x8) {
    noteClose(`close ${payload.length >= 2 ? payload.readUInt16BE(0) : 'without code'}`);
    explained.add(sub.sock);
    sub.sock.end();
    return;
  }
  if (opcode !== 0x1) return;
  const p = payload.indexOf(P_KEY);
  if (p < 0 || readInt(payload, p + P_KEY.length) !== tally.phase) return;
  tally.record(sub.idx, nowMs(), payload, payload.indexOf(T_KEY));
  if (!tally.doneSent && tally.received >= tally.expectPerSocket * subs.length) {
    tally.doneSent = true;
    send(report(true));
  }
}

const report = (done: boolean) => ({ ...tally.report(done, subs.length, subs.length, closed), closeReasons: Object.fromEntries(closeReasons) });

async function connect(req: Extract<ClientRequest, { cmd: 'connect' }>): Promise<ConnectResult> {
  const start = nowMs();
  longestBeatGapMs = 0;
  const deadline = start + req.deadlineMs;
  const url = new URL(req.url);
  let failed = 0;
  const errors = new Map<string, number>();
  // Failed attempts (refused by the accept budget, timed out) are retried until the deadline.
  halted = false;
  while (subs.length < req.count && nowMs() < deadline && !halted) {
    const n = Math.min(req.batch, req.count - subs.length);
    const timeout = Math.max(1000, Math.min(15_000, deadline - nowMs()));
    const results = await Promise.allSettled(Array.from({ length: n }, () => open(url, req.channel, req.localAddress, timeout)));
    for (const r of results) {
      if (r.status === 'rejected') {
        failed++;
        const msg = String((r.reason as Error)?.message ?? r.reason).slice(0, 120);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
        continue;
      }
      const sub = r.value;
      sub.idx = subs.length;
      subs.push(sub);
      sub.sock.removeAllListeners('data');
      sub.sock.removeAllListeners('error');
      sub.sock.removeAllListeners('close');
      sub.sock.on('error', (err: NodeJS.ErrnoException) => {
        if (!explained.has(sub.sock)) noteClose(`error ${err.code ?? err.message}`);
        explained.add(sub.sock);
      });
      sub.sock.on('close', () => onSubscribedClose(sub.sock));
      sub.sock.on('data', (data: Buffer) => { sub.rest = frames(sub.rest, data, (op, payload) => onFrame(sub, op, payload)); });
    }
    if (results.some((r) => r.status === 'rejected')) await new Promise((r) => setTimeout(r, 250));
  }
  const grown = new Uint32Array(subs.length);
  grown.set(tally.perSocket.subarray(0, Math.min(tally.perSocket.length, subs.length)));
  tally.perSocket = grown;
  return { ev: 'connected', ok: subs.length - closed, closed, maxLoopDelayMs: Math.round(Math.max(0, longestBeatGapMs - 1000)), failed, errors: [...errors].map(([m, c]) => `${c}x ${m}`), ms: nowMs() - start };
}

process.on('message', async (raw) => {
  const m = raw as ClientRequest;
  try {
    if (m.cmd === 'connect') send(await connect(m));
    else if (m.cmd === 'phase') {
      tally.begin(m.phase, m.expectPerSocket);
      send({ ev: 'phase-ready', phase: m.phase });
    } else if (m.cmd === 'report') send(report(tally.doneSent));
    else if (m.cmd === 'close') {
      for (const s of subs) s.sock.destroy();
      process.exit(0);
    }
  } catch (err) {
    send({ ev: 'fatal', error: String((err as Error)?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
