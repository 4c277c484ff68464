// Take-overs whose replica catch-up goes wrong (found by the partition chaos audit, bench/results/chaos-*-hosts-*):
// a take-over that fails must leave nothing behind that keeps claiming terms, and a term re-claimed while the
// take-over's catch-up ran must be the term the owner then writes under. A fake node link, a real store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { HashpubError } from '../../lib/errors.js';
import { ClusterReplication } from '../../lib/replication/cluster-replication.js';
import { OwnerLinks } from '../../lib/replication/owner-links.js';
import type { NodeLink, ReplicatedChannel } from '../../lib/replication/replication.js';
import { summarize } from '../../lib/replication/terms.js';
import { GroupCommit } from '../../lib/store/group-commit.js';
import { MemoryStore } from '../../lib/store/memory-store.js';
import { emptyRecord } from '../../lib/store/store.js';

const S = 'a'.repeat(64);
const A = 'b'.repeat(64);
const B = 'c'.repeat(64);
const log = pino({ level: 'silent' });
/** This node first, then the others in a fixed order (a stand-in for the rendezvous ranking). */
const ranked = (_c: string, members: string[], n: number) => [...members].sort((x, y) => (x === S ? -1 : y === S ? 1 : x.localeCompare(y))).slice(0, n);
const unreachable = () => Promise.reject(new HashpubError('unavailable', 'not reachable'));

test('a take-over whose replica cannot be caught up leaves no link behind to re-claim the channel later', async () => {
  let members = [S, A];
  const requests: Array<{ to: string; op: string }> = [];
  const link: NodeLink = {
    self: S,
    members: () => members,
    request<T>(to: string, op: string): Promise<T> {
      requests.push({ to, op });
      // Every candidate confirms the claim; the replica then never takes the catch-up.
      if (op === 'repl.claim') return Promise.resolve({ ok: true, copy: summarize(emptyRecord()) } as T);
      return unreachable();
    },
  };
  const store = new MemoryStore();
  const repl = new ClusterReplication({
    link, store, commit: new GroupCommit(store), log, ranked, minCopies: 2, timeoutMs: 200, ownerOf: () => S,
    owner: () => ({ release: async () => {}, holds: () => false, fenced: () => {}, held: () => [] }),
  });
  await repl.start();
  await repl.joined(A);
  await assert.rejects(repl.acquire('c'), (err: HashpubError) => err.code === 'unavailable');
  assert.deepEqual(repl.status('c'), { node: null, caughtUp: false, lag: 0 }, 'the failed take-over left a replication link');

  // A later view change must not restart a catch-up (and with it a re-claim) for the channel nobody holds here.
  members = [S, B];
  const before = requests.length;
  repl.viewChanged();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(requests.slice(before), []);
  repl.close();
});

/** A stand-in channel as a take-over uses it, and the owner's object for the same channel. */
function channels(term: number): { standIn: ReplicatedChannel; owned: ReplicatedChannel } {
  const snapshot = () => ({ ...emptyRecord(), epoch: 'e', offset: 3, term });
  return {
    standIn: { name: 'c', term, seq: 0, released: false, snapshot },
    owned: { name: 'c', term, seq: 0, released: false, snapshot },
  };
}

/** OwnerLinks whose replica moves from A to B once the catch-up starts (so it re-claims), with a re-claim the test releases. */
function movingReplica() {
  let calls = 0;
  let release!: () => void;
  const reclaimed = new Promise<void>((r) => { release = r; });
  let claimDone!: () => void;
  const done = new Promise<void>((r) => { claimDone = r; });
  const links = new OwnerLinks({
    link: { self: S, members: () => [S, A, B], request: unreachable },
    log, timeoutMs: 100,
    replicaOf: () => (calls++ === 0 ? A : B),
    reclaim: async (ch) => {
      await reclaimed;
      ch.term += 1;
      claimDone();
    },
    activate: async () => {},
    fenced: () => {},
  });
  return { links, release, done };
}

test('a term re-claimed while the owner attached its channel is the term the owner writes under', async () => {
  const { standIn, owned } = channels(4);
  const { links, release, done } = movingReplica();
  const sync = links.syncNow(standIn, null).catch(() => {});
  links.attach(owned); // the take-over handed over its channel while the re-claim was in flight
  release();
  await done;
  await new Promise((r) => setImmediate(r));
  assert.equal(owned.term, 5);
  links.close();
  await sync;
});

test('a term re-claimed before the owner attached its channel carries over to it', async () => {
  const { standIn, owned } = channels(4);
  const { links, release, done } = movingReplica();
  const sync = links.syncNow(standIn, null).catch(() => {});
  release();
  await done;
  assert.equal(standIn.term, 5);
  links.attach(owned);
  assert.equal(owned.term, 5);
  links.close();
  await sync;
});
