// Two copies of every channel, in-process clusters on a loopback testnet: acknowledged writes survive the crash of
// their owner with the same epoch, settings and bans survive, a crashed replica is replaced and caught up, a
// retried publish id is applied once across a failover, a node left alone refuses writes, and --min-copies 1
// trades that for availability.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createTestCluster, TestClient, type TestCluster } from '../../lib/testing/index.js';
import type { ClusterTestNode } from '../../lib/testing/cluster.js';

const clusters: TestCluster[] = [];
const clients: TestClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(clusters.map((c) => c.stop()));
});

async function cluster(n: number, options: Parameters<typeof createTestCluster>[1] = {}): Promise<TestCluster> {
  const c = await createTestCluster(n, options);
  clusters.push(c);
  return c;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

/** Where a channel lives, as its owner answers. */
async function placement(via: ClusterTestNode, channel: string) {
  const r = await via.api('GET', `/v1/channels/${channel}/owner`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { owner: string; replicas: string[]; loaded: boolean; epoch?: string; replica: { node: string; caughtUp: boolean } | null };
}

/** A channel name whose owner is `owner` and whose replica is `replica` (node ids), in a converged cluster. */
async function channelPlaced(c: TestCluster, owner: string, replica: string | null, prefix: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const name = `${prefix}-${i}`;
    const p = await placement(c.nodes[0]!, name);
    if (p.owner === owner && (replica === null || p.replicas[0] === replica)) return name;
  }
  throw new Error('no such channel');
}

/** Waits until `node` lists itself alone; its GET /v1/cluster answer then. */
async function alone(node: ClusterTestNode) {
  await until('the node sees itself alone', 10_000, async () =>
    ((await node.api('GET', '/v1/cluster')).body.members.length === 1 ? true : undefined));
  return node.api('GET', '/v1/cluster');
}

/** Publishes through `via`, retrying while the answer is 503 (a take-over in progress). */
async function publish(via: ClusterTestNode, channel: string, body: Record<string, unknown>, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await via.api('POST', `/v1/channels/${channel}/messages`, body);
    if (r.status === 200 || r.status !== 503 || Date.now() > deadline) return r;
    await sleep(50);
  }
}

