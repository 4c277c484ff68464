// A partition on the virtual LAN (issue 9, part 3): three hosts, host 1's link cut while it keeps running, then
// healed. The cut host is a minority: it acknowledges no write (503 unavailable + Retry-After once it sees it is
// alone) and serves no history read (its copy may end in writes nobody acknowledged). The two others are a
// majority: they take over the cut host's channels and keep acknowledging. After the heal: every acknowledged
// message is in every node's history at its acknowledged offset, no offset holds two messages, each subscriber
// (one on the cut host, one on the majority) saw a gap-free stream (or was told with recovered:false), and the cut
// host is back in every view and takes writes again. Needs root: fails (never skips) without it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createVlanCluster, TestClient, type VlanCluster, type VlanNode } from '../../lib/testing/index.js';
import { channelOwnedBy, publishRetrying, until } from './vlan-support.js';

let cluster: VlanCluster;
const clients: TestClient[] = [];

before(async () => {
  cluster = await createVlanCluster({ hosts: 3 });
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
});

type Frame = Record<string, unknown> & { type: string };
const ids = (group: readonly VlanNode[]) => group.map((n) => n.id).sort();

/** What the test had acknowledged: channel -> offset -> the message's tag (every publish carries a unique one). */
const acked = new Map<string, Map<number, string>>();
let epochs = new Map<string, string>();
function record(channel: string, ack: { epoch: string; offset: number }, tag: string): void {
  const prev = epochs.get(channel);
  assert.ok(prev === undefined || prev === ack.epoch, `${channel}: epoch changed from ${prev} to ${ack.epoch}`);
  epochs.set(channel, ack.epoch);
  const at = acked.get(channel) ?? new Map<number, string>();
  acked.set(channel, at);
  assert.equal(at.get(ack.offset) ?? tag, tag, `${channel}: offset ${ack.offset} acknowledged for two messages`);
  at.set(ack.offset, tag);
}

/** Waits until each node of `group` lists exactly `want`. */
function viewsBecome(what: string, group: readonly VlanNode[], want: string[], ms = 30_000): Promise<true> {
  return until(what, ms, async () => {
    const views = await Promise.all(group.map((n) => n.view()));
    return views.every((v) => v?.join() === want.join()) ? true : undefined;
  }, 25);
}

/** A subscriber's stream on `channel` goes +1 from its first subscription, or jumps only after recovered:false. */
function checkStream(client: TestClient, channel: string): { messages: number; signalled: number } {
  let pos: { epoch: string; offset: number } | null = null;
  let told = false;
  let messages = 0;
  let signalled = 0;
  for (const f of client.frames as Frame[]) {
    if (f.channel !== channel) continue;
    if (f.type === 'subscribed') {
      if (pos === null) pos = { epoch: f.epoch as string, offset: f.offset as number };
      else if (f.recovered === false) told = true;
    } else if (f.type === 'message') {
      messages++;
      const m = { epoch: f.epoch as string, offset: f.offset as number };
      assert.ok(pos, `${channel}: a message before the subscription`);
      if (m.epoch !== pos.epoch || m.offset !== pos.offset + 1) {
        assert.ok(told, `${channel}: silent gap from ${JSON.stringify(pos)} to ${JSON.stringify(m)}`);
        signalled++;
      }
      told = false;
      pos = m;
    }
  }
  return { messages, signalled };
}

