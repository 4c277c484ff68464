// Fuzzing client tokens: tampered tokens, wrong and odd `alg` headers, garbage, and correctly signed tokens
// with claims of any type (HS256 with the secret, RS256 with a key of the node's --jwks), presented over
// WebSocket, REST publish and SSE. A token is accepted or refused `unauthorized`; an accepted one with odd
// claims never breaks what the connection does next.
import assert from 'node:assert/strict';
import { createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { TestClient } from '../../lib/testing/index.js';
import { anyField, channelName, oddNumber } from './arbitraries.js';
import { assertAnswer, assertRefusal, params, startFuzzNode, type FuzzNode } from './harness.js';
import { rawRequest } from './http.js';

const SECRET = 'fuzz-jwt-secret-0123456789';
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v) ?? 'null').toString('base64url');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** Signs header.payload with HS256 (the node's secret) or RS256 (the key of its key set), whatever the header says. */
function signed(header: unknown, payload: unknown, with_: 'hs' | 'rs' | 'none' | 'junk'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = with_ === 'hs' ? createHmac('sha256', SECRET).update(input).digest('base64url')
    : with_ === 'rs' ? createSign('RSA-SHA256').update(input).sign(rsa.privateKey).toString('base64url')
    : with_ === 'junk' ? 'c2lnbmF0dXJl' : '';
  return `${input}.${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);

/** Claims of any type, around a mostly valid core. */
const claims = fc.record({
  sub: fc.oneof(fc.constantFrom('alice', 'bob', 'a'.repeat(200)), anyField),
  exp: fc.oneof(fc.constant(now() + 3600), fc.constant(now() - 10), oddNumber, anyField),
  nbf: fc.oneof(oddNumber, anyField),
  iat: fc.oneof(oddNumber, anyField),
  channels: fc.oneof(fc.array(channelName, { maxLength: 5 }), anyField),
  publish: fc.oneof(fc.array(fc.constantFrom('fuzz-a', 'fuzz-private'), { maxLength: 3 }), anyField),
  role: anyField,
}, { requiredKeys: [] });

const header = fc.oneof(
  fc.constantFrom({ alg: 'HS256' }, { alg: 'HS256', typ: 'JWT' }, { alg: 'RS256', kid: 'k1' }, { alg: 'RS256' }),
  fc.record({ alg: fc.oneof(fc.constantFrom('none', 'None', 'HS512', 'RS256', 'ES256', 'PS256', 'EdDSA', 'hs256', ''), anyField), kid: anyField, crit: anyField, b64: anyField }, { requiredKeys: ['alg'] }),
  anyField,
);

/** One character of a token replaced, removed or doubled. */
const tamper = (token: string) => fc.tuple(fc.nat({ max: token.length - 1 }), fc.constantFrom('replace', 'remove', 'double'), fc.constantFrom('A', '_', '-', '.', '=', 'é'))
  .map(([i, how, c]) => how === 'replace' ? token.slice(0, i) + c + token.slice(i + 1) : how === 'remove' ? token.slice(0, i) + token.slice(i + 1) : token.slice(0, i + 1) + token.slice(i));

const token: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(header, claims, fc.constantFrom('hs', 'rs', 'none', 'junk')).map(([h, c, s]) => signed(h, c, s as 'hs')),
  fc.tuple(fc.constantFrom('hs', 'rs'), claims).chain(([s, c]) => tamper(signed(s === 'hs' ? { alg: 'HS256' } : { alg: 'RS256', kid: 'k1' }, c, s as 'hs'))),
  fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 })).map((p) => p.join('.')),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom('', '.', '..', '...', 'a.b', 'e30.e30.', `${b64({ alg: 'HS256' })}.${b64('not an object')}.`),
);

describe('fuzz: client tokens', () => {
  let t: FuzzNode;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hashpub-fuzz-jwks-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] }));
    t = await startFuzzNode({ jwtSecret: SECRET, jwks: join(dir, 'jwks.json') });
    await t.api('PUT', '/v1/channels/fuzz-private/config', { private: true, clientPublish: true });
  });
  after(async () => {
    await t?.finish();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a token is accepted or refused unauthorized on every transport; an accepted one works normally', async () => {
    let ids = 1;
    await fc.assert(fc.asyncProperty(token, async (tok) => {
      const what = `token ${tok.slice(0, 300)}`;
      // WebSocket: connect, then act with whatever the claims allow.
      const c = new TestClient(`${t.url.replace(/^http/, 'ws')}/v1/ws`);
      await c.opened;
      try {
        c.send({ type: 'connect', token: tok });
        const first = await c.next((f) => f.type === 'connected' || f.type === 'error');
        if (first.type === 'error') {
          assert.equal(first.code, 'unauthorized', what);
          assertRefusal(first.code, first.message, undefined, what);
          assert.equal((await c.waitClosed()).code, 4401, what);
        } else {
          for (const frame of [{ type: 'subscribe', channel: 'fuzz-private' }, { type: 'publish', channel: 'fuzz-a', data: 1 },
            { type: 'publish', channel: 'fuzz-private', data: 2 }, { type: 'subscribe', channel: 'fuzz-a' }]) {
            const id = ids++;
            c.send({ ...frame, id });
            const answer = await c.next((f) => f.id === id);
            if (answer.type === 'error') assertRefusal(answer.code, answer.message, undefined, `${what} ${frame.type}`);
          }
        }
      } finally {
        c.ws.close();
      }
      // REST publish with the token as bearer, and an SSE stream with it in the query.
      const rest = await rawRequest(t.url, 'POST', '/v1/channels/fuzz-a/messages', { authorization: `Bearer ${tok.replace(/[^\x20-\x7e]/g, '?')}`, 'content-type': 'application/json' }, '{"data":1}');
      assertAnswer(rest.status, rest.contentType, rest.text, `REST ${what}`);
      const sse = await rawRequest(t.url, 'GET', `/v1/sse?channel=fuzz-private&token=${encodeURIComponent(tok)}`, {}, undefined, 100);
      assertAnswer(sse.status, sse.contentType, sse.text, `SSE ${what}`);
      await t.beat();
    }), params(100));
  });
});
