// GET /v1/stats on any node of a cluster: one request answers every member's figures (asked over the node links),
// with replication state, and sums that follow traffic on other nodes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createTestCluster, TestClient, until, type TestCluster } from '../../lib/testing/index.js';

let cluster: TestCluster | undefined;
const clients: TestClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

test('one request to any node answers for every member', async () => {
  cluster = await createTestCluster(3);
  const [a, b, c] = cluster.nodes;
  for (const [i, node] of [b!, c!].entries()) {
    const { client } = await TestClient.connect(node.url, { token: await node.token(`u${i}`) });
    clients.push(client);
    await client.subscribe('stats-cluster');
  }
  for (let i = 0; i < 3; i++) assert.equal((await b!.api('POST', '/v1/channels/stats-cluster/messages', { data: i })).status, 200);
  for (const cl of clients) await cl.waitMessages('stats-cluster', 3);

  const s = await until('every member counted with rates', 10_000, async () => {
    const r = (await a!.api('GET', '/v1/stats?history=1')).body;
    return r.totals.messagesOutPerSecond > 0 && r.members.every((m: { ok: boolean }) => m.ok) ? r : undefined;
  });
  assert.equal(s.node, a!.id);
  assert.deepEqual(s.members.map((m: { id: string }) => m.id).sort(), [a!.id, b!.id, c!.id].sort());
  const byId = new Map<string, any>(s.members.map((m: { id: string }) => [m.id, m]));
  assert.equal(byId.get(b!.id).url, b!.url);
  assert.equal(byId.get(b!.id).stats.connections.ws, 1);
  assert.equal(byId.get(c!.id).stats.connections.ws, 1);
  assert.equal(byId.get(a!.id).stats.connections.total, 0);
  assert.equal(s.totals.members, 3);
  assert.equal(s.totals.connections, 2);
  assert.equal(s.totals.sessions, 2);
  const messagesIn = s.members.reduce((n: number, m: any) => n + m.stats.messagesIn, 0);
  assert.equal(messagesIn, 3, 'the owner counted each publish once');
  for (const m of s.members) {
    assert.equal(m.stats.replication.copies, 2);
    assert.equal(m.stats.replication.writable, true);
    assert.ok(Array.isArray(m.history), 'samples of every member with ?history=1');
  }
});
