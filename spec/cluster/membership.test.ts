// Cluster membership over hyperswarm on loopback: convergence, frames, admission, leave on stop (failure
// detection: failure-detection.test.ts).
// Network traffic stays on 127.0.0.1: every test asserts its bootstrap list is loopback.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import DHT from 'hyperdht';
import createTestnet from 'hyperdht/testnet.js';
import Hyperswarm from 'hyperswarm';
import { startBootstrap } from '../../lib/cluster/bootstrap.js';
import {
  FrameKind, HyperswarmMembership, WIRE_VERSION, admissionProof, clusterTopic, type HyperswarmMembershipOptions,
} from '../../lib/cluster/hyperswarm-membership.js';
import { hasStats } from '../../lib/cluster/membership.js';
import { OptionsError } from '../../lib/errors.js';
import { parseOptions } from '../../lib/options.js';
import { allSee, assertLoopback, bootstrapFor, CLUSTER, defer, SECRET, startNodes, until } from './fixtures/swarm.js';

function rawFrame(kind: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt32BE(1 + payload.length, 0);
  out[4] = kind;
  payload.copy(out, 5);
  return out;
}

const iface = (address: string) => ({ address, family: 'IPv4' as const, internal: false, netmask: '255.255.255.0',
  mac: '02:00:00:00:00:01', cidr: `${address}/24` });

test('bootstrap: binds loopback, reports the bound port, refuses bad hosts and busy ports', async (t) => {
  const a = await startBootstrap();
  defer(t, () => a.close());
  const b = await startBootstrap('127.0.0.1', 0);
  defer(t, () => b.close());
  assertLoopback([a, b]);
  assert.ok(a.port > 0 && b.port > 0 && a.port !== b.port);
  // 0.0.0.0 needs one address to advertise: refused before binding when the machine has several.
  const twoAddresses = { eth0: [iface('10.0.0.2')], eth1: [iface('192.168.1.5')] };
  await assert.rejects(startBootstrap('0.0.0.0', 0, { interfaces: twoAddresses }), /publicHost.*pass --public-host 10\.0\.0\.2/);
  await assert.rejects(startBootstrap('0.0.0.0', 0, { publicHost: '0.0.0.0' }), OptionsError);
  await assert.rejects(startBootstrap('::1'), OptionsError);
  await assert.rejects(startBootstrap('127.0.0.1', a.port), { code: 'EADDRINUSE' });
});

test('options: an empty or missing bootstrap list is refused (never the public DHT)', () => {
  const base = { cluster: CLUSTER, secret: SECRET, url: 'http://127.0.0.1:8080' };
  assertLoopback([{ host: '127.0.0.1', port: 1 }]);
  assert.throws(() => new HyperswarmMembership({ ...base, bootstrap: [] }), (err: unknown) => err instanceof OptionsError && err.field === 'bootstrap');
  assert.throws(() => new HyperswarmMembership({ ...base } as HyperswarmMembershipOptions), OptionsError);
  assert.throws(() => new HyperswarmMembership({ ...base, bootstrap: [{ host: '127.0.0.1', port: 0 }] }), OptionsError);
  assert.throws(() => new HyperswarmMembership({ ...base, secret: '', bootstrap: [{ host: '127.0.0.1', port: 1 }] }), OptionsError);
  const field = (name: string) => (err: unknown) => err instanceof OptionsError && err.field === name;
  const boot = [{ host: '127.0.0.1', port: 1 }];
  assert.throws(() => new HyperswarmMembership({ ...base, bootstrap: boot, heartbeatMs: 5 }), field('heartbeatMs'));
  assert.throws(() => new HyperswarmMembership({ ...base, bootstrap: boot, heartbeatMs: 500, failureTimeoutMs: 900 }), field('failureTimeoutMs'));
  assert.throws(() => parseOptions({ heartbeatMs: '2000' }), field('failureTimeoutMs'), 'the CLI options are checked the same way');
  assert.equal(parseOptions({ heartbeatMs: '100', failureTimeoutMs: '1000' }).heartbeatMs, 100);
  assert.notDeepEqual(clusterTopic(CLUSTER, SECRET), clusterTopic(CLUSTER, 'other'));
  assert.notDeepEqual(clusterTopic(CLUSTER, SECRET), clusterTopic('other', SECRET));
});

test('3 nodes with the same secret all see all 3 members, with their URLs', async (t) => {
  const bootstrap = await bootstrapFor(t);
  const t0 = performance.now();
  const nodes = await startNodes(t, bootstrap, 3);
  const ids = nodes.map((m) => m.self);
  await until(allSee(nodes, ids), 'all 3 members everywhere');
  t.diagnostic(`3 nodes converged ${(performance.now() - t0).toFixed(0)} ms after start`);
  for (const m of nodes) {
    for (const [i, id] of ids.entries()) assert.equal(m.urlOf(id), `http://127.0.0.1:${8080 + i}`);
    assert.ok(hasStats(m));
  }
});

