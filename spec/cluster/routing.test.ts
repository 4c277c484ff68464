// A 3-node loopback cluster: every node agrees on placement; subscribe, publish, user messages, presence,
// history, config and kick work from any node; a node that stops hands its channels to the others.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestCluster, TestClient, type TestCluster } from '../../lib/testing/index.js';

let cluster: TestCluster;
const clients: TestClient[] = [];

before(async () => {
  cluster = await createTestCluster(3);
  assert.match(cluster.bootstrap, /^127\.\d+\.\d+\.\d+:\d+$/, 'bootstrap is not loopback');
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

async function connect(nodeIndex: number, user: string): Promise<TestClient> {
  const t = cluster.nodes[nodeIndex]!;
  const { client } = await TestClient.connect(t.url, { token: await t.token(user) });
  clients.push(client);
  return client;
}

async function ownerOf(channel: string): Promise<string> {
  const r = await cluster.nodes[0]!.api('GET', `/v1/channels/${channel}/owner`);
  assert.equal(r.status, 200);
  return r.body.owner as string;
}

/** A channel name whose owner is node `want` (by index). */
async function channelOwnedBy(want: number, prefix: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const c = `${prefix}-${i}`;
    if (await ownerOf(c) === cluster.nodes[want]!.id) return c;
  }
  throw new Error('no channel found');
}

test('every node lists all members and agrees on the owner of 50 channels', async () => {
  const views = await Promise.all(cluster.nodes.map((t) => t.api('GET', '/v1/cluster')));
  const ids = cluster.nodes.map((t) => t.id).sort();
  for (const [i, v] of views.entries()) {
    assert.equal(v.status, 200);
    assert.equal(v.body.self, cluster.nodes[i]!.id);
    assert.deepEqual(v.body.members.map((m: { id: string }) => m.id).sort(), ids);
    for (const m of v.body.members) assert.equal(m.url, cluster.nodes.find((t) => t.id === m.id)!.url);
  }
  const owners = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const answers = await Promise.all(cluster.nodes.map((t) => t.api('GET', `/v1/channels/agree-${i}/owner`)));
    for (const a of answers) assert.deepEqual(a.body, answers[0]!.body);
    assert.ok(ids.includes(answers[0]!.body.owner));
    assert.equal(answers[0]!.body.replicas.length, 1, "one replica: the second copy");
    owners.add(answers[0]!.body.owner);
  }
  assert.equal(owners.size, 3, 'all three nodes own some of 50 channels');
});

test('publishes via two other nodes reach a subscriber in order, without duplicates', async () => {
  const channel = await channelOwnedBy(2, 'order');
  const sub = await connect(0, 'alice');
  const ok = await sub.subscribe(channel);
  assert.equal(ok.type, 'subscribed');
  const N = 40;
  const sends: Array<Promise<unknown>> = [];
  for (let i = 0; i < N; i++) {
    const via = cluster.nodes[1 + (i % 2)]!;
    sends.push(via.api('POST', `/v1/channels/${channel}/messages`, { data: { i } }).then((r) => assert.equal(r.status, 200, JSON.stringify(r.body))));
  }
  await Promise.all(sends);
  const got = await sub.waitMessages(channel, N);
  assert.deepEqual(got.map((m) => m.offset), Array.from({ length: N }, (_, i) => i + 1));
  // And a publish via the subscriber's own node.
  await cluster.nodes[0]!.api('POST', `/v1/channels/${channel}/messages`, { data: 'last' });
  assert.equal((await sub.waitMessages(channel, N + 1)).at(-1)!.offset, N + 1);
});

