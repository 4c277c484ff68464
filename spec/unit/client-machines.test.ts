// The official client's decisions as tables: both state machines (every transition, and that nothing else
// moves them), the full-jitter backoff envelope, token expiry, the SSE framing, and that the built file is a
// browser-ready module (no imports, no Node globals).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  backoffDelay, clientTransition, DEFAULT_BACKOFF, nextTry, sseParser, subscriptionTransition, tokenExpired,
  type ClientEvent, type ClientState, type SubscriptionEvent, type SubscriptionState,
} from '../../lib/client/client.js';

test('client state machine: every allowed transition, and every other event is refused', () => {
  const allowed: Record<string, ClientState> = {
    'disconnected connect': 'connecting', 'disconnected close': 'closed',
    'connecting open': 'connected', 'connecting fail': 'disconnected', 'connecting close': 'closed',
    'connected fail': 'disconnected', 'connected close': 'closed',
  };
  const states: ClientState[] = ['disconnected', 'connecting', 'connected', 'closed'];
  const events: ClientEvent[] = ['connect', 'open', 'fail', 'close'];
  for (const s of states) for (const e of events) assert.equal(clientTransition(s, e), allowed[`${s} ${e}`] ?? null, `${s} + ${e}`);
});

test('subscription state machine: every allowed transition, and every other event is refused', () => {
  const allowed: Record<string, SubscriptionState> = {
    'unsubscribed subscribe': 'subscribing',
    'subscribing subscribed': 'subscribed', 'subscribing lost': 'subscribing', 'subscribing refused': 'unsubscribed', 'subscribing unsubscribe': 'unsubscribed',
    'subscribed subscribed': 'subscribed', 'subscribed lost': 'subscribing', 'subscribed refused': 'unsubscribed', 'subscribed unsubscribe': 'unsubscribed',
  };
  const states: SubscriptionState[] = ['unsubscribed', 'subscribing', 'subscribed'];
  const events: SubscriptionEvent[] = ['subscribe', 'subscribed', 'lost', 'refused', 'unsubscribe'];
  for (const s of states) for (const e of events) assert.equal(subscriptionTransition(s, e), allowed[`${s} ${e}`] ?? null, `${s} + ${e}`);
});

test('backoff: full jitter under min(cap, base * 2^n), Retry-After added on top, never negative', () => {
  const b = { baseMs: 500, capMs: 20_000 };
  for (let n = 0; n < 40; n++) {
    const ceiling = Math.min(b.capMs, b.baseMs * 2 ** n);
    assert.equal(backoffDelay(n, b, 0, () => 0), 0);
    const top = backoffDelay(n, b, 0, () => 0.999999);
    assert.ok(top < ceiling && top >= ceiling * 0.99, `attempt ${n}: ${top} vs ${ceiling}`);
    assert.equal(backoffDelay(n, b, 3000, () => 0), 3000, 'Retry-After is a floor');
    assert.ok(backoffDelay(n, b, 3000, () => 0.5) <= 3000 + ceiling / 2);
  }
  assert.deepEqual(DEFAULT_BACKOFF, { baseMs: 500, capMs: 20_000 });
  // Spread: 1000 clients retrying attempt 3 land all over [0, 4000), not in one burst.
  const delays = Array.from({ length: 1000 }, () => backoffDelay(3, b));
  const buckets = new Array(4).fill(0);
  for (const d of delays) buckets[Math.floor(d / 1000)]++;
  assert.ok(buckets.every((n) => n > 150), `uneven spread ${buckets}`);
  // The retry decision the client (and the storm bench's lean client) applies: a failure moves on to the next URL one
  // backoff step further; a busy node is tried again at its Retry-After (plus up to a second), the backoff unchanged.
  assert.deepEqual(nextTry(0, b, undefined, () => 0.5), { delayMs: 250, attempt: 1, sameUrl: false });
  assert.deepEqual(nextTry(3, b, undefined, () => 0.5), { delayMs: 2000, attempt: 4, sameUrl: false });
  assert.deepEqual(nextTry(3, b, 2000, () => 0), { delayMs: 2000, attempt: 3, sameUrl: true });
  assert.deepEqual(nextTry(3, b, 2000, () => 0.5), { delayMs: 2500, attempt: 3, sameUrl: true });
});

test('tokenExpired reads exp from the JWT payload, with skew; unreadable tokens are left to the server', () => {
  const jwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
  const now = 1_700_000_000_000;
  assert.equal(tokenExpired(jwt({ exp: now / 1000 - 1 }), now), true);
  assert.equal(tokenExpired(jwt({ exp: now / 1000 + 3 }), now), true, 'within the 5 s skew');
  assert.equal(tokenExpired(jwt({ exp: now / 1000 + 60 }), now), false);
  assert.equal(tokenExpired(jwt({ sub: 'no-exp' }), now), false);
  assert.equal(tokenExpired(jwt({ exp: now / 1000 + 60, name: 'ü\u00ff?>' }), now), false, 'base64url with - and _');
  for (const bad of ['', 'garbage', 'a.b.c', 'a.!!!.c']) assert.equal(tokenExpired(bad, now), false, bad);
});

test('SSE parser: any line ending, split anywhere, comments, multi-line data, ids and event names', () => {
  const stream = 'retry: 2000\r\nid: s.-\r\n\r\n: ping\n\nevent: subscribed\ndata: {"a":1}\n\nid: s.1f:1\nevent: message\ndata: line1\ndata: line2\r\rdata:x\n\n';
  const want = [['message', '', 's.-'], ['subscribed', '{"a":1}', undefined], ['message', 'line1\nline2', 's.1f:1'], ['message', 'x', undefined]];
  for (const size of [1, 2, 3, 7, stream.length]) {
    const got: unknown[] = [];
    const feed = sseParser((event, data, id) => got.push([event, data, id]));
    for (let i = 0; i < stream.length; i += size) feed(stream.slice(i, i + size));
    assert.deepEqual(got, want, `chunks of ${size}`);
  }
});

test('the built client is one browser-ready module: no imports, no Node globals', async () => {
  const js = readFileSync(new URL('../../lib/client/client.js', import.meta.url), 'utf8');
  assert.doesNotMatch(js, /^\s*(import|export\s+\*\s+from|export\s+\{[^}]*\}\s+from)\s/m, 'a run-time import');
  assert.doesNotMatch(js, /\brequire\(|\bprocess\.|\bBuffer\b|node:/, 'a Node-only name');
  const mod = await import(`data:text/javascript;base64,${Buffer.from(js).toString('base64')}`) as Record<string, unknown>;
  assert.equal(typeof mod.connect, 'function');
});