test('frames round-trip between two nodes, batched per tick, oversize frames refused (hyperdht testnet)', async (t) => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' });
  defer(t, () => testnet.destroy());
  assertLoopback(testnet.bootstrap);
  const [a, b] = await startNodes(t, testnet.bootstrap, 2);
  await until(allSee([a!, b!], [a!.self, b!.self]), 'a and b admitted');
  const atB: string[] = [];
  const atA: Buffer[] = [];
  b!.onFrame((from, frame) => {
    assert.equal(from, a!.self);
    atB.push(frame.toString());
    b!.send(from, Buffer.concat([Buffer.from('echo:'), frame]));
  });
  a!.onFrame((from, frame) => {
    assert.equal(from, b!.self);
    atA.push(Buffer.from(frame));
  });
  const before = a!.stats();
  for (let i = 0; i < 100; i++) assert.equal(a!.send(b!.self, Buffer.from(`m${i}`)), true);
  await Promise.resolve(); // runs right after the flush (a microtask queued by the first send), before any timer
  assert.equal(a!.stats().writes - before.writes, 1, '100 frames sent in one tick must leave in one write');
  await until(() => atA.length === 100, '100 echoes');
  assert.deepEqual(atB, Array.from({ length: 100 }, (_, i) => `m${i}`));
  assert.equal(atA[99]!.toString(), 'echo:m99');
  const after = a!.stats();
  assert.equal(after.framesSent - before.framesSent, 100, 'heartbeats are not counted as data frames');
  assert.ok(b!.stats().framesReceived >= 100 && after.framesReceived - before.framesReceived === 100);
  assert.ok(after.bytesSent - before.bytesSent >= 100 * 5);

  // A 9 MiB frame crosses the stream's atomic-write limit and arrives whole.
  const big = randomBytes(9 * 1024 * 1024);
  atA.length = 0;
  b!.onFrame((from, frame) => b!.send(from, frame));
  assert.equal(a!.send(b!.self, big), true);
  await until(() => atA.length === 1, 'big echo', 20_000);
  assert.ok(atA[0]!.equals(big));
  assert.equal(a!.send(b!.self, Buffer.alloc(16 * 1024 * 1024 + 1)), false, 'frames above maxFrameBytes are refused');
  assert.equal(a!.send('0'.repeat(64), Buffer.from('x')), false, 'unknown peers cannot be sent to');
});

test('a peer sending a frame above the receiver limit loses its link', async (t) => {
  const bootstrap = await bootstrapFor(t);
  const [small] = await startNodes(t, bootstrap, 1, { maxFrameBytes: 1024 });
  const [large] = await startNodes(t, bootstrap, 1);
  await until(allSee([small!, large!], [small!.self, large!.self]), 'both admitted');
  const left: string[] = [];
  large!.on('leave', (id) => left.push(id));
  const got: Buffer[] = [];
  small!.onFrame((_from, frame) => got.push(frame));
  assert.equal(large!.send(small!.self, Buffer.alloc(2048)), true);
  await until(() => left.includes(small!.self), 'large sees small leave');
  assert.equal(got.length, 0);
  assert.ok(small!.stats().rejected >= 1);
});

