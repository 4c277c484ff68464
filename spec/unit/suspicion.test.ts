// Suspicion timer (memberlist suspicion.go): timeout shrinking with independent confirmations, on a hand-moved clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Suspicion, suspicionTimeout } from '../../lib/cluster/failure/suspicion.js';

const clockAt = (t = 0) => ({ t, now() { return this.t; } });

test('suspicionTimeout: max(min, max - (max-min)·log(C+1)/log(K+1))', () => {
  const table: Array<[c: number, k: number, min: number, max: number, want: number]> = [
    [0, 3, 3000, 6000, 6000], // nobody confirmed yet: the longest
    [1, 3, 3000, 6000, 4500], // log 2 / log 4 = 0.5
    [2, 3, 3000, 6000, 3622], // 6000 - 3000·log 3/log 4 = 3622.6, floored
    [3, 3, 3000, 6000, 3000], // all expected confirmations: the shortest
    [9, 3, 3000, 6000, 3000], // more than expected changes nothing
    [0, 1, 3000, 6000, 6000],
    [1, 1, 3000, 6000, 3000],
    [0, 0, 3000, 6000, 3000], // nobody could confirm (two-node cluster): min, as memberlist does
    [5, 0, 3000, 6000, 3000],
    [1, 2, 1000, 5000, 2476], // 5000 - 4000·log 2/log 3
  ];
  for (const [c, k, min, max, want] of table) {
    const exact = Math.max(min, max - ((max - min) * Math.log(Math.min(c, k) + 1)) / Math.log(k + 1));
    if (k >= 1) assert.equal(suspicionTimeout(c, k, min, max), Math.max(min, Math.floor(exact)), `C=${c} K=${k}`);
    assert.equal(suspicionTimeout(c, k, min, max), want, `C=${c} K=${k}`);
  }
});

test('the deadline moves with confirmations, counted once per member and never past K', () => {
  const clock = clockAt(1000);
  const s = new Suspicion(4, 2, 1000, 5000, clock);
  assert.equal(s.since, 1000);
  assert.equal(s.incarnation, 4);
  assert.equal(s.deadline(), 6000);
  clock.t = 2000;
  assert.equal(s.confirm('b'), true);
  assert.equal(s.confirm('b'), false, 'a second confirmation from the same member does not count');
  assert.equal(s.confirmations, 1);
  assert.equal(s.deadline(), 1000 + suspicionTimeout(1, 2, 1000, 5000));
  assert.equal(s.expired(), false);
  assert.equal(s.confirm('c'), true);
  assert.equal(s.deadline(), 2000);
  assert.equal(s.expired(), true, 'two confirmations bring the deadline to since + min, already passed');
  assert.equal(s.confirm('d'), false, 'enough confirmations: more are ignored');
});

test('time this node was stalled does not count towards the deadline', () => {
  const clock = clockAt(0);
  const s = new Suspicion(0, 0, 3000, 6000, clock);
  clock.t = 2900;
  s.pause(2500);
  s.pause(-5); // ignored
  assert.equal(s.deadline(), 5500);
  clock.t = 5499;
  assert.equal(s.expired(), false);
  clock.t = 5500;
  assert.equal(s.expired(), true);
});
