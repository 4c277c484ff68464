import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import type { Options } from '../../lib/options.js';
import { startTestNode, TestClient, until, type TestNode } from '../../lib/testing/index.js';

async function withNode(options: Partial<Options>, fn: (t: TestNode) => Promise<void>): Promise<void> {
  const t = await startTestNode({ data: ':memory:', ...options });
  try {
    await fn(t);
  } finally {
    await t.stop();
  }
}

/** A WebSocket upgrade: resolves to the open socket, or to the HTTP answer that refused it. */
function upgrade(url: string): Promise<{ ws: WebSocket } | { status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/ws');
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    ws.once('error', (err) => { if (ws.readyState !== WebSocket.CLOSED) reject(err); });
  });
}

/** GET of an SSE URL: the status and Retry-After of its answer (the stream is closed at once). */
function sseStatus(url: string): Promise<{ status: number; retryAfter: string | undefined; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined,
      close: () => req.destroy() }));
    req.on('error', reject);
    req.end();
  });
}

const refusals = (t: TestNode, limit: string): Promise<number> => t.metric('hashpub_refusals_total', { limit });

describe('limits on connections', () => {
  test('connections per user on a node: the one over the cap is refused (rate_limited, close 4429; SSE 429), another user is not', () =>
    withNode({ maxConnectionsPerUser: 2 }, async (t) => {
      const token = await t.token('dup');
      const a = await TestClient.connect(t.url, { token });
      const b = await TestClient.connect(t.url, { token });
      const c = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws');
      await c.opened;
      c.send({ type: 'connect', token });
      const refused = await c.next((f) => f.type === 'error');
      assert.equal(refused.code, 'rate_limited');
      assert.equal((await c.waitClosed()).code, 4429);
      const sse = await sseStatus(`${t.url}/v1/sse?channel=x&token=${token}`);
      assert.equal(sse.status, 429);
      assert.ok(Number(sse.retryAfter) >= 1);
      sse.close();
      const other = await TestClient.connect(t.url, { token: await t.token('someone-else') });
      assert.equal(other.connected.user, 'someone-else');
      // A goodbye frees the place at once.
      a.client.ws.close(1000);
      await until('a third connection of dup is admitted', 5000, async () => {
        const d = await TestClient.connect(t.url, { token }).catch(() => null);
        d?.client.close();
        return d !== null;
      });
      assert.equal(await refusals(t, 'connections_per_user'), 2);
      for (const x of [b.client, other.client]) x.close();
    }));

  test('connections per source address: the upgrade over the cap gets 429 with Retry-After before the handshake; a close frees the place', () =>
    withNode({ maxConnectionsPerAddress: 2, limitExemptAddresses: [], allowAnonymous: true }, async (t) => {
      const first = await upgrade(t.url);
      const second = await upgrade(t.url);
      assert.ok('ws' in first && 'ws' in second, 'two connections are fine');
      const third = await upgrade(t.url);
      assert.ok('status' in third);
      assert.equal(third.status, 429);
      assert.ok(Number(third.retryAfter) >= 1);
      assert.equal(JSON.parse(third.body).error.code, 'rate_limited');
      const sse = await sseStatus(`${t.url}/v1/sse?channel=x`);
      assert.equal(sse.status, 429, 'SSE streams count as connections too');
      sse.close();
      first.ws.terminate();
      const fourth = await until('a place is free again', 5000, async () => { const r = await upgrade(t.url); return 'ws' in r ? r : null; });
      assert.equal(await refusals(t, 'connections_per_address'), 2);
      for (const w of [second.ws, fourth.ws]) w.terminate();
    }));

  test('loopback is exempt from the per-address limits by default (a local proxy, benchmarks)', () =>
    withNode({ maxConnectionsPerAddress: 1, maxConnectionAttemptsPerSecond: 0.01, connectionAttemptBurst: 1, allowAnonymous: true }, async (t) => {
      const open = await Promise.all([upgrade(t.url), upgrade(t.url), upgrade(t.url)]);
      assert.ok(open.every((r) => 'ws' in r));
      for (const r of open) if ('ws' in r) r.ws.terminate();
      assert.equal(await refusals(t, 'connections_per_address'), 0);
    }));

  test('connection attempts per second per address: the burst passes, then WebSocket, SSE and new long-poll sessions get 429', () =>
    withNode({ maxConnectionAttemptsPerSecond: 0.01, connectionAttemptBurst: 2, limitExemptAddresses: [], allowAnonymous: true }, async (t) => {
      const a = await upgrade(t.url);
      const poll = await fetch(`${t.url}/v1/poll?channel=att&timeout=0`);
      assert.equal(poll.status, 200, 'the second attempt is a long-poll session');
      const { cursor } = await poll.json() as { cursor: string };
      const ws = await upgrade(t.url);
      assert.ok('status' in ws && ws.status === 429 && Number(ws.retryAfter) >= 1);
      const sse = await sseStatus(`${t.url}/v1/sse?channel=att`);
      assert.equal(sse.status, 429);
      sse.close();
      const newPoll = await fetch(`${t.url}/v1/poll?channel=att&timeout=0`);
      assert.equal(newPoll.status, 429);
      assert.ok(Number(newPoll.headers.get('retry-after')) >= 1);
      const next = await fetch(`${t.url}/v1/poll?channel=att&timeout=0&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(next.status, 200, 'polling on with its cursor is no new attempt');
      assert.equal(await refusals(t, 'connection_attempts'), 3);
      if ('ws' in a) a.ws.terminate();
    }));
});
