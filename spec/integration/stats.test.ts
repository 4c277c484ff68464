// GET /v1/stats on one node: behind the API key, connections counted by transport, sessions and subscriptions,
// and message rates that follow publishes; ?history=1 adds the chart's samples.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openSse, startTestNode, TestClient, until, type TestNode } from '../../lib/testing/index.js';

let t: TestNode;
const closers: Array<() => void> = [];
before(async () => { t = await startTestNode({ data: ':memory:' }); });
after(async () => {
  for (const c of closers) c();
  await t?.stop();
});

test('stats need the API key', async () => {
  const res = await fetch(`${t.url}/v1/stats`);
  assert.equal(res.status, 401);
  assert.equal((await t.api('GET', '/v1/stats?history=2')).status, 400);
  assert.equal((await t.api('POST', '/v1/stats')).status, 405);
});

test('stats count connections by transport, sessions, subscriptions and message rates', async () => {
  const { client } = await TestClient.connect(t.url, { token: await t.token('ws-user') });
  closers.push(() => client.close());
  await client.subscribe('stats-room');
  const sse = openSse(`${t.url}/v1/sse?channel=stats-room&token=${await t.token('sse-user')}`);
  closers.push(() => sse.close());
  await sse.ready;
  const first = await until('both subscribed', 5000, async () => {
    const r = await t.api('GET', '/v1/stats');
    return r.body.members?.[0]?.stats.subscriptions === 4 ? r : undefined;
  });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('cache-control'), 'no-store');
  const me = first.body.members;
  assert.equal(me.length, 1);
  assert.equal(me[0].id, first.body.node);
  assert.equal(me[0].ok, true);
  assert.deepEqual(me[0].stats.connections, { ws: 1, sse: 1, poll: 0, total: 2 });
  assert.equal(me[0].stats.sessions, 2);
  assert.equal(me[0].stats.subscriptions, 2 + 2, 'two channel subscriptions plus each user\'s own $user channel');
  assert.equal(me[0].stats.replication, null, 'a single node has no replication state');
  assert.equal(me[0].history, undefined);

  for (let i = 0; i < 5; i++) await t.api('POST', '/v1/channels/stats-room/messages', { data: { i } });
  await client.waitMessages('stats-room', 5);
  await sse.waitFor(5);
  const busy = await until('rates after publishing', 5000, async () => {
    const s = (await t.api('GET', '/v1/stats?history=1')).body;
    return s.totals.messagesInPerSecond > 0 && s.totals.messagesOutPerSecond > 0 ? s : undefined;
  });
  assert.equal(busy.members[0].stats.messagesIn, 5);
  assert.equal(busy.members[0].stats.messagesOut, 10, 'five messages to two subscribers');
  assert.equal(busy.totals.connections, 2);
  assert.ok(busy.members[0].history.length >= 1);
  assert.ok(busy.members[0].history.some((h: { messagesInPerSecond: number }) => h.messagesInPerSecond > 0));
  assert.ok(busy.members[0].stats.eventLoopLagMs.p99 >= 0);
});

test('a stall of the event loop shows in the samples as that second\'s longest delay', async () => {
  // The test node runs in this process: blocking this loop for 300 ms stalls it. After a sample first: the
  // loop-delay histogram's first tick after it is switched on only starts its clock (a stall before it is unseen).
  await until('a first sample', 5000, async () => ((await t.api('GET', '/v1/stats?history=1')).body.members[0].history.length > 0 ? true : undefined));
  const since = Date.now();
  const end = performance.now() + 300;
  while (performance.now() < end) { /* stall */ }
  const s = await until('a sample after the stall', 5000, async () => {
    const body = (await t.api('GET', '/v1/stats?history=1')).body;
    const after = (body.members[0].history as Array<{ time: number; eventLoopMaxMs: number; eventLoopLagMs: number }>).filter((h) => h.time > since);
    // The loop-delay histogram records the stall when its own timer runs, which may be after the sampler's: two samples.
    return after.length >= 2 ? after : undefined;
  });
  const worst = Math.max(...s.map((h) => h.eventLoopMaxMs));
  assert.ok(worst >= 250, `the 300 ms stall shows (longest delay sampled: ${worst} ms)`);
});
