// Split brain, the classic way: a channel's owner is paused (SIGSTOP) long enough for the cluster to fail it over,
// then resumed (SIGCONT) with publishes queued at its door. The replica took the channel over under a higher term,
// so whatever the old owner does with those publishes cannot be acknowledged unless it lands in the real stream:
// every 200 answer is in the channel's history at its offset, each offset holds one message, subscribers see no
// gap and no two messages at one offset, and the epoch never changes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { signToken } from '../../lib/index.js';
import { TestClient } from '../../lib/testing/index.js';
import { cleanupProcesses } from './cli-process.js';
import { api, converged, ownerOf, sleep, startCliCluster, until, type CliNode } from './cli-cluster.js';

const clients: TestClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await cleanupProcesses();
});

test('a paused owner that comes back acknowledges nothing outside the real stream', { timeout: 120_000 }, async (t) => {
  const c = await startCliCluster(3, `fence-${process.pid}`);
  const [a, b, w] = c.nodes as [CliNode, CliNode, CliNode];
  let ch = '';
  for (let i = 0; i < 500 && !ch; i++) {
    const r = await api(c.apiKey, w.url, 'GET', `/v1/channels/fence-${i}/owner`);
    if (r.body.owner === a.id && r.body.replicas[0] === b.id) ch = `fence-${i}`;
  }
  assert.ok(ch, 'a channel owned by the first node with the second as replica');

  const readers = await Promise.all([b, w].map(async (n, i) => {
    const { client } = await TestClient.connect(n.url, { token: await signToken(c.jwtSecret, `reader-${i}`) });
    clients.push(client);
    assert.equal((await client.subscribe(ch)).type, 'subscribed');
    return client;
  }));

  type Answer = { status: number; body: any; data: unknown };
  const answers: Answer[] = [];
  const publish = async (via: CliNode, data: unknown, retryMs = 0): Promise<Answer> => {
    const deadline = Date.now() + retryMs;
    for (;;) {
      const r = await api(c.apiKey, via.url, 'POST', `/v1/channels/${ch}/messages`, { data }).catch((err) => ({ status: 0, body: String(err) }));
      if (r.status === 200 || Date.now() > deadline) {
        const ans = { ...r, data };
        answers.push(ans);
        return ans;
      }
      await sleep(50);
    }
  };

  for (let i = 0; i < 10; i++) assert.equal((await publish(w, { phase: 'before', i })).status, 200);
  const epoch = answers[0]!.body.epoch as string;

  a.proc.child.kill('SIGSTOP');
  const pausedAt = Date.now();
  // The cluster fails the paused owner over: publishing through the others works again, on the same stream.
  const moved = await publish(w, { phase: 'paused', i: 0 }, 20_000);
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  t.diagnostic(`publishing resumed ${Date.now() - pausedAt} ms after SIGSTOP, on ${await ownerOf(c, w, ch) === b.id ? 'the replica' : 'another node'}`);
  assert.equal(moved.body.epoch, epoch, 'failover keeps the epoch');
  for (let i = 1; i < 10; i++) assert.equal((await publish(i % 2 ? b : w, { phase: 'paused', i }, 10_000)).status, 200);

  // Publishes wait at the paused owner's door; then it wakes up believing it still owns the channel.
  const stale = Array.from({ length: 6 }, (_, i) => publish(a, { phase: 'stale', i }));
  await sleep(300);
  a.proc.child.kill('SIGCONT');
  const staleAnswers = await Promise.all(stale);
  t.diagnostic(`answers of the resumed old owner to the publishes queued while it was paused: ${staleAnswers.map((s) => s.status).join(',')}`);

  // It rejoins; publishing through every node works and continues the same stream.
  await converged(c, c.nodes, 30_000);
  for (let i = 0; i < 9; i++) assert.equal((await publish(c.nodes[i % 3]!, { phase: 'after', i }, 10_000)).status, 200);

  // The audit: the history is one stream; every acknowledged publish is in it at its offset, exactly once.
  const h = await api(c.apiKey, b.url, 'GET', `/v1/channels/${ch}/history?since=0&limit=1000`);
  assert.equal(h.status, 200);
  assert.equal(h.body.epoch, epoch, 'the epoch never changed');
  const history = h.body.messages as Array<{ offset: number; data: unknown; epoch: string }>;
  assert.deepEqual(history.map((m) => m.offset), Array.from({ length: history.length }, (_, i) => i + 1), 'offsets are 1..n without a hole');
  const at = new Map(history.map((m) => [m.offset, JSON.stringify(m.data)]));
  const acked = answers.filter((x) => x.status === 200);
  for (const x of acked) {
    assert.equal(x.body.epoch, epoch);
    assert.equal(at.get(x.body.offset), JSON.stringify(x.data), `acknowledged ${JSON.stringify(x.data)} at offset ${x.body.offset} is in the history there`);
  }
  const offsets = acked.map((x) => x.body.offset as number);
  assert.equal(new Set(offsets).size, offsets.length, 'no offset was acknowledged twice');
  // Readers never saw two different messages at one offset, nor a gap.
  for (const r of readers) {
    await until('reader has the whole stream', 15_000, async () => (r.messages(ch).length >= history.length ? true : undefined));
    const got = r.messages(ch);
    assert.deepEqual(got.map((m) => m.offset), history.map((m) => m.offset), 'each offset once, in order');
    for (const m of got) assert.equal(JSON.stringify(m.data), at.get(m.offset as number), `reader saw the stream's message at ${m.offset}`);
    assert.deepEqual(r.frames.filter((f) => f.type === 'subscribed' && f.recovered === false && f.resumed === true), []);
  }
  const refused = await Promise.all([b, w].map(async (n) => {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    return Number(/hashpub_replication_refused_total\{reason="stale_term"\} (\d+)/.exec(text)?.[1] ?? 0);
  }));
  t.diagnostic(`stale-term writes refused by the other nodes: ${refused.join(', ')}; acknowledged ${acked.length} of ${answers.length} publishes`);
});
