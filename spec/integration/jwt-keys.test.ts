// Client tokens verified with a public key (--jwt-public-key, RS256/ES256 PEM) or a key set (--jwks, kid
// selection), so the app's signing key never reaches the real-time tier. Keys are made at test time by jose.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { signToken } from '../../lib/auth/tokens.js';
import { OptionsError } from '../../lib/errors.js';
import { createNode } from '../../lib/node.js';
import { openSse, startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };
const now = () => Math.floor(Date.now() / 1000);

/** Signs a token with `key`; `header` and `payload` override the defaults (sub alice, exp in an hour). */
function sign(key: CryptoKey | Uint8Array, alg: string, payload: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', exp: now() + 3600, ...payload }).setProtectedHeader({ alg, ...header }).sign(key);
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** An unsigned token (`alg: none`). */
const unsigned = (payload: JWTPayload = { sub: 'alice', exp: now() + 3600 }) => `${b64({ alg: 'none' })}.${b64(payload)}.`;
/** The same token with its payload swapped for another user's (signature left as is). */
function tampered(token: string, user = 'mallory'): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
  return `${h}.${b64({ ...payload, sub: user })}.${s}`;
}

/** How a node answers a token: over REST publish (status, code, message) and a WebSocket connect (close code). */
async function refusal(t: TestNode, token: string) {
  const res = await fetch(`${t.url}/v1/channels/open/messages`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"data":1}',
  });
  const body = await res.json() as { error?: { code: string; message: string } };
  const ws = new TestClient(`${t.url.replace(/^http/, 'ws')}/v1/ws`);
  await ws.opened;
  ws.send({ type: 'connect', token });
  const frame = await ws.next((f) => f.type === 'connected' || f.type === 'error');
  const closed = frame.type === 'error' ? (await ws.waitClosed()).code : null;
  ws.close();
  return { status: res.status, code: body.error?.code, message: body.error?.message ?? '', frame: frame.type, closed };
}

