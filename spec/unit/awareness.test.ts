// Local health (memberlist awareness.go): score bounds, multiplier, rises on late ticks, decay while punctual.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Awareness } from '../../lib/cluster/failure/awareness.js';

const clockAt = (t = 0) => ({ t, now() { return this.t; } });

test('applyDelta keeps the score in [0, max-1]; timeouts scale by score+1', () => {
  const table: Array<[deltas: number[], score: number]> = [
    [[], 0],
    [[1], 1],
    [[1, 1, -1], 1],
    [[-3], 0],
    [[5, 5], 7],
    [[100, -2], 5],
  ];
  for (const [deltas, score] of table) {
    const a = new Awareness(clockAt(), 8, 1000);
    for (const d of deltas) a.applyDelta(d);
    assert.equal(a.score, score, `deltas ${deltas.join(',')}`);
    assert.equal(a.multiplier(), score + 1);
    assert.equal(a.scale(250), 250 * (score + 1));
  }
});

test('late ticks raise the score, punctual ones bring it down once per decay period', () => {
  const clock = clockAt(0);
  const a = new Awareness(clock, 8, 1000);
  // [time, lateness of the tick, expected score after it]
  const steps: Array<[t: number, late: number, score: number]> = [
    [250, 0, 0],
    [500, 100, 0], // within the 125 ms tolerance
    [3100, 2350, 1], // a 2.5 s stall
    [3350, 0, 1],
    [3600, 200, 2], // still lagging
    [3850, 0, 2],
    [4350, 0, 2], // 750 ms punctual: not yet a decay period
    [4600, 0, 1], // 1000 ms punctual since the last late tick
    [4850, 0, 1],
    [5600, 0, 0],
    [9000, 0, 0], // never below zero
  ];
  for (const [t, late, score] of steps) {
    clock.t = t;
    a.tick(late, 125);
    assert.equal(a.score, score, `t=${t} late=${late}`);
  }
});

test('a refutation or a missed probe (applyDelta) restarts the decay period', () => {
  const clock = clockAt(0);
  const a = new Awareness(clock, 8, 1000);
  a.applyDelta(2);
  clock.t = 900;
  a.applyDelta(1);
  clock.t = 1500;
  a.tick(0, 125);
  assert.equal(a.score, 3, 'only 600 ms since the last problem');
  clock.t = 1900;
  a.tick(0, 125);
  assert.equal(a.score, 2);
});
