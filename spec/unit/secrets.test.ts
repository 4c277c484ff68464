import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSecret, loadSecrets } from '../../lib/secrets.js';

test('generated secrets never start with "-" (a CLI would read such a key as a flag) and stay 32 base64url characters', () => {
  // base64url puts "-" first in 1 of 64 draws: 20,000 draws would show it about 300 times.
  for (let i = 0; i < 20_000; i++) {
    const s = generateSecret();
    assert.match(s, /^[A-Za-z0-9][A-Za-z0-9_-]{31}$/);
  }
});

test('loadSecrets generates the API key, JWT secret and cluster secret that way', async () => {
  for (let i = 0; i < 500; i++) {
    const { secrets } = await loadSecrets(null, {});
    for (const v of [secrets.apiKey, secrets.jwtSecret, secrets.secret]) assert.ok(!v.startsWith('-'), v);
  }
});