test('a node with a wrong secret is never admitted, nothing it sends is delivered, the others stay', async (t) => {
  const bootstrap = await bootstrapFor(t);
  const topic = clusterTopic(CLUSTER, SECRET);
  const good = await startNodes(t, bootstrap, 2);
  const received: string[] = [];
  for (const m of good) m.onFrame((from) => received.push(from));
  // An intruder that knows the topic (so it does connect) but not the secret.
  const [intruder] = await startNodes(t, bootstrap, 1, { secret: 'wrong-secret', topic });
  let intruderJoins = 0;
  for (const m of good) m.on('join', (id) => { if (id === intruder!.self) intruderJoins++; });
  await until(allSee(good, good.map((m) => m.self)), 'the two good nodes admitted');
  // Each connection is dropped by whichever side checks the other's proof first: count rejections on both sides.
  const rejections = () => [...good, intruder!].reduce((sum, m) => sum + m.stats().rejected, 0);
  await until(() => rejections() >= 2, 'the intruder connected to and rejected by both good nodes');
  assert.deepEqual(intruder!.members(), [intruder!.self]);
  assert.equal(intruder!.send(good[0]!.self, Buffer.from('x')), false);

  // Raw intruders speaking the wire protocol, one swarm per trick, each connecting to both good nodes:
  // 0: valid HELLO, forged PROOF and DATA in one write; 1: DATA before anything else;
  // 2: a proof made with the RIGHT secret but for another public key than the Noise-authenticated one.
  let closed = 0;
  const goodIds = new Set(good.map((m) => m.self));
  const rejectedBefore = good[0]!.stats().rejected + good[1]!.stats().rejected;
  for (const trick of [0, 1, 2]) {
    const dht = new DHT({ bootstrap, host: '127.0.0.1', ephemeral: false, firewalled: false });
    const swarm = new Hyperswarm({ dht });
    defer(t, () => swarm.destroy());
    swarm.on('connection', (conn) => {
      conn.on('error', () => {});
      if (!goodIds.has(conn.remotePublicKey.toString('hex'))) return; // intruders meet each other too
      conn.on('close', () => closed++);
      const hello = rawFrame(FrameKind.HELLO, Buffer.concat([Buffer.from([WIRE_VERSION]), randomBytes(32)]));
      const data = rawFrame(FrameKind.DATA, Buffer.from('should never arrive'));
      const url = Buffer.from('http://127.0.0.1:9');
      if (trick === 0) conn.write(Buffer.concat([hello, rawFrame(FrameKind.PROOF, Buffer.concat([randomBytes(32), url])), data]));
      if (trick === 1) conn.write(data);
      if (trick === 2) {
        conn.write(hello);
        conn.once('data', (chunk: Buffer) => {
          if (chunk[4] !== FrameKind.HELLO) return;
          const proof = admissionProof(SECRET, chunk.subarray(6, 38), randomBytes(32), CLUSTER, url.toString());
          conn.write(Buffer.concat([rawFrame(FrameKind.PROOF, Buffer.concat([proof, url])), data]));
        });
      }
    });
    const discovery = swarm.join(topic, { server: true, client: true });
    await discovery.flushed();
    discovery.refresh().catch(() => {});
  }
  const goodRejected = () => good[0]!.stats().rejected + good[1]!.stats().rejected - rejectedBefore;
  await until(() => closed >= 6 && goodRejected() >= 6, 'every raw intruder connection dropped by the good nodes');
  assert.deepEqual(received, [], 'no frame from a non-admitted peer was delivered');
  assert.equal(intruderJoins, 0);
  assert.ok(allSee(good, good.map((m) => m.self))(), 'the good nodes still see each other (and only each other)');
  assert.equal(good[0]!.send(good[1]!.self, Buffer.from('still here')), true);
});

test('a node stopping gracefully is seen leaving', async (t) => {
  const bootstrap = await bootstrapFor(t);
  const nodes = await startNodes(t, bootstrap, 3);
  await until(allSee(nodes, nodes.map((m) => m.self)), 'all 3 members');
  const [a, b, c] = nodes as [HyperswarmMembership, HyperswarmMembership, HyperswarmMembership];
  const changes: string[] = [];
  a.on('leave', (id) => changes.push(`leave:${id}`));
  a.on('change', () => changes.push('change'));
  const t0 = performance.now();
  await c.stop();
  const ms = await until(allSee([a, b], [a.self, b.self]), 'a and b see c leave', 3000);
  t.diagnostic(`graceful leave seen in ${(performance.now() - t0).toFixed(0)} ms (${ms.toFixed(0)} ms after stop resolved)`);
  assert.deepEqual(changes, [`leave:${c.self}`, 'change']);
  assert.equal(a.urlOf(c.self), undefined);
  assert.deepEqual(c.members(), [c.self]);
});

test('idle heartbeats travel as datagrams: no stream write once both ends read them, members stay', async (t) => {
  const bootstrap = await bootstrapFor(t);
  const nodes = await startNodes(t, bootstrap, 3);
  const ids = nodes.map((m) => m.self);
  await until(allSee(nodes, ids), 'all 3 members everywhere');
  await new Promise((r) => setTimeout(r, 1000)); // the first beats went both ways (datagram + stream)
  const before = nodes.map((m) => m.stats());
  await new Promise((r) => setTimeout(r, 2000));
  for (const [i, m] of nodes.entries()) {
    const after = m.stats();
    // 2 s at the 250 ms default: about 8 beats to each of 2 peers went out, and as many came in.
    assert.ok(after.controlSent - before[i]!.controlSent >= 8, `node ${i} sent ${after.controlSent - before[i]!.controlSent} heartbeats`);
    assert.ok(after.controlReceived - before[i]!.controlReceived >= 8, `node ${i} got ${after.controlReceived - before[i]!.controlReceived}`);
    assert.equal(after.writes - before[i]!.writes, 0, `node ${i} wrote to a stream while idle`);
    assert.equal(m.failureStats().suspicions, 0);
  }
  assert.ok(allSee(nodes, ids)());
});
