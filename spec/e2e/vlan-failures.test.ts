// Failures across hosts on a virtual LAN (one `hashpub start` per network namespace, `hashpub bootstrap` on
// its own): kill -9 of a node, a node paused with SIGSTOP, and a host whose link is cut, then healed. Nodes bind
// `--host 0.0.0.0 --dht-host <cluster address>`, so the test still reaches a cut host over the control network.
// Needs root: fails (never skips) without it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createVlanCluster, TestClient, type VlanCluster, type VlanNode } from '../../lib/testing/index.js';
import { channelOwnedBy, members, publishRetrying, until } from './vlan-support.js';

let cluster: VlanCluster;
const clients: TestClient[] = [];

before(async () => {
  cluster = await createVlanCluster({ hosts: 3 });
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
});

const ids = (group: readonly VlanNode[]) => group.map((n) => n.id).sort();

/** Waits until each node of `group` lists exactly `want` (ids). */
function viewsBecome(what: string, group: readonly VlanNode[], want: string[], ms = 30_000): Promise<number> {
  const t0 = Date.now();
  return until(what, ms, async () => {
    const views = await Promise.all(group.map((n) => n.view()));
    return views.every((v) => v?.join() === want.join()) ? Date.now() - t0 : undefined;
  }, 25);
}

test('members advertise their cluster address, not 0.0.0.0, though they bind every address', async () => {
  for (const n of cluster.nodes) {
    const r = await n.api('GET', '/v1/cluster');
    assert.deepEqual(members(r.body), cluster.nodes.map((m) => ({ id: m.id, url: `http://${m.host.address}:8080` }))
      .sort((a, b) => a.id.localeCompare(b.id)));
  }
});

test('kill -9 of host 1\'s node: the others drop it, and its channels take publishes again through the survivors', async (t) => {
  const [victim, ...survivors] = cluster.nodes as [VlanNode, VlanNode, VlanNode];
  const channels = [await channelOwnedBy(survivors[0], victim.id, 'dead-a'), await channelOwnedBy(survivors[0], victim.id, 'dead-b')];
  for (const c of channels) assert.equal((await publishRetrying(survivors[1], c, { before: true }, 5000)).offset, 1);
  const { client } = await TestClient.connect(survivors[0].url, { token: await survivors[0].token('watcher') });
  clients.push(client);
  for (const c of channels) assert.equal((await client.subscribe(c)).type, 'subscribed');

  await victim.kill('SIGKILL');
  const detected = await viewsBecome('both survivors drop the killed node', survivors, ids(survivors));
  t.diagnostic(`kill -9 across hosts: survivors dropped it after ${detected} ms`);
  for (const [i, c] of channels.entries()) {
    const via = survivors[i % 2]!;
    const ack = await publishRetrying(via, c, { after: i }, 15_000);
    assert.ok(ack.offset >= 1, JSON.stringify(ack));
    const owner = (await via.api('GET', `/v1/channels/${c}/owner`)).body.owner;
    assert.ok(ids(survivors).includes(owner), `${c} is owned by ${owner}, not a survivor`);
  }
  // The subscriber on a survivor gets what was published after the failover.
  for (const [i, c] of channels.entries()) {
    await until(`the subscriber on host 2 gets the post-failover message on ${c}`, 10_000, async () =>
      client.messages(c).some((m) => (m.data as { after?: number }).after === i) ? true : undefined);
  }

  // Restarted on the same data dir, it comes back into every view with the same id.
  const id = victim.id;
  await victim.start();
  assert.equal(victim.id, id);
  await viewsBecome('the restarted node is back in every view', cluster.nodes, ids(cluster.nodes));
});

test('cutting host 1\'s link: the others drop it and it drops them; healing brings it back into every view', async (t) => {
  const [cut, ...others] = cluster.nodes as [VlanNode, VlanNode, VlanNode];
  await cluster.converged();
  cluster.cut(0);
  try {
    const dropped = await viewsBecome('the other hosts drop the cut host', others, ids(others));
    t.diagnostic(`link cut: the others dropped it after ${dropped} ms`);
    // Still reachable over the control network: it lists only itself.
    await viewsBecome('the cut host lists only itself', [cut], [cut.id]);
  } finally {
    cluster.heal(0);
  }
  const back = await viewsBecome('after the heal, every view lists all three', cluster.nodes, ids(cluster.nodes), 60_000);
  t.diagnostic(`link healed: every view has all three after ${back} ms`);
});

test('a node paused with SIGSTOP is dropped; after SIGCONT it is back in every view', async (t) => {
  const [paused, ...others] = cluster.nodes as [VlanNode, VlanNode, VlanNode];
  await cluster.converged();
  await paused.pause();
  try {
    const dropped = await viewsBecome('the others drop the paused node', others, ids(others));
    t.diagnostic(`SIGSTOP: the others dropped it after ${dropped} ms`);
  } finally {
    await paused.resume();
  }
  const back = await viewsBecome('after SIGCONT, every view lists all three', cluster.nodes, ids(cluster.nodes), 60_000);
  t.diagnostic(`SIGCONT: every view has all three after ${back} ms`);
});
