import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BucketMap, fullBucket, isFull, take } from '../../lib/limits/token-bucket.js';
import { parseOptions } from '../../lib/options.js';
import { EdgeLimits } from '../../lib/limits/edge-limits.js';
import { Metrics } from '../../lib/metrics.js';

test('a bucket gives its burst at once, then one token per 1/rate seconds; the wait it answers is the time to the next token', () => {
  const b = fullBucket(3, 0);
  assert.deepEqual([take(b, 2, 3, 0), take(b, 2, 3, 0), take(b, 2, 3, 0)], [0, 0, 0]);
  assert.equal(take(b, 2, 3, 0), 0.5, 'empty: the next token comes in 1/2 s');
  assert.equal(take(b, 2, 3, 250), 0.25, 'half a token after 250 ms');
  assert.equal(take(b, 2, 3, 500), 0, 'one token after 500 ms');
  assert.ok(take(b, 2, 3, 500) > 0);
});

test('a bucket never holds more than its burst, however long it was idle', () => {
  const b = fullBucket(2, 0);
  take(b, 1, 2, 0);
  assert.equal(isFull(b, 1, 2, 999), false);
  assert.equal(isFull(b, 1, 2, 1000), true);
  const taken = [0, 1, 2].map(() => take(b, 1, 2, 3_600_000));
  assert.deepEqual(taken.map((w) => w === 0), [true, true, false], 'after an hour idle still only 2 at once');
});

test('BucketMap: keys have their own buckets, and full ones are forgotten when the map grows', () => {
  let now = 0;
  const m = new BucketMap(1, 1, () => now);
  assert.equal(m.take('a'), 0);
  assert.ok(m.take('a') > 0, 'a is empty');
  assert.equal(m.take('b'), 0, 'b is not a');
  for (let i = 0; i < 1100; i++) m.take(`k${i}`);
  const grown = m.size;
  assert.ok(grown > 1024);
  now = 2000; // every bucket is full again
  m.take('late-1');
  for (let i = 0; i < 2000 && m.size >= grown; i++) m.take(`more-${i}`);
  assert.ok(m.size < grown, `full buckets are dropped on a sweep (${m.size} < ${grown})`);
});

test('limit options: 0 turns a limit off, negatives and non-addresses are refused naming the option', () => {
  assert.equal(parseOptions({ maxCommandsPerSecond: '0' }).maxCommandsPerSecond, 0);
  assert.deepEqual(parseOptions({ limitExemptAddresses: '' }).limitExemptAddresses, []);
  assert.throws(() => parseOptions({ maxSubscriptionsPerConnection: -1 }), /maxSubscriptionsPerConnection: must be a number >= 0/);
  assert.throws(() => parseOptions({ abuseWindowSeconds: 0 }), /abuseWindowSeconds/);
  assert.throws(() => parseOptions({ limitExemptAddresses: 'localhost' }), /limitExemptAddresses: "localhost" is not an IP address/);
});

test('a connection\'s command budget can be forgotten once full again, not while a refusal is within the abuse window', () => {
  let now = 0;
  const o = parseOptions({ maxCommandsPerSecond: 10, commandBurst: 5, abuseRefusals: 3, abuseWindowSeconds: 10 });
  const budget = new EdgeLimits(o, new Metrics(), () => now).budget();
  assert.equal(budget.forgettable(), true, 'a fresh budget is full');
  for (let i = 0; i < 5; i++) budget.take();
  assert.equal(budget.forgettable(), false, 'the burst is spent');
  now = 499;
  assert.equal(budget.forgettable(), false, '4.99 of 5 tokens back');
  now = 500;
  assert.equal(budget.forgettable(), true, 'full again after burst / rate = 0.5 s');
  assert.equal(budget.strike(), false);
  assert.equal(budget.forgettable(), false, 'a refusal within the window is remembered (the abuse count must hold)');
  now = 10_501;
  assert.equal(budget.forgettable(), true, 'the window passed');
});
