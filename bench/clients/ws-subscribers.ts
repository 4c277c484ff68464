/**
 * Bench load-client child: holds its share of WebSocket connections (the `ws` client), subscribes them
 * (hashpub protocol) or just opens them (the ws floor), and per phase counts the messages tagged with that
 * phase and records publish-to-delivery latency from the publisher's timestamp in the payload
 * ("__t": wall-clock ms from performance.timeOrigin + performance.now()). Reports to the parent over IPC.
 * Payload fields are found with Buffer.indexOf instead of JSON.parse to keep this side cheap: on a
 * 2-core machine the clients compete with the server for CPU.
 */
import WebSocket from 'ws';
import { nowMs, type ClientEvent, type ClientRequest, type ConnectResult } from '../support/ipc.js';
import { P_KEY, PhaseTally, readInt, T_KEY } from '../support/tally.js';

if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');
const send = (m: ClientEvent) => process.send!(m);

const sockets: WebSocket[] = [];
/** The node's keepalive ping to a socket that connected with `"ping": true`. */
const TEXT_PING = Buffer.from('{"type":"ping"}');
/** When each socket last heard a frame from the server (keepalive modes only). */
const heard: number[] = [];
let pinger: NodeJS.Timeout | null = null;

/**
 * lib/client's liveness rule: every 5 s, a socket that heard nothing for `quietMs` sends {"type":"ping"}. Each socket
 * checks at its own phase (a twentieth of them every 250 ms), as separate browsers would: one 5 s timer for all
 * would send the server thousands of pings in one burst.
 */
function startAppPings(quietMs: number): void {
  let slot = 0;
  pinger ??= setInterval(() => {
    const now = Date.now();
    slot = (slot + 1) % 20;
    for (let i = slot; i < sockets.length; i += 20) if (now - heard[i]! > quietMs) sockets[i]!.send('{"type":"ping"}');
  }, 250);
}
const tally = new PhaseTally();
let closed = 0;

function onMessage(idx: number, data: Buffer): void {
  const p = data.indexOf(P_KEY);
  if (p < 0) return; // connected / subscribed / other frames
  if (readInt(data, p + P_KEY.length) !== tally.phase) return;
  tally.record(idx, nowMs(), data, data.indexOf(T_KEY));
  if (!tally.doneSent && tally.received >= tally.expectPerSocket * sockets.length) {
    tally.doneSent = true;
    send(report(true));
  }
}

const report = (done: boolean) => tally.report(done, sockets.length, sockets.length, closed);

/** Opens one socket; resolves once it is ready (opened, and for hashpub connected + subscribed). */
function open(url: string, protocol: 'hashpub' | 'floor', channel: string, timeoutMs: number, textPings: boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, skipUTF8Validation: true });
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
      clearTimeout(timer);
      ws.removeAllListeners('message');
      resolve(ws);
    };
    ws.on('error', (err) => fail(err));
    ws.on('close', () => fail(new Error('closed during setup')));
    ws.on('open', () => {
      if (protocol === 'floor') return ok();
      ws.send(textPings ? '{"type":"connect","ping":true}' : '{"type":"connect"}');
    });
    if (protocol === 'hashpub') {
      ws.on('message', (data: Buffer) => {
        const text = data.toString('utf8');
        const m = JSON.parse(text) as { type: string };
        if (m.type === 'connected') ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel }));
        else if (m.type === 'subscribed') ok();
        else if (m.type === 'error') fail(new Error(`server error: ${text.slice(0, 200)}`));
      });
    }
  });
}

async function connect(req: Extract<ClientRequest, { cmd: 'connect' }>): Promise<ConnectResult> {
  const start = nowMs();
  const deadline = start + req.deadlineMs;
  let failed = 0;
  const errors = new Map<string, number>();
  // Only the keepalive modes pay for per-message bookkeeping (the fan-out benches count every message here).
  const keepalive = req.textPings === true || req.appPingQuietMs !== undefined;
  while (sockets.length + failed < req.count && nowMs() < deadline) {
    const n = Math.min(req.batch, req.count - sockets.length - failed);
    const timeout = Math.max(1000, Math.min(15_000, deadline - nowMs()));
    const results = await Promise.allSettled(Array.from({ length: n }, () => open(req.url, req.protocol, req.channel, timeout, req.textPings === true)));
    for (const r of results) {
      if (r.status === 'rejected') {
        failed++;
        const msg = String((r.reason as Error)?.message ?? r.reason).slice(0, 120);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
        continue;
      }
      const ws = r.value;
      const idx = sockets.length;
      sockets.push(ws);
      ws.removeAllListeners('error');
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      ws.on('close', () => { closed++; });
      if (!keepalive) {
        ws.on('message', (data: Buffer) => onMessage(idx, data));
        continue;
      }
      heard.push(Date.now());
      ws.on('message', (data: Buffer) => {
        heard[idx] = Date.now();
        if (data.length === TEXT_PING.length && data.equals(TEXT_PING)) return ws.send('{"type":"pong"}');
        onMessage(idx, data);
      });
    }
  }
  if (req.appPingQuietMs) startAppPings(req.appPingQuietMs);
  tally.perSocket = new Uint32Array(sockets.length);
  return { ev: 'connected', ok: sockets.length, failed, errors: [...errors].map(([m, c]) => `${c}x ${m}`), ms: nowMs() - start };
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
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  } catch (err) {
    send({ ev: 'fatal', error: String((err as Error)?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
