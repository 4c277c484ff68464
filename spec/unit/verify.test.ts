import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signWebhook, verifyWebhook } from '../../lib/hooks/verify.js';

const SECRET = 'topsecret';
const BODY = '{"user":"alice","channel":"room"}';
const NOW = 1_700_000_000;

test('a signature has the documented shape and verifies', () => {
  const header = signWebhook(BODY, SECRET, NOW);
  assert.match(header, /^t=1700000000,v1=[0-9a-f]{64}$/);
  assert.equal(verifyWebhook(BODY, header, SECRET, 300, NOW), true);
  assert.equal(verifyWebhook(Buffer.from(BODY), header, SECRET, 300, NOW), true, 'raw Buffer body');
  assert.equal(signWebhook(Buffer.from(BODY), SECRET, NOW), header, 'string and Buffer bodies sign the same');
});

test('the signature is HMAC-SHA256(secret, t + "." + body), as an app in another language computes it', async () => {
  const { createHmac } = await import('node:crypto');
  const expected = createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex');
  assert.equal(signWebhook(BODY, SECRET, NOW), `t=${NOW},v1=${expected}`);
});

test('a tampered body, another secret or a changed timestamp is rejected', () => {
  const header = signWebhook(BODY, SECRET, NOW);
  assert.equal(verifyWebhook(BODY.replace('alice', 'mallory'), header, SECRET, 300, NOW), false);
  assert.equal(verifyWebhook(BODY, header, 'other', 300, NOW), false);
  assert.equal(verifyWebhook(BODY, header.replace(`t=${NOW}`, `t=${NOW + 1}`), SECRET, 300, NOW), false);
});

test('an old or future signature is rejected outside the tolerance, accepted inside', () => {
  const header = signWebhook(BODY, SECRET, NOW);
  assert.equal(verifyWebhook(BODY, header, SECRET, 300, NOW + 300), true);
  assert.equal(verifyWebhook(BODY, header, SECRET, 300, NOW + 301), false, 'replayed after 5 minutes');
  assert.equal(verifyWebhook(BODY, header, SECRET, 300, NOW - 301), false, 'from the future');
  assert.equal(verifyWebhook(BODY, header, SECRET, 10, NOW + 11), false, 'custom tolerance');
  assert.equal(verifyWebhook(BODY, signWebhook(BODY, SECRET), SECRET), true, 'default clock');
});

test('garbage never throws and never verifies', () => {
  const good = signWebhook(BODY, SECRET, NOW);
  const headers: unknown[] = [undefined, null, '', 'garbage', 42, {}, ['a', 'b'], 't=,v1=',
    `t=${NOW}`, `v1=${'a'.repeat(64)}`, `t=${NOW},v1=${'a'.repeat(63)}`, `t=${NOW},v1=${'g'.repeat(64)}`,
    `t=-5,v1=${'a'.repeat(64)}`, `t=1e9,v1=${'a'.repeat(64)}`, `${good},v1=${'a'.repeat(64)}`,
    good.toUpperCase(), `t=${'9'.repeat(400)},v1=${'a'.repeat(64)}`, good + 'x'];
  for (const h of headers) assert.equal(verifyWebhook(BODY, h, SECRET, 300, NOW), false, String(h));
  assert.equal(verifyWebhook(BODY, [good], SECRET, 300, NOW), true, 'a single-element header array is fine');
  for (const body of [undefined, null, 42, {}]) assert.equal(verifyWebhook(body, good, SECRET, 300, NOW), false);
  for (const secret of [undefined, '', 42]) assert.equal(verifyWebhook(BODY, good, secret, 300, NOW), false);
  assert.equal(verifyWebhook(BODY, good, SECRET, Number.NaN, NOW), false, 'NaN tolerance');
  assert.equal(verifyWebhook(BODY, good, SECRET, 300, Number.NaN), false, 'NaN clock');
});

test('signing with an empty secret is refused', () => {
  assert.throws(() => signWebhook(BODY, ''), TypeError);
});
