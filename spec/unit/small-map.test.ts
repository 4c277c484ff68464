import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SmallMap } from '../../lib/session/small-map.js';

test('SmallMap behaves like Map for any sequence of set/delete/clear, below and past its inline capacity', () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('set' as const), k: fc.integer({ min: 0, max: 20 }), v: fc.integer() }),
    fc.record({ t: fc.constant('del' as const), k: fc.integer({ min: 0, max: 20 }) }),
    fc.record({ t: fc.constant('clear' as const) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
    const small = new SmallMap<number, number>();
    const map = new Map<number, number>();
    for (const o of ops) {
      if (o.t === 'set') { small.set(o.k, o.v); map.set(o.k, o.v); }
      else if (o.t === 'del') assert.equal(small.delete(o.k), map.delete(o.k));
      else { small.clear(); map.clear(); }
      assert.equal(small.size, map.size);
    }
    assert.deepEqual([...small].sort((a, b) => a[0] - b[0]), [...map].sort((a, b) => a[0] - b[0]));
    for (let k = 0; k <= 20; k++) {
      assert.equal(small.get(k), map.get(k));
      assert.equal(small.has(k), map.has(k));
    }
  }), { numRuns: 300 });
});
