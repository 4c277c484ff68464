// The official client (lib/client) in Node against real nodes on loopback, each transport forced in turn,
// plus small real servers that misbehave on purpose (503 + Retry-After, close 1013, instant closes, a proxy
// that blocks WebSocket upgrades). Every assertion is something an app using the client would notice.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import {
  connect, type Client, type ClientState, type Gap, type Message, type Presence, type StateInfo, type SubscriptionState, type TransportName,
} from '../../lib/client/client.js';
import { signToken } from '../../lib/auth/tokens.js';
import { startTestNode, until, watchPresence, type TestNode } from '../../lib/testing/index.js';

const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'poll'];
const WS = WebSocket as unknown as NonNullable<Parameters<typeof connect>[1]>['WebSocket'];
const JWT = 'test-jwt-secret-0123456789';
/** How soon a goodbye must show in presence (the contract). */
const GOODBYE_MS = 1000;


/** A client with everything it reports recorded. */
function watched(c: Client) {
  const states: Array<[ClientState, StateInfo]> = [];
  c.on('state', (s, i) => states.push([s, i]));
  return { c, states, names: () => states.map(([s]) => s) };
}

function subscribe(c: Client, channel: string, since?: { epoch: string; offset: number }) {
  const got: Message[] = [];
  const states: Array<[SubscriptionState, unknown]> = [];
  const gaps: Gap[] = [];
  const errors: Array<{ code: string }> = [];
  const sub = c.subscribe(channel, (m) => got.push(m), since ? { since } : {});
  sub.on('state', (s, i) => states.push([s, i]));
  sub.on('gap', (g) => gaps.push(g));
  sub.on('error', (e) => errors.push(e));
  return { sub, got, states, gaps, errors, data: () => got.map((m) => m.data) };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the official client against a node', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode(); });
  after(() => t.stop());

  for (const transport of TRANSPORTS) {
    test(`${transport}: subscribe, publish, receive, unsubscribe and close, each seen by the server at once`, async () => {
      const channel = `basic-${transport}`;
      const w = watchPresence(t, channel);
      const user = `u-${transport}`;
      const { c, names } = watched(connect(t.url, { token: await t.token(user, { publish: [channel] }), transports: [transport], WebSocket: WS }));
      const s = subscribe(c, channel);
      assert.equal(s.sub.state, 'subscribing');
      await until('subscribed', 5000, () => s.sub.state === 'subscribed');
      assert.deepEqual(names(), ['connecting', 'connected']);
      assert.equal(c.transport, transport);
      assert.ok(c.session, 'a session id');
      await until('join', 2000, () => w.joinsOf(user).length > 0);

      const ack = await c.publish(channel, { n: 1 });
      assert.equal(ack.offset, 1);
      await t.api('POST', `/v1/channels/${channel}/messages`, { data: { n: 2 } });
      await until('two messages', 5000, () => s.got.length === 2);
      assert.deepEqual(s.got.map((m) => [m.offset, m.data, m.from ?? null]), [[1, { n: 1 }, user], [2, { n: 2 }, null]]);

      const other = subscribe(c, `${channel}-2`);
      await until('second subscribed', 5000, () => other.sub.state === 'subscribed');
      let at = Date.now();
      s.sub.unsubscribe();
      assert.equal(s.sub.state, 'unsubscribed');
      const left = await until('leave after unsubscribe', 3000, () => w.leaveOf(user));
      assert.ok(left.at - at < GOODBYE_MS, `leave ${left.at - at} ms after unsubscribe()`);
      await t.api('POST', `/v1/channels/${channel}-2/messages`, { data: 'still' });
      await until('the other subscription goes on', 5000, () => other.got.length === 1);
      assert.deepEqual(s.states.map(([st]) => st), ['subscribed', 'unsubscribed']);

      const w2 = watchPresence(t, `${channel}-2`);
      await until('w2 sees the user', 2000, () => w2.members().includes(user));
      at = Date.now();
      c.close();
      assert.equal(c.state, 'closed');
      const gone = await until('leave after close()', 3000, () => w2.leaveOf(user));
      assert.ok(gone.at - at < GOODBYE_MS, `leave ${gone.at - at} ms after close()`);
      assert.deepEqual(names(), ['connecting', 'connected', 'closed']);
      assert.equal(other.sub.state, 'unsubscribed');
      await assert.rejects(c.publish(channel, 1), { code: 'closed' });
      await w.stop(); await w2.stop();
    });
  }

  test('presence events (presenceEvents: true) reach sub.on(\'presence\'): the member list, then batched diffs', async () => {
    for (const transport of TRANSPORTS) {
      const channel = `pe-${transport}`;
      await t.api('PUT', `/v1/channels/${channel}/config`, { presenceEvents: true });
      const c = connect(t.url, { token: await t.token(`pe-a-${transport}`), transports: [transport], WebSocket: WS });
      const s = subscribe(c, channel);
      const seen: Presence[] = [];
      s.sub.on('presence', (p) => seen.push(p));
      await until(`${transport}: the member list`, 5000, () => seen.some((p) => p.members?.includes(`pe-a-${transport}`)));
      const other = connect(t.url, { token: await t.token(`pe-b-${transport}`), WebSocket: WS });
      const o = subscribe(other, channel);
      await until('the other subscribed', 5000, () => o.sub.state === 'subscribed');
      await until(`${transport}: a join diff`, 5000, () => seen.some((p) => p.joins?.includes(`pe-b-${transport}`) && p.count === 2));
      other.close();
      await until(`${transport}: a leave diff`, 5000, () => seen.some((p) => p.leaves?.includes(`pe-b-${transport}`) && p.count === 1));
      assert.ok(seen.every((p) => p.channel === channel));
      c.close();
    }
  });

  test('messages to the user arrive as client `message` events', async () => {
    const c = connect(t.url, { token: await t.token('dm-user'), transports: ['sse'] });
    const got: Message[] = [];
    c.on('message', (m) => got.push(m));
    await until('connected', 5000, () => c.state === 'connected');
    await t.api('POST', '/v1/users/dm-user/messages', { data: 'psst' });
    await until('the message', 5000, () => got.length === 1);
    assert.equal(got[0]!.channel, '$user:dm-user');
    assert.equal(got[0]!.data, 'psst');
    c.close();
  });

  test('gap: a position whose messages are gone (trimmed history, lost epoch) is told, then the stream goes on', async () => {
    await t.api('PUT', '/v1/channels/gappy/config', { history: { size: 1, ttlSeconds: 300 } });
    const acks = [];
    for (let i = 1; i <= 4; i++) acks.push((await t.api('POST', '/v1/channels/gappy/messages', { data: i })).body);
    const epoch = acks[0].epoch as string;
    for (const transport of TRANSPORTS) {
      const c = connect(t.url, { token: await t.token('gap-user'), transports: [transport], WebSocket: WS });
      const trimmed = subscribe(c, 'gappy', { epoch, offset: 1 });
      await until('subscribed', 5000, () => trimmed.sub.state === 'subscribed');
      assert.equal(trimmed.gaps.length, 1, transport);
      assert.deepEqual(trimmed.gaps[0]!.from, { epoch, offset: 1 });
      assert.deepEqual(trimmed.states[0], ['subscribed', { recovered: false }]);
      const lost = subscribe(c, 'gappy-lost', { epoch: 'deadbeef', offset: 7 });
      await until('subscribed', 5000, () => lost.sub.state === 'subscribed');
      assert.equal(lost.gaps.length, 1);
      assert.notEqual(lost.gaps[0]!.to.epoch, 'deadbeef');
      const ok = subscribe(c, 'gappy-fine', undefined);
      await until('subscribed', 5000, () => ok.sub.state === 'subscribed');
      await t.api('POST', '/v1/channels/gappy-lost/messages', { data: 'next' });
      await until('the next message', 5000, () => lost.got.length === 1);
      assert.equal(lost.gaps.length, 1, 'one gap, not one per message');
      assert.equal(ok.gaps.length, 0);
      c.close();
    }
  });

  test('refusals: a private channel is refused (for SSE the other channels go on); a kick ends the subscription', async () => {
    await t.api('PUT', '/v1/channels/secret/config', { private: true });
    for (const transport of TRANSPORTS) {
      const c = connect(t.url, { token: await t.token(`ref-${transport}`), transports: [transport], WebSocket: WS });
      const open = subscribe(c, `open-${transport}`);
      const secret = subscribe(c, 'secret');
      await until('refused', 5000, () => secret.sub.state === 'unsubscribed');
      assert.deepEqual(secret.errors.map((e) => e.code), ['forbidden']);
      await until('the open one subscribed', 5000, () => open.sub.state === 'subscribed');
      await t.api('POST', `/v1/channels/open-${transport}/messages`, { data: 1 });
      await until('message on the open one', 5000, () => open.got.length === 1);
      assert.equal((await t.api('POST', `/v1/channels/open-${transport}/kick`, { user: `ref-${transport}` })).body.kicked, 1);
      await until('kicked', 5000, () => open.sub.state === 'unsubscribed');
      assert.deepEqual(open.errors.map((e) => e.code), ['kicked']);
      assert.equal(c.state, 'connected');
      c.close();
    }
  });

  test('a server-side disconnect closes the client for good; a bad static token too, without retrying', async () => {
    const { c, states } = watched(connect(t.url, { token: await t.token('bye-user'), WebSocket: WS }));
    await until('connected', 5000, () => c.state === 'connected');
    await t.api('POST', '/v1/users/bye-user/disconnect', { reason: 'banned for spam' });
    await until('closed', 5000, () => c.state === 'closed');
    assert.equal(states.at(-1)![1].reason, 'disconnected');
    for (const transport of TRANSPORTS) {
      const bad = watched(connect(t.url, { token: await signToken('wrong-secret-0123456789', 'x'), transports: [transport], WebSocket: WS }));
      await until(`${transport}: closed`, 5000, () => bad.c.state === 'closed');
      assert.deepEqual(bad.names(), ['connecting', 'closed'], transport);
      assert.equal(bad.states.at(-1)![1].reason, 'unauthorized');
    }
  });

  test('a token callback is asked again after the node refused its token (4401 / 401)', async () => {
    for (const transport of TRANSPORTS) {
      let calls = 0;
      const token = async () => (++calls === 1 ? signToken('wrong-secret-0123456789', 'cb-user') : signToken(JWT, 'cb-user'));
      const w = watched(connect(t.url, { token, transports: [transport], WebSocket: WS, backoff: { baseMs: 50 } }));
      const s = subscribe(w.c, 'cb-room');
      await until(`${transport}: subscribed`, 5000, () => s.sub.state === 'subscribed');
      assert.equal(calls, 2);
      assert.deepEqual(w.names(), ['connecting', 'disconnected', 'connecting', 'connected']);
      assert.equal(w.states[1]![1].reason, 'unauthorized');
      w.c.close();
    }
  });
});

