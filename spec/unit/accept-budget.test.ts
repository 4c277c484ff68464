// The accept budget's arithmetic: a token bucket (burst one second) and a Retry-After that spreads the refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { acceptBudget } from '../../lib/transport/accept-budget.js';

describe('accept budget (unit)', () => {
  test('admits a tenth of a second worth at once, refuses beyond with a Retry-After that grows with the overload, refills', () => {
    const b = acceptBudget(100);
    const t0 = 1_000_000;
    for (let i = 0; i < 10; i++) assert.equal(b.take(t0), 0, `connection ${i} admitted`);
    const waits = Array.from({ length: 300 }, () => b.take(t0));
    assert.ok(waits.every((w) => w >= 1), 'every connection past the burst is refused');
    assert.equal(waits[0], 1);
    assert.equal(waits[299], 4, '300 refused at 100/s: the last is told to wait 4 s');
    assert.equal(b.refused, 300);
    assert.equal(b.take(t0 + 10), 0, '10 ms later one token is back');
    assert.equal(acceptBudget(0).take(t0), 0, '0 = no budget');
  });
});
