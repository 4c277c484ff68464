// PeerSeeker against a stand-in for hyperswarm's peer table (the real swarm's give-up rule is what it works
// around: a peer with more than 3 failed attempts is not queued again). Timers and Date are mocked.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type Hyperswarm from 'hyperswarm';
import { PeerSeeker, REFRESH_AFTER_MS, SEEK_FOR_MS, SEEK_RETRY_MS } from '../../lib/cluster/peer-seeker.js';

class FakeSwarm {
  readonly peers = new Map<string, { attempts: number }>();
  readonly dials: string[] = [];
  readonly left: string[] = [];
  /** hyperswarm's rule: joinPeer() queues a dial only while the peer has at most 3 failed attempts. */
  joinPeer(key: Buffer): void {
    const id = key.toString('hex');
    const info = this.peers.get(id) ?? { attempts: 0 };
    this.peers.set(id, info);
    if (info.attempts <= 3) this.dials.push(id);
  }
  leavePeer(key: Buffer): void {
    this.left.push(key.toString('hex'));
  }
}

test('a member hyperswarm gave up on is dialed again every few seconds until linked, then released', () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
  try {
    const swarm = new FakeSwarm();
    const linked = new Set<string>();
    let refreshes = 0;
    const seeker = new PeerSeeker(() => swarm as unknown as Hyperswarm, (id) => linked.has(id), () => refreshes++);
    const a = 'aa'.repeat(32);
    swarm.peers.set(a, { attempts: 5 }); // failed 5 times while the machine was busy: hyperswarm stopped
    seeker.seek(a);
    assert.deepEqual(swarm.dials, [a], 'dialed at once, its attempts counted afresh');
    swarm.peers.get(a)!.attempts = 6; // and failed again, past hyperswarm's limit
    mock.timers.tick(SEEK_RETRY_MS);
    assert.deepEqual(swarm.dials, [a, a], 'revived after SEEK_RETRY_MS');
    linked.add(a);
    mock.timers.tick(SEEK_RETRY_MS);
    assert.deepEqual(swarm.dials, [a, a], 'linked: no more dials');
    assert.deepEqual(swarm.left, [a], 'and the explicit dial is released');
    assert.equal(seeker.has(a), false);
    assert.equal(refreshes, 0, 'found within seconds: no topic lookup');
    seeker.stop();
  } finally {
    mock.timers.reset();
  }
});

test('a member that never comes back is given up after SEEK_FOR_MS', () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
  try {
    const swarm = new FakeSwarm();
    let refreshes = 0;
    const seeker = new PeerSeeker(() => swarm as unknown as Hyperswarm, () => false, () => refreshes++);
    const b = 'bb'.repeat(32);
    seeker.seek(b);
    for (let t = 0; t < REFRESH_AFTER_MS; t += SEEK_RETRY_MS) mock.timers.tick(SEEK_RETRY_MS);
    assert.equal(refreshes, 1, 'missing for REFRESH_AFTER_MS: the topic is looked up again');
    for (let t = REFRESH_AFTER_MS; t < SEEK_FOR_MS; t += SEEK_RETRY_MS) mock.timers.tick(SEEK_RETRY_MS);
    assert.equal(seeker.has(b), true, 'still sought at the deadline');
    assert.ok(refreshes <= SEEK_FOR_MS / REFRESH_AFTER_MS + 1, `${refreshes} topic lookups: at most one per ${REFRESH_AFTER_MS} ms`);
    const dials = swarm.dials.length;
    assert.ok(dials >= SEEK_FOR_MS / SEEK_RETRY_MS, `${dials} dials in ${SEEK_FOR_MS} ms`);
    mock.timers.tick(SEEK_RETRY_MS);
    assert.equal(seeker.has(b), false);
    assert.deepEqual(swarm.left, [b]);
    mock.timers.tick(10 * SEEK_RETRY_MS);
    assert.equal(swarm.dials.length, dials, 'no dial after giving up');
    seeker.stop();
  } finally {
    mock.timers.reset();
  }
});