test('a cut host acknowledges nothing, the majority serves its channels, and the heal loses nothing', { timeout: 110_000 }, async (t) => {
  const [cut, a, b] = cluster.nodes as [VlanNode, VlanNode, VlanNode];
  const majority = [a, b];
  // Two channels the cut host owns, one a majority node owns.
  const channels = [await channelOwnedBy(a, cut.id, 'part-x'), await channelOwnedBy(a, cut.id, 'part-y'), await channelOwnedBy(a, a.id, 'part-z')];
  let n = 0;
  const publish = async (via: VlanNode, channel: string, ms = 15_000) => {
    const tag = `m${++n}`;
    record(channel, await publishRetrying(via, channel, { tag }, ms), tag);
  };
  for (const c of channels) for (const via of cluster.nodes) await publish(via, c);

  // One subscriber on the host about to be cut, one on the majority.
  const subscribers: TestClient[] = [];
  for (const [i, host] of [cut, a].entries()) {
    const { client } = await TestClient.connect(host.controlUrl, { token: await host.token(`reader-${i}`) });
    clients.push(client);
    subscribers.push(client);
    for (const c of channels) assert.equal((await client.subscribe(c)).type, 'subscribed');
  }

  cluster.cut(0);
  try {
    // From the cut on, the cut host acknowledges no write, whoever owns the channel; once it sees it is alone it
    // answers 503 unavailable with Retry-After, at once.
    let refusals = 0;
    await until('the cut host answers 503 unavailable with Retry-After', 30_000, async () => {
      for (const c of channels) {
        const r = await cut.api('POST', `/v1/channels/${c}/messages`, { data: { tag: `minority-${refusals}` } }, {}, 10_000)
          .catch((err: Error) => ({ status: 0, body: err.message, headers: new Headers() }));
        assert.notEqual(r.status, 200, `the cut host acknowledged a write on ${c}: ${JSON.stringify(r.body)}`);
        refusals++;
        if (r.status !== 503 || r.body?.error?.code !== 'unavailable' || !r.headers.get('retry-after')) return undefined;
      }
      return true;
    }, 100);
    t.diagnostic(`the cut host refused ${refusals} publishes`);
    await viewsBecome('the cut host lists only itself', [cut], [cut.id]);
    for (const c of channels) {
      const r = await cut.api('GET', `/v1/channels/${c}/history?since=0`);
      assert.equal(r.status, 503, `history of ${c} read on the cut host: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'unavailable');
    }
    // A new client connection there is refused too (its user's system channel has no owner on this side).
    await assert.rejects(TestClient.connect(cut.controlUrl, { token: await cut.token('late') }),
      (err: Error & { frame?: Frame }) => err.frame?.code === 'unavailable');
    // The majority drops it and takes its channels over with the same epoch: writes through either node succeed.
    await viewsBecome('the majority drops the cut host', majority, ids(majority));
    for (const c of channels) for (const via of majority) await publish(via, c);
    for (const c of channels) {
      const owner = (await a.api('GET', `/v1/channels/${c}/owner`)).body.owner;
      assert.ok(ids(majority).includes(owner), `${c} is owned by ${owner.slice(0, 8)} during the partition`);
    }
    // The majority's subscriber sees the majority's writes while the partition lasts.
    for (const c of channels) {
      const last = Math.max(...acked.get(c)!.keys());
      await until(`the majority's subscriber gets ${c} up to ${last}`, 10_000, async () =>
        subscribers[1]!.messages(c).some((m) => m.offset === last) ? true : undefined);
    }
  } finally {
    cluster.heal(0);
  }

  // The cut host rejoins, gets its channels back and takes writes again.
  await viewsBecome('after the heal every view lists all three', cluster.nodes, ids(cluster.nodes), 60_000);
  for (const c of channels.slice(0, 2)) {
    await until(`${c} is owned by the healed host again`, 15_000, async () =>
      (await a.api('GET', `/v1/channels/${c}/owner`)).body.owner === cut.id ? true : undefined);
  }
  for (const c of channels) await publish(cut, c);

  // Nothing acknowledged is lost, and every node reads the same history.
  for (const c of channels) {
    const want = acked.get(c)!;
    const last = Math.max(...want.keys());
    for (const node of cluster.nodes) {
      const r = await until(`${c}'s history through node ${node.index}`, 15_000, async () => {
        const h = await node.api('GET', `/v1/channels/${c}/history?since=0`);
        return h.status === 200 && h.body.offset >= last ? h : undefined;
      });
      assert.equal(r.body.epoch, epochs.get(c), `${c}: the epoch changed`);
      const offsets = (r.body.messages as Frame[]).map((m) => m.offset as number);
      assert.deepEqual(offsets, Array.from({ length: r.body.offset }, (_, i) => i + 1), `${c}: offsets through node ${node.index}`);
      for (const [offset, tag] of want) {
        const m = (r.body.messages as Frame[])[offset - 1]!;
        assert.equal((m.data as { tag?: string }).tag, tag, `${c}: acknowledged ${tag} at ${offset}, node ${node.index} has ${JSON.stringify(m.data)}`);
      }
    }
  }

  // Each subscriber catches up to the end, gap-free or told, and never saw two messages at one offset.
  for (const [i, s] of subscribers.entries()) {
    for (const c of channels) {
      const last = Math.max(...acked.get(c)!.keys());
      await until(`subscriber ${i} gets ${c} up to ${last}`, 30_000, async () => s.messages(c).some((m) => m.offset === last) ? true : undefined);
      const { messages, signalled } = checkStream(s, c);
      t.diagnostic(`subscriber on host ${i === 0 ? 1 : 2}, ${c}: ${messages} messages, ${signalled} signalled gaps`);
      for (const m of s.messages(c)) {
        const tag = (m.data as { tag?: string }).tag;
        const want = acked.get(c)!.get(m.offset as number);
        if (want !== undefined) assert.equal(tag, want, `${c}: subscriber ${i} got ${tag} at ${m.offset as number}, acknowledged: ${want}`);
      }
    }
  }
});