describe('a 3-node cluster', () => {
  test('the owner reports its replica caught up, and the cluster reports two copies with a quorum', async () => {
    const c = await cluster(3);
    const [a, b] = c.nodes;
    const ch = await channelPlaced(c, a!.id, b!.id, 'placed');
    const r = await publish(c.nodes[2]!, ch, { data: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = await placement(c.nodes[2]!, ch);
    assert.equal(p.owner, a!.id);
    assert.deepEqual(p.replicas, [b!.id]);
    assert.equal(p.loaded, true);
    assert.deepEqual(p.replica, { node: b!.id, caughtUp: true, lag: 0 });
    const cl = await b!.api('GET', '/v1/cluster');
    assert.equal(cl.body.replication.copies, 2);
    assert.equal(cl.body.replication.quorum, true);
    assert.equal(cl.body.replication.writable, true);
    assert.deepEqual(cl.body.replication.known, c.nodes.map((n) => n.id).sort());
    const metrics = await (await fetch(`${a!.url}/metrics`)).text();
    assert.match(metrics, /hashpub_replication_frames_total\{kind="append"\} [1-9]/);
  });

  test('the owner crashes: its replica continues the same stream, with config, bans and publish ids', async () => {
    const c = await cluster(3);
    const [a, b, w] = c.nodes;
    const ch = await channelPlaced(c, a!.id, b!.id, 'crash');
    assert.equal((await w!.api('PUT', `/v1/channels/${ch}/config`, { history: { size: 500 }, clientPublish: true })).status, 200);
    assert.equal((await w!.api('POST', `/v1/channels/${ch}/kick`, { user: 'troll', ban: 600 })).status, 200);
    const { client: sub } = await TestClient.connect(w!.url, { token: await w!.token('reader') });
    clients.push(sub);
    const ok = await sub.subscribe(ch);
    assert.equal(ok.type, 'subscribed');
    const acks = [];
    for (let i = 1; i <= 20; i++) {
      const r = await publish(w!, ch, { data: { i }, id: `pub-${i}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      acks.push(r.body);
    }
    await sub.waitMessages(ch, 20);
    await a!.crash();
    // Retrying the last publish (same id) through another node answers the original offset, once.
    const retry = await publish(w!, ch, { data: { i: 20 }, id: 'pub-20' });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.deepEqual({ ...retry.body }, { ...acks[19], duplicate: true }, 'a retried id answers the original epoch and offset');
    const next = await publish(w!, ch, { data: { i: 21 } });
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal(next.body.epoch, acks[0].epoch, 'same epoch after the owner crashed');
    assert.equal(next.body.offset, 21, 'offsets continue');
    const p = await placement(w!, ch);
    assert.equal(p.owner, b!.id, 'the replica took the channel over');
    assert.equal(p.replica?.node, w!.id, 'and made the third node its replica');
    assert.equal(p.replica?.caughtUp, true);
    // The subscriber on the third node was re-registered without a gap.
    const got = await sub.waitMessages(ch, 21);
    assert.deepEqual(got.map((m) => m.offset), Array.from({ length: 21 }, (_, i) => i + 1));
    assert.deepEqual(sub.frames.filter((f) => f.type === 'subscribed' && f.recovered === false && f.resumed === true), []);
    // Config and bans survived.
    assert.equal((await w!.api('GET', `/v1/channels/${ch}/config`)).body.history.size, 500);
    const { client: troll } = await TestClient.connect(w!.url, { token: await w!.token('troll') });
    clients.push(troll);
    assert.equal((await troll.subscribe(ch)).code, 'banned', 'the ban survived the crash');
    const h = await w!.api('GET', `/v1/channels/${ch}/history?since=0&limit=1000`);
    assert.deepEqual(h.body.messages.map((m: { offset: number }) => m.offset), Array.from({ length: 21 }, (_, i) => i + 1));
  });

  test('the replica crashes and comes back: the owner moves to a new replica, then catches the old one up by offset', async () => {
    const c = await cluster(3);
    const [a, b, w] = c.nodes;
    const ch = await channelPlaced(c, a!.id, b!.id, 'replica');
    for (let i = 1; i <= 10; i++) assert.equal((await publish(w!, ch, { data: i })).status, 200);
    await b!.crash();
    for (let i = 11; i <= 20; i++) {
      const r = await publish(w!, ch, { data: i });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const p = await placement(w!, ch);
    assert.equal(p.replica?.node, w!.id, 'the third node is the replica while the old one is away');
    const b2 = await b!.restart();
    await until('the owner uses the returning node as replica again, caught up', 10_000, async () => {
      const q = await placement(w!, ch);
      return q.replica?.node === b2.id && q.replica.caughtUp ? true : undefined;
    });
    for (let i = 21; i <= 25; i++) assert.equal((await publish(w!, ch, { data: i })).status, 200);
    // The returned replica holds everything: when the owner crashes now, nothing is missing.
    await a!.crash();
    const r = await publish(w!, ch, { data: 26 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.offset, 26);
    const h = await w!.api('GET', `/v1/channels/${ch}/history?since=0&limit=100`);
    assert.deepEqual(h.body.messages.map((m: { data: number }) => m.data), Array.from({ length: 26 }, (_, i) => i + 1));
  });
});

describe('when copies are lost', () => {
  test('a node left alone by a crashed peer refuses to own channels (503), reads included, until the peer is back', async () => {
    const c = await cluster(2);
    const [a, b] = c.nodes;
    const ch = await channelPlaced(c, a!.id, null, 'alone');
    for (let i = 1; i <= 3; i++) assert.equal((await publish(b!, ch, { data: i })).status, 200);
    await b!.crash();
    const cl = await alone(a!);
    assert.equal(cl.body.replication.copies, 2);
    assert.equal(cl.body.replication.quorum, false);
    assert.equal(cl.body.replication.writable, false);
    const r = await a!.api('POST', `/v1/channels/${ch}/messages`, { data: 4 });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'unavailable');
    assert.ok(r.headers.get('retry-after'));
    // Its own copy may end in writes nobody acknowledged (the other side may own the channel now): not served.
    const h = await a!.api('GET', `/v1/channels/${ch}/history`);
    assert.equal(h.status, 503, JSON.stringify(h.body));
    // The peer comes back: writes are accepted again, on the same stream.
    await b!.restart();
    const again = await publish(a!, ch, { data: 4 });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.offset, 4);
  });

  test('a peer that left on purpose does not count: the node alone keeps accepting writes, same stream', async () => {
    const c = await cluster(2);
    const [a, b] = c.nodes;
    const ch = await channelPlaced(c, b!.id, null, 'left');
    const first = await publish(a!, ch, { data: 1 });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    await b!.stop();
    const cl = await alone(a!);
    assert.deepEqual(cl.body.replication.known, [a!.id]);
    assert.equal(cl.body.replication.copies, 1);
    assert.equal(cl.body.replication.writable, true);
    const r = await publish(a!, ch, { data: 2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.epoch, r.body.offset], [first.body.epoch, 2], 'the stream moved with the graceful leave');
  });

  test('--min-copies 1: the survivor keeps accepting writes', async () => {
    const c = await cluster(2, { minCopies: 1 });
    const [a, b] = c.nodes;
    const ch = await channelPlaced(c, a!.id, null, 'available');
    assert.equal((await publish(b!, ch, { data: 1 })).status, 200);
    await b!.crash();
    const cl = await alone(a!);
    assert.equal(cl.body.replication.copies, 1);
    assert.equal(cl.body.replication.minCopies, 1);
    const r = await publish(a!, ch, { data: 2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.offset, 2);
  });

  test('owner and replica crash together (5 nodes): the stream restarts in a new epoch, signalled to subscribers', async () => {
    const c = await cluster(5);
    const [a, b] = c.nodes;
    const ch = await channelPlaced(c, a!.id, b!.id, 'both');
    const others = c.nodes.slice(2);
    const first = await publish(others[0]!, ch, { data: 1 });
    assert.equal(first.status, 200);
    const { client: sub } = await TestClient.connect(others[1]!.url, { token: await others[1]!.token('reader') });
    clients.push(sub);
    await sub.subscribe(ch, { epoch: first.body.epoch, offset: 0 });
    await sub.waitMessages(ch, 1);
    await Promise.all([a!.crash(), b!.crash()]);
    const r = await publish(others[0]!, ch, { data: 2 }, 15_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.notEqual(r.body.epoch, first.body.epoch, 'both copies are gone: a new epoch');
    assert.equal(r.body.offset, 1);
    const gap = await sub.next((f) => f.type === 'subscribed' && f.channel === ch && f.resumed === true, 10_000);
    assert.equal(gap.recovered, false, 'the subscriber is told it may have missed messages');
  });
});
