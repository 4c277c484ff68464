// Fuzzing the WebSocket endpoint: sequences of hostile frames (any JSON, any field types, huge numbers,
// unicode, deep nesting, binary, oversized) on fresh connections, while a well-behaved client listens.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { TestClient } from '../../lib/testing/index.js';
import { anyField, bytes, channelName, deepJson, json, numberText, since } from './arbitraries.js';
import { assertRefusal, params, startFuzzNode, type FuzzNode } from './harness.js';

/** Close codes spec/protocol.md documents (sent by the server, or seen by a client: 1005 none, 1006 dropped). */
const CLOSE_CODES = new Set([1000, 1001, 1005, 1006, 1009, 1013, 4000, 4002, 4008, 4401, 4403]);

type Frame = string | Uint8Array;

/** A frame the protocol knows, with fields of any type. */
const shapedFrame: fc.Arbitrary<Frame> = fc.record({
  type: fc.oneof(fc.constantFrom('connect', 'subscribe', 'unsubscribe', 'publish', 'ping'), anyField),
  id: fc.oneof(fc.nat(), anyField),
  channel: fc.oneof(channelName, anyField),
  data: json,
  since,
  token: anyField,
  session: anyField,
  key: anyField,
}, { requiredKeys: [] }).map((f) => JSON.stringify(f));

/** Frames as text the parser sees first: raw numbers in `id`, deep nesting, garbage, unicode, sizes at the limit. */
const rawFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(fc.constantFrom('subscribe', 'publish', 'unsubscribe'), numberText, channelName)
    .map(([type, id, channel]) => `{"type":"${type}","id":${id},"channel":${JSON.stringify(channel)},"data":${id}}`),
  deepJson,
  deepJson.map((d) => `{"type":"publish","id":1,"channel":"fuzz-open","data":${d}}`),
  fc.string({ unit: 'binary', maxLength: 200 }),
  json.map((v) => JSON.stringify(v)),
  fc.constantFrom('', '{', '{"type":"connect"', 'null', '[]', '"connect"', '{"type":"connect","since":{"__proto__":{"epoch":"x","offset":1}}}',
    '{"__proto__":{"type":"ping"}}', '{"type":"publish","id":1,"channel":"fuzz-open"}'),
  fc.integer({ min: 8000, max: 9000 }).map((n) => `{"type":"publish","id":1,"channel":"fuzz-open","data":"${'x'.repeat(n)}"}`),
  bytes,
);

const frame: fc.Arbitrary<Frame> = fc.oneof({ weight: 3, arbitrary: shapedFrame }, { weight: 2, arbitrary: rawFrame });

describe('fuzz: WebSocket frames', () => {
  let t: FuzzNode;
  before(async () => {
    t = await startFuzzNode({ allowAnonymous: true });
    await t.api('PUT', '/v1/channels/fuzz-open/config', { clientPublish: true });
  });
  after(async () => { await t?.finish(); });

  test('hostile frame sequences: every answer is a documented refusal or a normal frame, the node keeps serving', async () => {
    let sentinel = 1e9;
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('connect', 'token-in-url', 'none'), fc.array(frame, { minLength: 1, maxLength: 8 }), fc.boolean(),
      async (opening, frames, goodbye) => {
        const url = `${t.url.replace(/^http/, 'ws')}/v1/ws${opening === 'token-in-url' ? `?token=${await t.token('fuzzer')}` : ''}`;
        const c = new TestClient(url);
        await c.opened;
        try {
          if (opening === 'connect') c.send({ type: 'connect' });
          for (const f of frames) c.ws.send(f, { binary: typeof f !== 'string' });
          // A request after the fuzz frames: its answer (or a close) means the node went through them all.
          const id = sentinel++;
          c.send({ type: 'subscribe', id, channel: 'fuzz-a' });
          await c.next((f) => f.id === id, 5000).catch((err: Error) => {
            if (!c.closed) throw err;
          });
          for (const f of c.frames) {
            if (f.type === 'error') assertRefusal(f.code, f.message, undefined, `frames ${JSON.stringify(frames).slice(0, 300)}`);
          }
          if (c.closed) assert.ok(CLOSE_CODES.has(c.closed.code), `undocumented close code ${c.closed.code}`);
        } finally {
          if (goodbye) c.ws.close(); else c.close();
        }
        await t.beat();
      }), params(150));
  });
});
