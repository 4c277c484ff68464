// Re-registrations after a stall or an owner move go to the owner a bounded number at a time
// (lib/session/owner-registration.ts limitConcurrency): the rest wait, in order, and a failure frees its slot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limitConcurrency } from '../../lib/session/owner-registration.js';

test('at most n calls run at once; the others start in call order as slots free, failed or not', async () => {
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const call = limitConcurrency(3, async (i: number) => {
    started.push(i);
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 1 + (i % 4)));
    running--;
    if (i % 5 === 0) throw new Error(`call ${i} failed`);
    return i * 2;
  });
  const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => call(i)));
  assert.equal(most, 3, 'never more than 3 in flight, and all 3 slots used');
  assert.deepEqual(started, Array.from({ length: 40 }, (_, i) => i), 'started in call order');
  results.forEach((r, i) => {
    if (i % 5 === 0) assert.equal(r.status, 'rejected');
    else assert.deepEqual(r, { status: 'fulfilled', value: i * 2 });
  });
  // After the burst the limiter is empty again: a new call starts at once.
  let ran = false;
  const late = call(1).then(() => { ran = true; });
  assert.deepEqual(started.at(-1), 1, 'a call after the burst starts synchronously');
  await late;
  assert.ok(ran);
});
