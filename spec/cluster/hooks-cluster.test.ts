// The same hooks across a 3-node cluster: the publish hook runs once per message, at the channel's owner;
// the deliver hook runs once per message on each push node holding subscribers, with all its local readers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DeliverEvent, Hooks, PublishEvent } from '../../lib/hooks/hooks.js';
import { createTestCluster, TestClient, type TestCluster } from '../../lib/testing/index.js';

let cluster: TestCluster;
const clients: TestClient[] = [];
const publishCalls: PublishEvent[][] = [[], [], []];
const deliverCalls: DeliverEvent[][] = [[], [], []];

function hooksFor(i: number): Hooks {
  return {
    publish: (ev) => { publishCalls[i]!.push(ev); return { allow: true, data: { ...(ev.data as object), checked: true } }; },
    deliver: (ev) => {
      deliverCalls[i]!.push(ev);
      return { results: ev.recipients.map((r) => ({ data: { ...(ev.data as object), for: r.user, node: i } })) };
    },
  };
}

before(async () => {
  cluster = await createTestCluster(3, { deps: (i) => ({ hooks: hooksFor(i) }) });
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

test('publish hook once per message at the owner; deliver hook once per message per push node with subscribers', async () => {
  const [n0, n1, n2] = cluster.nodes;
  let ch = '';
  for (let i = 0; i < 200 && !ch; i++) {
    if ((await n1!.api('GET', `/v1/channels/hooked-${i}/owner`)).body.owner === n0!.id) ch = `hooked-${i}`;
  }
  assert.ok(ch, 'found a channel owned by node 0');
  assert.equal((await n2!.api('PUT', `/v1/channels/${ch}/config`, { deliverHook: true })).status, 200);
  const readers: Array<[number, TestClient]> = [];
  for (const [node, users] of [[1, ['a', 'b']], [2, ['c', 'd', 'e']]] as const) {
    for (const u of users) {
      const t = cluster.nodes[node]!;
      const { client } = await TestClient.connect(t.url, { token: await t.token(u) });
      clients.push(client);
      assert.equal((await client.subscribe(ch)).type, 'subscribed');
      readers.push([node, client]);
    }
  }
  const n = 5;
  for (let i = 1; i <= n; i++) {
    const r = await n1!.api('POST', `/v1/channels/${ch}/messages`, { data: { i } });
    assert.equal(r.status, 200);
    assert.equal(r.body.offset, i);
  }
  for (const [node, c] of readers) {
    const msgs = await c.waitMessages(ch, n);
    assert.deepEqual(msgs.map((m) => m.offset), [1, 2, 3, 4, 5]);
    for (const m of msgs) {
      const d = m.data as { checked: boolean; node: number };
      assert.equal(d.checked, true, 'rewritten once by the publish hook at the owner');
      assert.equal(d.node, node, 'personalized on the reader\'s own push node');
    }
  }
  assert.deepEqual(publishCalls.map((c) => c.length), [n, 0, 0]);
  assert.deepEqual(deliverCalls.map((c) => c.length), [0, n, n], 'one deliver call per message per push node');
  assert.ok(deliverCalls[1]!.every((ev) => ev.recipients.length === 2));
  assert.ok(deliverCalls[2]!.every((ev) => ev.recipients.length === 3));
});

test('leave events fire exactly once per subscription when a push node leaves the cluster', async () => {
  const events: Array<{ node: number; user: string | null; channel: string; reason: string }> = [];
  const c = await createTestCluster(2, { deps: (i) => ({ hooks: { unsubscribe: (ev) => { events.push({ node: i, ...ev }); } } }) });
  try {
    const [n0, n1] = c.nodes;
    let ch = '';
    for (let i = 0; i < 200 && !ch; i++) {
      if ((await n0!.api('GET', `/v1/channels/leave-${i}/owner`)).body.owner === n0!.id) ch = `leave-${i}`;
    }
    const users = ['u1', 'u2', 'u3'];
    for (const u of users) {
      const { client } = await TestClient.connect(n1!.url, { token: await n1!.token(u) });
      clients.push(client);
      assert.equal((await client.subscribe(ch)).type, 'subscribed');
    }
    assert.equal((await n0!.api('GET', `/v1/channels/${ch}/presence`)).body.count, 3);
    await n1!.stop();
    const deadline = Date.now() + 10_000;
    while (events.filter((e) => e.channel === ch).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 300)); // any duplicate would arrive in this grace
    const mine = events.filter((e) => e.channel === ch);
    assert.deepEqual(mine.map((e) => e.user).sort(), users, 'one event per subscription, none twice');
    assert.ok(mine.every((e) => e.node === 0), 'fired at the owner');
    assert.equal((await n0!.api('GET', `/v1/channels/${ch}/presence`)).body.count, 0);
  } finally {
    await c.stop();
  }
});
