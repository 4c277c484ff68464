// Fuzzing SSE and long-poll: query strings (channels, tokens, cursors, timeouts, lastEventId), the
// Last-Event-ID header, and DELETE goodbyes, with cursors made by mutating real ones.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { channelName, numberText } from './arbitraries.js';
import { assertAnswer, params, startFuzzNode, type FuzzNode } from './harness.js';
import { rawRequest } from './http.js';

/** A real cursor with one part changed: the session id, a position's epoch or offset, the separators. */
function mutate(real: string): fc.Arbitrary<string> {
  const dot = real.indexOf('.');
  const session = real.slice(0, dot);
  return fc.oneof(
    fc.constant(real),
    numberText.map((n) => `${session}.${real.slice(dot + 1).split(':')[0]}:${n}`),
    fc.string({ maxLength: 20 }).map((e) => `${session}.${e}:1`),
    fc.array(fc.constantFrom('-', 'ab:1', 'ab:-1', ':', 'ff:99999999999999999999'), { maxLength: 80 }).map((p) => `${session}.${p.join(',')}`),
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `${s}.${real.slice(dot + 1)}`),
    fc.nat({ max: real.length }).chain((i) => fc.string({ maxLength: 3 }).map((s) => real.slice(0, i) + s + real.slice(i + 1))),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.constant(`${session}.${'-,'.repeat(2000)}`),
  );
}

describe('fuzz: SSE and long-poll query strings and cursors', () => {
  let t: FuzzNode;
  let cursor = '';
  let token = '';
  before(async () => {
    t = await startFuzzNode({ allowAnonymous: true });
    token = await t.token('fuzzer', { channels: ['fuzz-a'] });
    await t.api('PUT', '/v1/channels/fuzz-a/config', { private: true });
    const first = await fetch(`${t.url}/v1/poll?channel=fuzz-open&channel=fuzz-a&timeout=0&token=${token}`);
    assert.equal(first.status, 200);
    cursor = ((await first.json()) as { cursor: string }).cursor;
  });
  after(async () => { await t?.finish(); });

  test('any query: a stream, a poll answer or a documented refusal; SSE data lines are always JSON', async () => {
    const param = (name: string, value: fc.Arbitrary<string>) => value.map((v) => `${name}=${encodeURIComponent(v)}`);
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('/v1/sse', '/v1/poll'),
      fc.constantFrom('GET', 'GET', 'GET', 'DELETE', 'POST'),
      fc.array(fc.oneof(
        param('channel', channelName),
        param('token', fc.oneof(fc.constant(token), fc.string({ maxLength: 30 }), fc.constant(`${token}x`))),
        param('cursor', mutate(cursor)),
        param('lastEventId', mutate(cursor)),
        param('timeout', fc.oneof(numberText, fc.constantFrom('0', '0.1', '-1', '61', 'abc', ''))),
        fc.constantFrom('channel', 'channel=', '=', '&&', 'timeout', 'cursor', '%ZZ=1', 'channel=%E0%A4%A'),
      ), { maxLength: 8 }),
      fc.array(param('channel', fc.constantFrom('fuzz-open', 'fuzz-b')), { maxLength: 70 }),
      fc.option(mutate(cursor), { nil: undefined }),
      async (path, method, query, many, lastEventId) => {
        const q = [...query, ...(many.length > 3 ? many : [])].join('&');
        const headers: Record<string, string> = {};
        if (lastEventId !== undefined) headers['last-event-id'] = lastEventId.replace(/[^\x20-\x7e]/g, '?');
        const what = `${method} ${path}?${q.slice(0, 300)}`;
        const poll = path === '/v1/poll' && method === 'GET';
        const r = await rawRequest(t.url, method, `${path}?${q}`, headers, undefined, 150, poll ? 500 : undefined);
        if (r.status === 0) return void await t.beat(); // a long-poll waiting for messages
        assertAnswer(r.status, r.contentType, r.text, what);
        if (r.status === 200 && path === '/v1/sse' && method === 'GET') {
          assert.match(r.contentType ?? '', /text\/event-stream/, what);
          for (const line of r.text.split('\n').filter((l) => l.startsWith('data:'))) JSON.parse(line.slice(5));
        }
        if (r.status === 200 && path === '/v1/poll' && !r.streaming) {
          const body = JSON.parse(r.text) as { messages: unknown[]; cursor: string };
          assert.ok(Array.isArray(body.messages) && typeof body.cursor === 'string', what);
        }
        await t.beat();
      }), params(200));
  });
});
