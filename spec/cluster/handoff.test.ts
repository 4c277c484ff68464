// Channel state moves with ownership: a node that joins takes over the channels it wins with their epoch,
// offsets, history, config and bans; subscribers elsewhere are re-registered and see no gap.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestCluster, TestClient, type TestCluster } from '../../lib/testing/index.js';

let cluster: TestCluster;
const clients: TestClient[] = [];

before(async () => { cluster = await createTestCluster(2); });
after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

test('a joining node takes over the channels it wins: same epoch, offsets continue, history, config and bans move', async (t) => {
  const [n0, n1] = cluster.nodes;
  const channels = Array.from({ length: 24 }, (_, i) => `join-${i}`);
  const subs: TestClient[] = [];
  const epochs = new Map<string, string>();
  for (const [i, ch] of channels.entries()) {
    const node = cluster.nodes[i % 2]!;
    const { client } = await TestClient.connect(node.url, { token: await node.token(`reader-${i}`) });
    clients.push(client);
    subs.push(client);
    assert.equal((await client.subscribe(ch)).type, 'subscribed');
    await n0!.api('PUT', `/v1/channels/${ch}/config`, { clientPublish: true });
    await n1!.api('POST', `/v1/channels/${ch}/kick`, { user: 'troll', ban: 600 });
    for (let k = 1; k <= 3; k++) {
      const r = await n0!.api('POST', `/v1/channels/${ch}/messages`, { data: `${ch}-${k}` });
      epochs.set(ch, r.body.epoch);
    }
  }
  const joinedAt = Date.now();
  const n2 = await cluster.addNode();
  const owners = await Promise.all(channels.map(async (ch) => (await n0!.api('GET', `/v1/channels/${ch}/owner`)).body.owner as string));
  const moved = channels.filter((_, i) => owners[i] === n2.id);
  assert.ok(moved.length > 0, 'the new node won some channels');
  let firstWriteMs = -1;
  for (const [i, ch] of channels.entries()) {
    const r = await cluster.nodes[(i + 1) % 3]!.api('POST', `/v1/channels/${ch}/messages`, { data: `${ch}-4` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (firstWriteMs < 0 && moved.includes(ch)) firstWriteMs = Date.now() - joinedAt;
    assert.equal(r.body.epoch, epochs.get(ch), `${ch} kept its epoch`);
    assert.equal(r.body.offset, 4, `${ch} continued its offsets`);
  }
  t.diagnostic(`join: ${moved.length}/${channels.length} channels moved to the new node; first write on a moved channel ${firstWriteMs} ms after join started (includes node start and convergence)`);
  for (const [i, ch] of channels.entries()) {
    const msgs = await subs[i]!.waitMessages(ch, 4);
    assert.deepEqual(msgs.map((m) => m.offset), [1, 2, 3, 4], `${ch}: no gap, no repeat`);
    const gaps = subs[i]!.frames.filter((f) => f.type === 'subscribed' && f.resumed === true && f.recovered === false);
    assert.deepEqual(gaps, [], `${ch}: nothing signalled as lost`);
  }
  for (const ch of moved) {
    const h = await n2.api('GET', `/v1/channels/${ch}/history`);
    assert.deepEqual(h.body.messages.map((m: { data: string }) => m.data), [1, 2, 3, 4].map((k) => `${ch}-${k}`));
    assert.equal((await n2.api('GET', `/v1/channels/${ch}/config`)).body.clientPublish, true, 'config moved');
    const { client: troll } = await TestClient.connect(n2.url, { token: await n2.token('troll') });
    clients.push(troll);
    assert.equal((await troll.subscribe(ch)).code, 'banned', 'bans moved');
  }
  // A client that had dropped off resumes on the new owner's node with recovered: true.
  const ch = moved[0]!;
  const { client: late } = await TestClient.connect(n2.url, { token: await n2.token('late') });
  clients.push(late);
  const again = await late.subscribe(ch, { epoch: epochs.get(ch)!, offset: 2 });
  assert.equal(again.recovered, true);
  assert.deepEqual((await late.waitMessages(ch, 2)).map((m) => m.offset), [3, 4]);
});