describe('the official client across a node restart', () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: reconnects, resumes from its positions, loses and repeats nothing, one connection at a time`, async () => {
      const data = await mkdtemp(join(tmpdir(), 'hashpub-client-'));
      let t = await startTestNode({ data });
      const port = Number(new URL(t.url).port);
      const c = connect(t.url, { token: await signToken(JWT, 'restart-user', { publish: ['r'] }), transports: [transport], WebSocket: WS });
      const w = watched(c);
      const s = subscribe(c, 'r');
      let maxConnections = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '');
          const n = [...text.matchAll(/^hashpub_connections\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
          maxConnections = Math.max(maxConnections, n);
          await sleep(20);
        }
      })();
      try {
        await until('subscribed', 5000, () => s.sub.state === 'subscribed');
        for (let i = 1; i <= 3; i++) await t.api('POST', '/v1/channels/r/messages', { data: i });
        await until('3 messages', 5000, () => s.got.length === 3);
        await t.stop({ keepData: true });
        await until('disconnected', 5000, () => c.state === 'disconnected');
        const during = c.publish('r', 4); // waits for the connection, then is acknowledged once
        t = await startTestNode({ data, port });
        await until('connected again', 15_000, () => c.state === 'connected');
        assert.equal((await during).offset, 4);
        for (let i = 5; i <= 6; i++) await t.api('POST', '/v1/channels/r/messages', { data: i });
        await until('6 messages', 10_000, () => s.got.length >= 6);
        await sleep(100);
        assert.deepEqual(s.got.map((m) => m.offset), [1, 2, 3, 4, 5, 6], 'every message once, in order');
        assert.deepEqual(s.data(), [1, 2, 3, 4, 5, 6]);
        assert.equal(s.gaps.length, 0);
        assert.deepEqual(s.states.map(([st]) => st), ['subscribed', 'subscribing', 'subscribed']);
        assert.deepEqual(s.states.at(-1), ['subscribed', { recovered: true }]);
        const seq = w.names();
        assert.deepEqual(seq.slice(0, 3), ['connecting', 'connected', 'disconnected']);
        assert.equal(seq.at(-1), 'connected');
        assert.ok(seq.every((st, i) => i === 0 || st !== seq[i - 1]), 'each state change reported once');
      } finally {
        sampling = false;
        await sampler;
        c.close();
        await t.stop();
      }
      assert.ok(maxConnections <= 1, `${maxConnections} connections of one client at once`);
    });
  }
});

describe('the official client against nodes that fail', () => {
  test('rotation: the first URL is dead, the client connects to the next', async () => {
    const t = await startTestNode();
    const deadServer = createServer();
    const deadUrl = await listen(deadServer);
    await new Promise((r) => deadServer.close(r)); // nothing listens there any more
    const c = connect([deadUrl, t.url], { token: await t.token('rot'), WebSocket: WS, backoff: { baseMs: 50 } });
    await until('connected', 10_000, () => c.state === 'connected');
    assert.equal(c.url, t.url);
    c.close();
    await t.stop();
  });

  test('fallback: behind a proxy that refuses WebSocket upgrades the client lands on SSE and works', async () => {
    const t = await startTestNode();
    const target = new URL(t.url);
    const proxy = createServer((req, res) => {
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
      res.on('close', () => up.destroy());
    });
    proxy.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n'));
    const url = await listen(proxy);
    const c = connect(url, { token: await t.token('behind-proxy', { publish: ['px'] }), WebSocket: WS, backoff: { baseMs: 50 } });
    const w = watched(c);
    const s = subscribe(c, 'px');
    await until('subscribed', 10_000, () => s.sub.state === 'subscribed');
    assert.equal(c.transport, 'sse');
    assert.deepEqual(w.states.filter(([st]) => st === 'connecting').map(([, i]) => i.transport), ['websocket', 'sse']);
    await c.publish('px', 'through the proxy');
    await until('message', 5000, () => s.got.length === 1);
    c.close();
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
    await t.stop();
  });

  test('Retry-After (503) and close 1013 are honoured: the next attempt waits at least that long', async () => {
    const hits: number[] = [];
    const busy = createServer((req, res) => {
      hits.push(Date.now());
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' });
      res.end('{"error":{"code":"unavailable","message":"busy"}}');
    });
    const url = await listen(busy);
    const c = connect(url, { transports: ['sse'], token: 'x.e30.y', backoff: { baseMs: 10 } });
    await until('two attempts', 10_000, () => hits.length >= 2);
    c.close();
    assert.ok(hits[1]! - hits[0]! >= 1990, `retried after ${hits[1]! - hits[0]!} ms despite Retry-After: 2`);
    busy.closeAllConnections();
    await new Promise((r) => busy.close(r));

    const opens: number[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => { opens.push(Date.now()); ws.close(1013, '1'); });
    await new Promise((r) => wss.once('listening', r));
    const c2 = connect(`http://127.0.0.1:${(wss.address() as AddressInfo).port}`, { transports: ['websocket'], WebSocket: WS, backoff: { baseMs: 10 } });
    await until('two attempts', 10_000, () => opens.length >= 2);
    c2.close();
    assert.ok(opens[1]! - opens[0]! >= 990, `retried after ${opens[1]! - opens[0]!} ms despite close 1013`);
    await new Promise((r) => wss.close(r));
  });

  test('a busy node is tried again at its Retry-After, not left for the next URL (which may be down)', async () => {
    const busyOpens: number[] = [];
    const busy = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    busy.on('connection', (ws) => { busyOpens.push(Date.now()); ws.close(1013, '1'); });
    let otherOpens = 0;
    const other = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    other.on('connection', (ws) => { otherOpens++; ws.terminate(); });
    await Promise.all([new Promise((r) => busy.once('listening', r)), new Promise((r) => other.once('listening', r))]);
    const urls = [busy, other].map((w) => `http://127.0.0.1:${(w.address() as AddressInfo).port}`);
    const c = connect(urls, { transports: ['websocket'], WebSocket: WS, backoff: { baseMs: 10 } });
    const urlsTried: string[] = [];
    c.on('state', (s, i) => { if (s === 'connecting') urlsTried.push(i.url!); });
    await until('three attempts at the busy node', 15_000, () => busyOpens.length >= 3);
    c.close();
    assert.equal(otherOpens, 0, `the other URL was tried while the busy one had asked to wait (${urlsTried.join(', ')})`);
    assert.ok(busyOpens[2]! - busyOpens[1]! >= 990, 'each retry waits the Retry-After');
    await Promise.all([new Promise((r) => busy.close(r)), new Promise((r) => other.close(r))]);
  });

  test('a subscription refused with retryAfter (unavailable: the channel is moving) is asked again only after that wait', async () => {
    const asks: number[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => ws.on('message', (raw) => {
      const f = JSON.parse(String(raw)) as { type: string; id?: number; channel?: string };
      if (f.type === 'connect') ws.send(JSON.stringify({ type: 'connected', session: 's1', user: null, node: 'n', resumed: false }));
      if (f.type !== 'subscribe') return;
      asks.push(Date.now());
      ws.send(JSON.stringify(asks.length === 1
        ? { type: 'error', id: f.id, channel: f.channel, code: 'unavailable', message: 'channel is moving', retryAfter: 1 }
        : { type: 'subscribed', id: f.id, channel: f.channel, epoch: 'e', offset: 0, recovered: true }));
    }));
    await new Promise((r) => wss.once('listening', r));
    const c = connect(`http://127.0.0.1:${(wss.address() as AddressInfo).port}`, { transports: ['websocket'], WebSocket: WS, backoff: { baseMs: 10 } });
    const sub = c.subscribe('moving', () => {});
    await until('subscribed after the retry', 10_000, () => sub.state === 'subscribed');
    c.close();
    assert.equal(asks.length, 2);
    assert.ok(asks[1]! - asks[0]! >= 990, `asked again after ${asks[1]! - asks[0]!} ms despite retryAfter: 1`);
    await new Promise((r) => wss.close(r));
  });

  test('close 4429 (rate limited) is honoured like 1013: the next attempt waits at least the seconds of its reason', async () => {
    const opens: number[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => { opens.push(Date.now()); ws.close(4429, '1'); });
    await new Promise((r) => wss.once('listening', r));
    const c = connect(`http://127.0.0.1:${(wss.address() as AddressInfo).port}`, { transports: ['websocket'], WebSocket: WS, backoff: { baseMs: 10 } });
    await until('two attempts', 10_000, () => opens.length >= 2);
    c.close();
    assert.ok(opens[1]! - opens[0]! >= 990, `retried after ${opens[1]! - opens[0]!} ms despite close 4429`);
    await new Promise((r) => wss.close(r));
  });

  test('no tight loop: against a node that drops every connection, attempts back off exponentially', async () => {
    const opens: number[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => { opens.push(Date.now()); ws.terminate(); });
    await new Promise((r) => wss.once('listening', r));
    const delays: number[] = [];
    const c = connect(`http://127.0.0.1:${(wss.address() as AddressInfo).port}`, { transports: ['websocket'], WebSocket: WS });
    c.on('state', (s, i) => { if (s === 'disconnected') delays.push(i.delayMs!); });
    await sleep(4000);
    c.close();
    await new Promise((r) => wss.close(r));
    assert.ok(opens.length >= 2, 'it did retry');
    assert.ok(opens.length <= 12, `${opens.length} attempts in 4 s`);
    delays.forEach((d, n) => assert.ok(d >= 0 && d < Math.min(20_000, 500 * 2 ** n), `delay ${n} = ${d} ms is outside full jitter`));
  });
});
