// Fuzzing the REST API: any method, path, query, auth, content type and body (JSON of any shape, garbage,
// deep nesting, oversized), while a well-behaved WebSocket client listens on the side.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { anyField, bytes, channelName, deepJson, json, numberText } from './arbitraries.js';
import { assertAnswer, params, startFuzzNode, type FuzzNode } from './harness.js';
import { rawRequest } from './http.js';

/** Path segments: valid names, percent-encoded anything, broken encodings, dot segments. */
const segment: fc.Arbitrary<string> = fc.oneof(
  channelName.map(encodeURIComponent),
  fc.constantFrom('%ZZ', '%', '%00', '..', '.', '%2F', '%24user%3Aalice', '', 'alice', 'x'.repeat(300), '%F0%9F%92%A9', '%C3%28'),
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,30}$/),
).filter((s) => !/^(watcher|fuzz-watch|fuzz-acked)$/.test(decodeURIComponentSafe(s)));

function decodeURIComponentSafe(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

const queryValue: fc.Arbitrary<string> = fc.oneof(numberText, fc.string({ maxLength: 20 }), fc.constantFrom('', '-1', '0', '1', '10001', 'NaN', '1e3'))
  .map(encodeURIComponent);

const path: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(segment, fc.constantFrom('messages', 'history', 'presence', 'config', 'kick', 'owner', 'nothing', ''), queryValue, queryValue)
    .map(([c, r, a, b]) => `/v1/channels/${c}/${r}?since=${a}&limit=${b}&cursor=${a}`),
  fc.tuple(segment, fc.constantFrom('messages', 'disconnect', 'x')).map(([u, r]) => `/v1/users/${u}/${r}`),
  fc.constantFrom('/v1/cluster', '/v1/', '/v1', '/', '/healthz', '/metrics', '/v1/openapi.json', '/v1/client.js', '/v1/ws', '//v1/cluster',
    '/v1/channels', '/v1/channels/a', '/v1/channels/a/messages/extra', '/v1/users', '*'),
  fc.array(segment, { maxLength: 5 }).map((s) => `/v1/${s.join('/')}`),
);

/** A body object with the fields the API reads, of any type. */
const fields = fc.record({
  data: json, id: anyField, user: fc.oneof(fc.constantFrom('alice', 'bob'), anyField), ban: anyField, reason: anyField,
  private: anyField, maxSubscribers: anyField, clientPublish: anyField, history: fc.oneof(fc.record({ size: anyField, ttlSeconds: anyField }), anyField),
  presence: anyField, presenceEvents: anyField, deliverHook: anyField,
}, { requiredKeys: [] });

const body: fc.Arbitrary<string | Uint8Array | undefined> = fc.oneof(
  fields.map((f) => JSON.stringify(f)),
  json.map((v) => JSON.stringify(v)),
  deepJson,
  fc.string({ unit: 'binary', maxLength: 100 }),
  bytes,
  fc.integer({ min: 8100, max: 9000 }).map((n) => JSON.stringify({ data: 'x'.repeat(n) })),
  fc.constant(undefined),
);

describe('fuzz: REST routes and bodies', () => {
  let t: FuzzNode;
  let token = '';
  before(async () => {
    t = await startFuzzNode();
    token = await t.token('fuzzer', { publish: ['fuzz-a'] });
  });
  after(async () => { await t?.finish(); });

  test('any request: a success or a documented JSON refusal with its status, never a crash or a leak', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), fc.stringMatching(/^[A-Z]{1,8}$/)),
      path,
      fc.constantFrom('key', 'token', 'wrong', 'basic', 'none', 'garbage'),
      fc.oneof(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1'),
        fc.stringMatching(/^[a-z]{1,10}\/[a-z+.-]{1,10}$/)),
      body,
      fc.option(fc.constantFrom('http://evil.example', 'null', 'https://app.example'), { nil: undefined }),
      async (method, p, auth, contentType, b, origin) => {
        const headers: Record<string, string> = { 'content-type': contentType };
        if (auth === 'key') headers.authorization = `Bearer ${t.apiKey}`;
        if (auth === 'token') headers.authorization = `Bearer ${token}`;
        if (auth === 'wrong') headers.authorization = 'Bearer nope';
        if (auth === 'basic') headers.authorization = 'Basic dXNlcjpwYXNz';
        if (auth === 'garbage') headers.authorization = 'Bearer  a b c';
        if (origin) headers.origin = origin;
        const what = `${method} ${p} (${auth}, ${contentType}) ${typeof b === 'string' ? b.slice(0, 200) : String(b?.length)}`;
        const r = await rawRequest(t.url, method, p, headers, b);
        if (method === 'HEAD') assert.ok(r.status < 500, what);
        else assertAnswer(r.status, r.contentType, r.text, what);
        await t.beat();
      }), params(300));
  });
});
