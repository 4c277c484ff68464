// Presence across a cluster: members subscribed through several push nodes are one member set at the owner, and a
// push node that crashes takes its members out with one batched leave.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTestCluster, TestClient, type TestCluster } from '../../lib/testing/index.js';

let cluster: TestCluster | undefined;
const clients: TestClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

type Frame = Record<string, unknown> & { type: string };

/** The member list a client holds from the presence frames it got. */
function list(frames: Frame[], channel: string): string[] {
  const m = new Set<string>();
  for (const f of frames) {
    if (f.type !== 'presence' || f.channel !== channel) continue;
    if (Array.isArray(f.members)) { m.clear(); for (const u of f.members as string[]) m.add(u); }
    for (const u of (f.joins as string[] | undefined) ?? []) m.add(u);
    for (const u of (f.leaves as string[] | undefined) ?? []) m.delete(u);
  }
  return [...m].sort();
}

test('a crashed push node takes its members out with one batched leave', async () => {
  cluster = await createTestCluster(3, { presenceIntervalMs: 200 });
  const [a, b, c] = cluster.nodes;
  let room = '';
  for (let i = 0; i < 300 && !room; i++) {
    const p = await a!.api('GET', `/v1/channels/room-${i}/owner`);
    if (p.body.owner === a!.id) room = `room-${i}`;
  }
  assert.equal((await a!.api('PUT', `/v1/channels/${room}/config`, { presenceEvents: true })).status, 200);
  const connect = async (node: typeof a, user: string) => {
    const { client } = await TestClient.connect(node!.url, { token: await node!.token(user) });
    clients.push(client);
    assert.equal((await client.subscribe(room)).type, 'subscribed');
    return client;
  };
  const watcher = await connect(c, 'watcher');
  await Promise.all(['b1', 'b2', 'b3'].map((u) => connect(b, u)));
  await connect(a, 'a1');
  const everyone = ['a1', 'b1', 'b2', 'b3', 'watcher'];
  await watcher.next(() => list(watcher.frames, room).join() === everyone.join(), 10_000);
  const p = await c!.api('GET', `/v1/channels/${room}/presence`);
  assert.deepEqual(p.body.users, everyone);
  const before = watcher.frames.length;
  await b!.crash();
  await watcher.next(() => list(watcher.frames, room).join() === ['a1', 'watcher'].join(), 10_000);
  const leaves = watcher.frames.slice(before).filter((f) => f.type === 'presence' && Array.isArray(f.leaves) && (f.leaves as string[]).length > 0);
  assert.equal(leaves.length, 1, `one batched leave, got ${JSON.stringify(leaves)}`);
  assert.deepEqual([...(leaves[0]!.leaves as string[])].sort(), ['b1', 'b2', 'b3']);
});
