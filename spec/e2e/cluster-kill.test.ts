// A 3-node cluster started with the CLI as separate processes (one `hashpub bootstrap` + three `hashpub start`),
// then one node is killed with SIGKILL: failure detection is timed, the dead node's channels move to their replica,
// which continues the same stream (same epoch, next offset: every acknowledged message had two copies), subscribers
// are re-registered without a gap, the dead node's clients resume elsewhere recovered, and no subscriber ever sees
// a gap or a duplicate.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { signToken } from '../../lib/index.js';
import { TestClient } from '../../lib/testing/index.js';
import { cleanupProcesses } from './cli-process.js';
import { api as call, startCliCluster, until, sleep, type CliNode as Node } from './cli-cluster.js';

const CLUSTER = `kill-${process.pid}`;
const API_KEY = `${CLUSTER}-api-key`;
const JWT_SECRET = `${CLUSTER}-jwt-secret-0123456789`;
/** Failure detection must be faster than this (about 1 s after a kill -9 on loopback: the dead node's port refuses probes). */
const DETECTION_LIMIT_MS = 5000;

type Frame = Record<string, unknown> & { type: string };

const clients: TestClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await cleanupProcesses();
});

const api = (url: string, method: string, path: string, body?: unknown) => call(API_KEY, url, method, path, body);

async function members(n: Node): Promise<string[]> {
  const r = await api(n.url, 'GET', '/v1/cluster');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body.members as Array<{ id: string }>).map((m) => m.id).sort();
}