test('a user message reaches the user on two other nodes', async () => {
  const a = await connect(1, 'ursula');
  const b = await connect(2, 'ursula');
  const r = await cluster.nodes[0]!.api('POST', '/v1/users/ursula/messages', { data: 'hi' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.delivered, true);
  for (const c of [a, b]) {
    const m = await c.next((f) => f.type === 'message' && f.data === 'hi');
    assert.equal(m.channel, '$user:ursula');
  }
});

test('presence, history, config and kick work from any node', async () => {
  const channel = await channelOwnedBy(1, 'ops');
  const bob = await connect(0, 'bob');
  await bob.subscribe(channel);
  for (const t of cluster.nodes) {
    const p = await t.api('GET', `/v1/channels/${channel}/presence`);
    assert.equal(p.status, 200);
    assert.deepEqual(p.body.users, ['bob']);
    assert.deepEqual(p.body.nodes, { [cluster.nodes[0]!.id]: 1 }, 'subscribers per push node');
  }
  await cluster.nodes[2]!.api('POST', `/v1/channels/${channel}/messages`, { data: 1 });
  await cluster.nodes[0]!.api('POST', `/v1/channels/${channel}/messages`, { data: 2 });
  for (const t of cluster.nodes) {
    const h = await t.api('GET', `/v1/channels/${channel}/history`);
    assert.equal(h.status, 200);
    assert.deepEqual(h.body.messages.map((m: { data: unknown }) => m.data), [1, 2]);
  }
  const put = await cluster.nodes[2]!.api('PUT', `/v1/channels/${channel}/config`, { clientPublish: true });
  assert.equal(put.status, 200);
  assert.equal((await cluster.nodes[0]!.api('GET', `/v1/channels/${channel}/config`)).body.clientPublish, true);
  // An error code survives the hop.
  const bad = await cluster.nodes[0]!.api('PUT', `/v1/channels/${channel}/config`, { history: { size: -1 } });
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  const k = await cluster.nodes[2]!.api('POST', `/v1/channels/${channel}/kick`, { user: 'bob', ban: 60 });
  assert.equal(k.status, 200);
  assert.equal(k.body.kicked, 1);
  const kicked = await bob.next((f) => f.type === 'kicked');
  assert.equal(kicked.channel, channel);
  const again = await bob.subscribe(channel);
  assert.equal(again.type, 'error');
  assert.equal(again.code, 'banned');
});

test('a node that stops hands its channels over: same epoch, offsets continue, no gap for subscribers elsewhere', async (t) => {
  const gone = cluster.nodes[2]!;
  const channel = await channelOwnedBy(2, 'move');
  const sub = await connect(0, 'carol');
  const first = await sub.subscribe(channel);
  for (const data of ['before-1', 'before-2']) await cluster.nodes[1]!.api('POST', `/v1/channels/${channel}/messages`, { data });
  await sub.waitMessages(channel, 2);
  const stopping = Date.now();
  await gone.stop();
  const stopMs = Date.now() - stopping;
  await cluster.converged();
  t.diagnostic(`leave: stop() with handover took ${stopMs} ms; views converged ${Date.now() - stopping} ms after it began`);
  const owner = await ownerOf(channel);
  assert.notEqual(owner, gone.id);
  const r = await cluster.nodes[1]!.api('POST', `/v1/channels/${channel}/messages`, { data: 'after' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.epoch, first.epoch, 'the stream moved with its epoch');
  assert.equal(r.body.offset, 3, 'offsets continue where the old owner stopped');
  const msgs = await sub.waitMessages(channel, 3);
  assert.deepEqual(msgs.map((m) => m.offset), [1, 2, 3]);
  const gaps = sub.frames.filter((f) => f.type === 'subscribed' && f.recovered === false && f.channel === channel);
  assert.deepEqual(gaps.slice(1), [], 'no gap was signalled because none happened');
  const h = await cluster.nodes[0]!.api('GET', `/v1/channels/${channel}/history`);
  assert.deepEqual(h.body.messages.map((m: { data: string }) => m.data), ['before-1', 'before-2', 'after'], 'history moved too');
});

test('a publish burst crosses to a push node in fewer frames than messages; its subscribers get every one in order', async () => {
  const channel = await channelOwnedBy(0, 'burst');
  const reader = await connect(1, 'burst-reader');
  await reader.subscribe(channel);
  const owner = cluster.nodes[0]!;
  const pushFrames = async () => {
    const text = await (await fetch(`${owner.url}/metrics`)).text();
    return Number(/hashpub_peer_frames_total\{direction="out",kind="push"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  const before = await pushFrames();
  const n = 60;
  let next = 0;
  await Promise.all(Array.from({ length: 30 }, async () => {
    while (next < n) {
      next++;
      const r = await owner.api('POST', `/v1/channels/${channel}/messages`, { data: 'x' });
      assert.equal(r.status, 200);
    }
  }));
  const msgs = await reader.waitMessages(channel, n, 10_000);
  assert.deepEqual(msgs.map((m) => m.offset), Array.from({ length: n }, (_, i) => i + 1));
  const frames = (await pushFrames()) - before;
  assert.ok(frames > 0 && frames < n, `${frames} push frames for ${n} messages`);
});
