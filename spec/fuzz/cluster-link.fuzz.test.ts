// Fuzzing the inter-node entry point: anyone who can reach a node's UDP port can open a Noise stream to its
// public key and send bytes before admission. Random frames (any kind, any length prefix, HELLOs of any
// version, forged PROOFs, DATA and CONTROL before admission, truncated frames) are sent on fresh connections
// with fresh keys; the intruder is never admitted and the cluster goes on delivering across its nodes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import DHT from 'hyperdht';
import { FrameKind, WIRE_VERSION } from '../../lib/cluster/admission.js';
import { createTestCluster, TestClient, type TestCluster } from '../../lib/testing/index.js';
import { DOCUMENTED, params } from './harness.js';

/** hyperdht's direct connection to a public key (not in lib/types: hashpub itself only uses hyperswarm). */
type Dialer = { connect(publicKey: Buffer, opts: { keyPair: DHT.KeyPair }): Duplex };

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const frame = (kind: number, body: Buffer) => Buffer.concat([u32(body.length + 1), Buffer.from([kind]), body]);

const chunk: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(fc.constantFrom(WIRE_VERSION, 0, 1, 255), fc.integer({ min: 0, max: 40 }))
    .map(([v, n]) => frame(FrameKind.HELLO, Buffer.concat([Buffer.from([v]), randomBytes(n)]))),
  fc.integer({ min: 0, max: 120 }).map((n) => frame(FrameKind.PROOF, randomBytes(n))),
  fc.uint8Array({ maxLength: 200 }).map((b) => frame(FrameKind.DATA, Buffer.from(b))),
  fc.uint8Array({ maxLength: 64 }).map((b) => frame(FrameKind.CONTROL, Buffer.from(b))),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 })).map(([k, b]) => frame(k, Buffer.from(b))),
  fc.constantFrom(0, 1, 0xffffffff, 0x7fffffff, 70_000).map((n) => Buffer.concat([u32(n), randomBytes(8)])),
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
);

describe('fuzz: inter-node frames from a peer without the secret', () => {
  let cluster: TestCluster;
  let dht: DHT;
  before(async () => {
    cluster = await createTestCluster(2);
    const [host, port] = cluster.bootstrap.split(':');
    dht = new DHT({ bootstrap: [{ host: host!, port: Number(port) }], host: '127.0.0.1', ephemeral: true });
    await dht.ready();
  });
  after(async () => {
    await dht?.destroy();
    // Nothing to hand over (the checks are done): the nodes vanish at once instead of handing channels around.
    await Promise.all(cluster?.nodes.map((n) => n.crash()) ?? []);
    await cluster?.stop();
  });

  test('random pre-admission bytes: never admitted, nodes stay members and keep delivering across the cluster', async () => {
    const [a, b] = cluster.nodes as [TestCluster['nodes'][0], TestCluster['nodes'][0]];
    const { client: watcher } = await TestClient.connect(a.url, { token: await a.token('watcher') });
    assert.equal((await watcher.subscribe('fuzz-link')).type, 'subscribed');
    let beats = 0;
    let opened = 0;
    await fc.assert(fc.asyncProperty(fc.constantFrom(...cluster.nodes.map((n) => n.id)), fc.array(chunk, { minLength: 1, maxLength: 6 }), async (target, chunks) => {
      const keyPair = DHT.keyPair();
      const conn = (dht as unknown as Dialer).connect(Buffer.from(target, 'hex'), { keyPair });
      conn.on('error', () => {});
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); resolve(); };
        // The node closes the stream on a bad frame; one waiting for more bytes is left after a short while.
        const timer = setTimeout(done, 300);
        conn.once('open', () => {
          opened++;
          for (const c of chunks) conn.write(c);
        });
        conn.once('close', done);
      });
      conn.destroy();
      for (const n of cluster.nodes) {
        const members = (await n.api('GET', '/v1/cluster')).body.members as Array<{ id: string }>;
        assert.ok(!members.some((m) => m.id === keyPair.publicKey.toString('hex')), 'the intruder was admitted');
      }
      // A publish on node b reaches the subscriber on node a: the link between the members still works.
      const r = await b.api('POST', '/v1/channels/fuzz-link/messages', { data: { beat: ++beats } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }), params(30));
    assert.ok(opened > 0, 'no fuzz connection ever opened');
    const got = await watcher.waitMessages('fuzz-link', beats, 10_000);
    assert.deepEqual(got.map((m) => (m.data as { beat: number }).beat), Array.from({ length: beats }, (_, i) => i + 1));
    watcher.close();
    await cluster.converged(5000);
    for (const n of cluster.nodes) {
      const text = await (await fetch(`${n.url}/metrics`)).text();
      for (const m of text.matchAll(/^hashpub_errors_total\{code="([^"]*)"\} (\d+)/gm)) {
        assert.ok(DOCUMENTED.has(m[1]!) && m[1] !== 'internal', `error code ${m[1]} answered ${m[2]} times`);
      }
    }
  });
});