describe('tokens verified with a public key and a key set', () => {
  let dir: string;
  let rsa: Pair, ec: Pair, other: Pair, rsa2: Pair;
  let keyNode: TestNode, jwksNode: TestNode, bothNode: TestNode;
  let rsaPem: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hashpub-jwt-'));
    [rsa, ec, other, rsa2] = await Promise.all([generateKeyPair('RS256'), generateKeyPair('ES256'), generateKeyPair('ES256'), generateKeyPair('RS256')]);
    rsaPem = await exportSPKI(rsa.publicKey);
    writeFileSync(join(dir, 'rsa.pem'), rsaPem);
    writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [
      { ...await exportJWK(rsa.publicKey), kid: 'r1', alg: 'RS256', use: 'sig' },
      { ...await exportJWK(ec.publicKey), kid: 'e1', alg: 'ES256', use: 'sig' },
    ] }));
    // jwtSecret undefined: no --jwt-secret given (the node still generates one, which must not verify tokens).
    const common = { data: ':memory:', jwtSecret: undefined };
    keyNode = await startTestNode({ ...common, jwtPublicKey: join(dir, 'rsa.pem') });
    jwksNode = await startTestNode({ ...common, jwks: join(dir, 'keys.json') });
    bothNode = await startTestNode({ data: ':memory:', jwtSecret: 'app-and-node-share-this-secret', jwtPublicKey: join(dir, 'rsa.pem') });
    for (const n of [keyNode, jwksNode, bothNode]) await n.api('PUT', '/v1/channels/open/config', { clientPublish: true });
  });
  after(async () => {
    await Promise.all([keyNode?.stop(), jwksNode?.stop(), bothNode?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('an RS256 token of the configured key connects over WebSocket and SSE and publishes over REST', async () => {
    const token = await sign(rsa.privateKey, 'RS256', { publish: ['open'] });
    const { client, connected } = await TestClient.connect(keyNode.url, { token });
    assert.equal(connected.user, 'alice');
    assert.equal((await client.subscribe('open')).type, 'subscribed');
    const sse = openSse(`${keyNode.url}/v1/sse?channel=open&token=${token}`);
    await sse.ready;
    assert.equal(sse.status(), 200);
    const res = await fetch(`${keyNode.url}/v1/channels/open/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"data":"hi"}',
    });
    assert.equal(res.status, 200);
    const [m] = await client.waitMessages('open', 1);
    assert.equal(m!.from, 'alice');
    assert.equal(JSON.parse((await sse.waitFor(1))[0]!.data!).from, 'alice');
    sse.close();
    client.close();
  });

  test('with only a public key: HS256 (even with the node\'s own generated secret), alg none, algorithm confusion, tampering, expiry and other keys are refused', async () => {
    const cases: Array<[string, Promise<string> | string, RegExp]> = [
      ['HS256 with the generated secret', signToken(keyNode.node.jwtSecret, 'alice'), /algorithm "HS256" not allowed/],
      ['alg none', unsigned(), /algorithm "none" not allowed/],
      ['HS256 keyed with the public PEM', sign(new TextEncoder().encode(rsaPem), 'HS256'), /not allowed/],
      ['tampered RS256', sign(rsa.privateKey, 'RS256').then((t) => tampered(t)), /invalid token/],
      ['expired RS256', sign(rsa.privateKey, 'RS256', { exp: now() - 60 }), /expired/],
      ['RS256 of another key', sign(rsa2.privateKey, 'RS256'), /invalid token/],
      ['ES256 (no EC key configured)', sign(other.privateKey, 'ES256'), /algorithm "ES256" not allowed/],
      ['RS256 without exp', new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey), /claim invalid/],
      ['RS256 with a numeric sub', sign(rsa.privateKey, 'RS256', { sub: 42 as unknown as string }), /./],
      ['not a JWT', 'abc.def', /invalid token/],
    ];
    for (const [name, token, why] of cases) {
      const r = await refusal(keyNode, await token);
      assert.equal(r.status, 401, name);
      assert.equal(r.code, 'unauthorized', name);
      assert.match(r.message, why, name);
      assert.equal(r.closed, 4401, `${name}: a WebSocket with this token is closed 4401`);
    }
  });

  test('a key set picks the key by kid; an unknown kid, a wrong key under a known kid and HS256 are refused', async () => {
    for (const [key, alg, kid] of [[rsa.privateKey, 'RS256', 'r1'], [ec.privateKey, 'ES256', 'e1']] as const) {
      const { client, connected } = await TestClient.connect(jwksNode.url, { token: await sign(key, alg, {}, { kid }) });
      assert.equal(connected.user, 'alice', kid);
      client.close();
    }
    const refused: Array<[string, Promise<string>, RegExp]> = [
      ['unknown kid', sign(rsa.privateKey, 'RS256', {}, { kid: 'r9' }), /no key of the key set/],
      ['another key under kid e1', sign(other.privateKey, 'ES256', {}, { kid: 'e1' }), /invalid token/],
      ['RS256 key under the EC kid', sign(rsa.privateKey, 'RS256', {}, { kid: 'e1' }), /no key of the key set/],
      ['HS256', signToken(jwksNode.node.jwtSecret, 'alice'), /not allowed/],
    ];
    for (const [name, token, why] of refused) {
      const r = await refusal(jwksNode, await token);
      assert.equal(r.code, 'unauthorized', name);
      assert.match(r.message, why, name);
    }
  });

  test('with --jwt-secret given as well, HS256 and RS256 tokens are both accepted', async () => {
    for (const token of [await signToken('app-and-node-share-this-secret', 'alice'), await sign(rsa.privateKey, 'RS256')]) {
      const { client, connected } = await TestClient.connect(bothNode.url, { token });
      assert.equal(connected.user, 'alice');
      client.close();
    }
    assert.equal((await refusal(bothNode, unsigned())).code, 'unauthorized');
  });
});

describe('bad key files stop the start, naming the flag', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'hashpub-jwt-bad-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function startError(options: Record<string, unknown>): Promise<OptionsError> {
    const node = createNode({ port: 0, data: ':memory:', logLevel: 'silent', ...options }, { standalone: true });
    try {
      await node.start();
    } catch (err) {
      assert.ok(err instanceof OptionsError, String(err));
      return err;
    }
    await node.stop();
    throw new Error('the node started');
  }
  const file = (name: string, text: string) => { writeFileSync(join(dir, name), text); return join(dir, name); };

  test('--jwt-public-key: missing, a private key, not PEM, a short RSA key, an unsupported curve', async () => {
    const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
    const shortRsa = pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    const p384 = pem(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'missing.pem'), /cannot read/],
      [file('private.pem', await exportPKCS8(privateKey)), /private key/],
      [file('junk.pem', 'not a key'), /not a PEM public key/],
      [file('short.pem', shortRsa), /at least 2048 bits/],
      [file('p384.pem', p384), /not supported/],
    ];
    for (const [path, why] of cases) {
      const err = await startError({ jwtPublicKey: path });
      assert.equal(err.field, 'jwtPublicKey', path);
      assert.match(err.message, why, path);
    }
  });

  test('--jwks: missing, not JSON, not a key set, empty, a private or a symmetric key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'missing.json'), /cannot read/],
      [file('text.json', 'keys'), /not a JSON Web Key Set/],
      [file('object.json', '{"k":1}'), /not a JSON Web Key Set/],
      [file('empty.json', '{"keys":[]}'), /no keys/],
      [file('private.json', JSON.stringify({ keys: [await exportJWK(privateKey)] })), /private key/],
      [file('oct.json', '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}'), /only RSA and EC/],
    ];
    for (const [path, why] of cases) {
      const err = await startError({ jwks: path });
      assert.equal(err.field, 'jwks', path);
      assert.match(err.message, why, path);
    }
  });
});
