// Session ids are drawn from a pool of CSPRNG bytes refilled every 256 ids: across refills every id is new and well formed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newSessionId } from '../../lib/session/session.js';

test('session ids: 22 base64url characters (16 random bytes), none repeated over many pool refills', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = newSessionId();
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 10_000);
});
