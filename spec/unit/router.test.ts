// Rendezvous routing: fair shares, minimal movement on join/leave, order independence, replica lists.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { NoMembersError, ownerOf, replicasOf, weightOf } from '../../lib/cluster/router.js';

/** A node id shaped like the real ones (64 hex digits of a public key). */
const nodeId = (i: number): string => createHash('sha256').update(`node-${i}`).digest('hex');
const nodes = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => nodeId(from + i));
const CHANNELS = Array.from({ length: 10_000 }, (_, i) => (i % 3 === 0 ? `room:${i}` : i % 3 === 1 ? `$user:u${i}` : `c${i}`));
const hexId = fc.stringMatching(/^[0-9a-f]{64}$/);
const channelName = fc.string({ minLength: 1, maxLength: 160 });

const owners = (members: readonly string[]): string[] => CHANNELS.map((c) => ownerOf(c, members));

test('each node owns its fair share (within ±20%) of 10k channels, for 3 to 16 nodes', () => {
  for (let n = 3; n <= 16; n++) {
    const members = nodes(n, n * 100);
    const counts = new Map<string, number>(members.map((m) => [m, 0]));
    for (const owner of owners(members)) counts.set(owner, counts.get(owner)! + 1);
    const fair = CHANNELS.length / n;
    for (const [member, count] of counts) {
      assert.ok(Math.abs(count - fair) <= 0.2 * fair, `n=${n}: ${member.slice(0, 8)} owns ${count}, fair is ${fair.toFixed(0)}`);
    }
  }
});

test('removing a node moves only the channels it owned', () => {
  for (const n of [3, 8, 16]) {
    const members = nodes(n);
    const before = owners(members);
    const gone = members[n >> 1]!;
    const after = owners(members.filter((m) => m !== gone));
    let moved = 0;
    for (let i = 0; i < CHANNELS.length; i++) {
      if (before[i] === gone) {
        assert.notEqual(after[i], gone);
        moved++;
      } else {
        assert.equal(after[i], before[i], `${CHANNELS[i]} moved although its owner stayed`);
      }
    }
    assert.ok(moved > 0);
  }
});

test('adding a node moves only the channels the new node now wins', () => {
  for (const n of [3, 8, 15]) {
    const members = nodes(n);
    const added = nodeId(999);
    const before = owners(members);
    const after = owners([...members, added]);
    let taken = 0;
    for (let i = 0; i < CHANNELS.length; i++) {
      if (after[i] !== before[i]) {
        assert.equal(after[i], added, `${CHANNELS[i]} moved to an old node`);
        taken++;
      }
    }
    const fair = CHANNELS.length / (n + 1);
    assert.ok(Math.abs(taken - fair) <= 0.2 * fair, `new node took ${taken}, fair is ${fair}`);
  }
});

test('owner and replicas do not depend on the order of the member list', () => {
  fc.assert(
    fc.property(channelName, fc.uniqueArray(hexId, { minLength: 1, maxLength: 16 }), fc.nat(), (channel, members, seed) => {
      const shuffled = [...members];
      let s = seed;
      for (let i = shuffled.length - 1; i > 0; i--) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const j = s % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      assert.equal(ownerOf(channel, shuffled), ownerOf(channel, members));
      assert.deepEqual(replicasOf(channel, shuffled, 3), replicasOf(channel, members, 3));
      assert.deepEqual(replicasOf(channel, shuffled.toReversed(), members.length), replicasOf(channel, members, members.length));
    }),
    { numRuns: 500 },
  );
});

test('replicasOf: distinct, starts with ownerOf, ranked by weight, at most n', () => {
  fc.assert(
    fc.property(channelName, fc.array(hexId, { minLength: 1, maxLength: 16 }), fc.integer({ min: 1, max: 20 }), (channel, raw, n) => {
      // Duplicates in the input are allowed: the answer still names each member once.
      const members = [...raw, ...raw.slice(0, 2)];
      const distinct = new Set(members).size;
      const replicas = replicasOf(channel, members, n);
      assert.equal(replicas.length, Math.min(n, distinct));
      assert.equal(new Set(replicas).size, replicas.length);
      assert.equal(replicas[0], ownerOf(channel, members));
      for (let i = 1; i < replicas.length; i++) {
        assert.ok(weightOf(channel, replicas[i - 1]!) >= weightOf(channel, replicas[i]!));
      }
    }),
    { numRuns: 500 },
  );
});

test('replicasOf after a node leaves = the old list without it (replicas shift up, no reshuffle)', () => {
  fc.assert(
    fc.property(channelName, fc.uniqueArray(hexId, { minLength: 2, maxLength: 12 }), fc.nat(), (channel, members, k) => {
      const gone = members[k % members.length]!;
      const before = replicasOf(channel, members, 3).filter((m) => m !== gone);
      const after = replicasOf(channel, members.filter((m) => m !== gone), 3);
      assert.deepEqual(after.slice(0, before.length), before);
    }),
    { numRuns: 300 },
  );
});

test('edge cases: empty members throw, n = 0, one member, bad n', () => {
  assert.throws(() => ownerOf('a', []), NoMembersError);
  assert.throws(() => replicasOf('a', [], 2), (err: unknown) => err instanceof NoMembersError && err.code === 'ERR_NO_MEMBERS');
  assert.deepEqual(replicasOf('a', ['x'], 0), []);
  assert.equal(ownerOf('a', ['x']), 'x');
  assert.deepEqual(replicasOf('a', ['x'], 3), ['x']);
  assert.throws(() => replicasOf('a', ['x'], -1), RangeError);
  assert.throws(() => replicasOf('a', ['x'], 1.5), RangeError);
});

test('routing is fast enough for the hot path', (t) => {
  const members = nodes(16);
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let round = 0; round < 20; round++) for (const c of CHANNELS) sink += ownerOf(c, members).length;
  const ownerNs = Number(process.hrtime.bigint() - t0) / (20 * CHANNELS.length);
  const t1 = process.hrtime.bigint();
  for (const c of CHANNELS) sink += replicasOf(c, members, 2).length;
  const replicasNs = Number(process.hrtime.bigint() - t1) / CHANNELS.length;
  t.diagnostic(`ownerOf over 16 members: ${ownerNs.toFixed(0)} ns/call; replicasOf(n=2): ${replicasNs.toFixed(0)} ns/call`);
  assert.ok(sink > 0);
  assert.ok(ownerNs < 20_000, `ownerOf took ${ownerNs} ns`);
});