async function ownerOf(via: Node, channel: string): Promise<string> {
  const r = await api(via.url, 'GET', `/v1/channels/${channel}/owner`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.owner as string;
}

interface Ack { channel: string; epoch: string; offset: number }

/** A REST publish through `via`; retries while the answer is 503 `unavailable` (ownership moving), up to `ms`. */
async function publish(via: Node, channel: string, data: unknown, ms = 0): Promise<Ack & { retries: number }> {
  const deadline = Date.now() + ms;
  for (let retries = 0; ; retries++) {
    const r = await api(via.url, 'POST', `/v1/channels/${channel}/messages`, { data });
    if (r.status === 200) return { ...(r.body as Ack), retries };
    const unavailable = r.status === 503 && r.body?.error?.code === 'unavailable';
    if (!unavailable || Date.now() > deadline) {
      assert.fail(`publish on ${channel} via node ${via.index}: ${r.status} ${JSON.stringify(r.body)} after ${retries} retries`);
    }
    await sleep(100);
  }
}

/**
 * Checks one client's frame stream on `channel`: every message continues the previous one by exactly +1 in
 * the same epoch, unless a `subscribed` frame with `recovered: false` came first (then the next message must be
 * in that frame's epoch, at any offset). A `subscribed` frame with `recovered: true` must keep the epoch.
 * Returns the messages' positions, in order.
 */
function checkStream(frames: Frame[], channel: string, who: string, since?: { epoch: string; offset: number }): Array<{ epoch: string; offset: number }> {
  let epoch: string | null = since?.epoch ?? null;
  let offset = since?.offset ?? 0;
  let reset = false;
  const seen: Array<{ epoch: string; offset: number }> = [];
  for (const f of frames) {
    if (f.channel !== channel) continue;
    if (f.type === 'subscribed') {
      if (f.recovered === false) {
        reset = true;
        epoch = f.epoch as string;
      } else if (epoch !== null && f.resumed === true) {
        assert.equal(f.epoch, epoch, `${who} ${channel}: resumed with recovered:true but a new epoch: ${JSON.stringify(f)}`);
      } else if (epoch === null) {
        epoch = f.epoch as string;
        offset = f.offset as number;
      }
    } else if (f.type === 'message') {
      const e = f.epoch as string;
      const o = f.offset as number;
      if (reset) {
        assert.equal(e, epoch, `${who} ${channel}: after recovered:false in epoch ${epoch}, a message of epoch ${e}`);
        reset = false;
      } else {
        assert.equal(e, epoch, `${who} ${channel}: silent epoch change ${epoch} -> ${e} at offset ${o}`);
        assert.equal(o, offset + 1, `${who} ${channel}: offset ${o} after ${offset} in epoch ${e} (gap or duplicate)`);
      }
      epoch = e;
      offset = o;
      seen.push({ epoch: e, offset: o });
    }
  }
  return seen;
}

test('SIGKILL of a node in a 3-node CLI cluster: detection < 5 s, channels move, no silent gap', { timeout: 90_000 }, async (t) => {
  // --- a bootstrap and three nodes, each its own process and data dir
  const tStart = Date.now();
  const { nodes } = await startCliCluster(3, CLUSTER);
  t.diagnostic(`cluster of 3 started and converged in ${Date.now() - tStart} ms`);

  // --- one channel owned by each node (the nodes agree on owners)
  const channels: string[] = [];
  for (const n of nodes) {
    let found: string | undefined;
    for (let i = 0; i < 300 && !found; i++) {
      const c = `kill-${n.index}-${i}`;
      if (await ownerOf(nodes[0]!, c) === n.id) found = c;
    }
    assert.ok(found, `no channel owned by node ${n.index}`);
    for (const other of nodes) assert.equal(await ownerOf(other, found), n.id, `node ${other.index} disagrees on ${found}`);
    channels.push(found);
  }

  // --- two subscribers per node, each on every channel
  const subs: Array<{ node: number; client: TestClient; name: string }> = [];
  for (const n of nodes) {
    for (let k = 0; k < 2; k++) {
      const user = `u${n.index}${k}`;
      const { client } = await TestClient.connect(n.url, { token: await signToken(JWT_SECRET, user) });
      clients.push(client);
      for (const c of channels) {
        const ok = await client.subscribe(c);
        assert.equal(ok.type, 'subscribed', JSON.stringify(ok));
        assert.equal(ok.offset, 0);
      }
      subs.push({ node: n.index, client, name: `${user}@node${n.index}` });
    }
  }

  // --- phase 1: REST publishes through every node
  const N1 = 12;
  const epochs = new Map<string, string>();
  await Promise.all(channels.map(async (c) => {
    for (let i = 0; i < N1; i++) {
      const ack = await publish(nodes[i % 3]!, c, { phase: 1, i });
      assert.equal(ack.offset, i + 1, `${c}: publish ${i} got offset ${ack.offset}`);
      if (i === 0) epochs.set(c, ack.epoch);
      else assert.equal(ack.epoch, epochs.get(c));
    }
  }));
  for (const s of subs) {
    for (const c of channels) {
      const got = await s.client.waitMessages(c, N1, 10_000);
      assert.deepEqual(got.map((m) => m.offset), Array.from({ length: N1 }, (_, i) => i + 1), `${s.name} ${c}`);
      assert.ok(got.every((m) => m.epoch === epochs.get(c)), `${s.name} ${c}: epoch`);
      checkStream(s.client.frames, c, s.name);
    }
  }

  // --- SIGKILL node 2 (owner of channels[2], holder of two subscribers)
  const victim = nodes[2]!;
  const survivors = [nodes[0]!, nodes[1]!];
  const deadChannel = channels[2]!;
  const orphans = subs.filter((s) => s.node === victim.index);
  const lastSeen = new Map(orphans.map((s) => [s, new Map(channels.map((c) => {
    const m = s.client.messages(c).at(-1)!;
    return [c, { epoch: m.epoch as string, offset: m.offset as number }];
  }))]));
  const survivorIds = survivors.map((n) => n.id).sort();
  const tKill = Date.now();
  victim.proc.child.kill('SIGKILL');
  const detectionMs = await until('both survivors list 2 members', 15_000, async () => {
    const views = await Promise.all(survivors.map(members));
    return views.every((v) => JSON.stringify(v) === JSON.stringify(survivorIds)) ? Date.now() - tKill : undefined;
  }, 20);
  t.diagnostic(`failure detection: ${detectionMs} ms from SIGKILL until both survivors list 2 members`);
  assert.ok(detectionMs < DETECTION_LIMIT_MS, `failure detection took ${detectionMs} ms (limit ${DETECTION_LIMIT_MS})`);
  await victim.proc.exited;
  // An operator sees it on /metrics: one death each, confirmed by the dead node's refused port, none by timeout.
  for (const n of survivors) {
    const text = await (await fetch(`${n.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    assert.match(text, /^hashpub_cluster_deaths_total\{reason="refused"\} 1$/m, `node ${n.index} /metrics`);
    assert.match(text, /^hashpub_cluster_deaths_total\{reason="timeout"\} 0$/m);
    assert.match(text, /^hashpub_cluster_suspicions_total \d+$/m);
  }

  // Placement: only the dead node's channel moved; survivors agree on its new owner.
  for (const [i, c] of channels.slice(0, 2).entries()) {
    for (const n of survivors) assert.equal(await ownerOf(n, c), nodes[i]!.id, `${c} moved although its owner lives`);
  }
  const newOwner = await ownerOf(survivors[0]!, deadChannel);
  assert.ok(survivorIds.includes(newOwner));
  assert.equal(await ownerOf(survivors[1]!, deadChannel), newOwner);

  // --- publishing on the dead node's channel works again through a survivor (503 unavailable meanwhile), and the
  // replica that took it over continues the SAME stream: same epoch, the next offset.
  const first = await publish(survivors[1]!, deadChannel, { phase: 2, i: 0 }, 15_000);
  t.diagnostic(`first publish on the dead owner's channel accepted ${Date.now() - tKill} ms after the SIGKILL ` +
    `(${first.retries} retries on 503), epoch ${epochs.get(deadChannel)} -> ${first.epoch}, offset ${first.offset}`);
  assert.equal(first.epoch, epochs.get(deadChannel), 'failover keeps the epoch (the replica had every acknowledged message)');
  assert.equal(first.offset, N1 + 1, 'offsets continue where the dead owner stopped');

  // --- phase 2: more publishes through the survivors on every channel: same epochs, offsets continue from N1.
  const N2 = 10;
  const acks = new Map<string, Ack[]>(channels.map((c) => [c, c === deadChannel ? [first] : []]));
  await Promise.all(channels.map(async (c) => {
    for (let i = 1; i <= N2; i++) {
      const ack = await publish(survivors[i % 2]!, c, { phase: 2, i }, 10_000);
      acks.get(c)!.push(ack);
    }
  }));
  for (const c of channels) {
    const want = c === deadChannel ? N2 + 1 : N2;
    assert.deepEqual(acks.get(c)!.map((a) => a.offset), Array.from({ length: want }, (_, i) => N1 + i + 1), `${c} offsets`);
    assert.ok(acks.get(c)!.every((a) => a.epoch === epochs.get(c)), `${c} kept its epoch`);
  }

  // Survivors' subscribers (re-registered with the new owner of the dead node's channel) saw every message once,
  // in order, with no gap signalled on any channel.
  const survivorSubs = subs.filter((s) => s.node !== victim.index);
  for (const s of survivorSubs) {
    for (const c of channels) {
      const total = acks.get(c)!.at(-1)!.offset;
      const got = await s.client.waitMessages(c, total, 10_000);
      assert.deepEqual(got.map((m) => m.offset), Array.from({ length: total }, (_, i) => i + 1), `${s.name} ${c}`);
      assert.ok(got.every((m) => m.epoch === epochs.get(c)), `${s.name} ${c}: epoch changed`);
      checkStream(s.client.frames, c, s.name);
      const gaps = s.client.frames.filter((f) => f.channel === c && f.type === 'subscribed' && f.recovered === false && f.resumed === true);
      assert.deepEqual(gaps, [], `${s.name} ${c}: nothing was lost, so no gap may be signalled`);
    }
  }

  // --- the dead node's clients reconnect to a survivor and resume every channel from their last position,
  // the dead owner's channel included: recovered, exactly the missed messages.
  const latestOf = new Map(channels.map((c) => [c, acks.get(c)!.at(-1)!.offset]));
  for (const s of orphans) await s.client.waitClosed(10_000);
  for (const [k, s] of orphans.entries()) {
    const to = survivors[k % 2]!;
    const { client } = await TestClient.connect(to.url, { token: await signToken(JWT_SECRET, `${s.name}-again`) });
    clients.push(client);
    const since = lastSeen.get(s)!;
    for (const c of channels) {
      const ok = await client.subscribe(c, since.get(c));
      assert.equal(ok.type, 'subscribed', JSON.stringify(ok));
      assert.equal(ok.recovered, true, `${s.name} ${c}: ${JSON.stringify(ok)}`);
      assert.equal(ok.epoch, epochs.get(c));
      const latest = latestOf.get(c)!;
      const got = await client.waitMessages(c, latest - N1, 10_000);
      assert.deepEqual(got.map((m) => m.offset), Array.from({ length: latest - N1 }, (_, i) => N1 + i + 1), `${s.name} ${c} missed messages`);
    }
    // Live messages keep coming on every channel, with no duplicate of what was replayed.
    const more = await Promise.all(channels.map((c) => publish(survivors[0]!, c, { phase: 3 }, 10_000)));
    for (const [i, c] of channels.entries()) latestOf.set(c, more[i]!.offset);
    for (const [i, c] of channels.entries()) {
      await until(`${s.name} again gets ${c} offset ${more[i]!.offset}`, 10_000, async () =>
        client.messages(c).some((m) => m.offset === more[i]!.offset && m.epoch === more[i]!.epoch) ? true : undefined);
      checkStream(client.frames, c, `${s.name} (reconnected)`, since.get(c));
    }
  }

  // Survivors' subscribers still saw no gap or duplicate anywhere.
  for (const s of survivorSubs) for (const c of channels) checkStream(s.client.frames, c, s.name);
});
