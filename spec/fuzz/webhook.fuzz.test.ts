// Fuzzing webhook answers: a real HTTP server is the node's --webhook and answers each hook call with
// garbage (any status, content type, JSON of any shape, actions of any kind, non-JSON, oversized bodies,
// late answers, dropped connections) while a client connects, subscribes, publishes and receives.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { TestClient } from '../../lib/testing/index.js';
import { anyField, channelName, json } from './arbitraries.js';
import { assertRefusal, params, RESERVED, startFuzzNode, within, type FuzzNode } from './harness.js';

/** How the hook server answers one call. */
interface Answer {
  status: number;
  contentType: string;
  body: string;
  /** Answer after this many ms (the node's hook timeout is 300 ms). */
  delayMs: number;
  /** Close the connection without answering. */
  drop: boolean;
}

const action = fc.record({
  type: fc.oneof(fc.constantFrom('kick', 'config', 'disconnect', 'explode'), anyField),
  channel: fc.oneof(channelName, anyField),
  user: fc.oneof(fc.constantFrom('alice', 'fuzzer', 'nobody'), anyField),
  ban: anyField, reason: anyField,
  set: fc.oneof(fc.record({ private: anyField, maxSubscribers: anyField, history: anyField, deliverHook: anyField }, { requiredKeys: [] }), anyField),
}, { requiredKeys: [] });

const reply = fc.record({
  allow: fc.oneof(fc.boolean(), fc.boolean(), anyField),
  reason: anyField, user: fc.oneof(fc.constantFrom('alice', 'bob'), anyField), info: anyField, data: json,
  actions: fc.oneof(fc.array(action, { maxLength: 3 }), anyField),
  results: fc.oneof(fc.array(fc.oneof(fc.record({ data: json, skip: anyField }, { requiredKeys: [] }), anyField), { maxLength: 3 }), anyField),
}, { requiredKeys: [] });

const answer: fc.Arbitrary<Answer> = fc.record({
  status: fc.oneof(fc.constant(200), fc.constantFrom(200, 201, 204, 301, 400, 404, 500, 503), fc.integer({ min: 200, max: 599 })),
  contentType: fc.constantFrom('application/json', 'text/html', 'application/octet-stream', ''),
  body: fc.oneof(
    { weight: 4, arbitrary: reply.map((r) => JSON.stringify(r)) },
    { weight: 1, arbitrary: json.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
    { weight: 1, arbitrary: fc.constantFrom('', '{', `{"allow":true,"data":"${'x'.repeat(1_100_000)}"}`, '{"allow":true}'.repeat(3)) },
  ),
  delayMs: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(400) }),
  drop: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

describe('fuzz: webhook answers', () => {
  let app: Server;
  let t: FuzzNode;
  /** This run's answer per hook event; an event without one gets a plain allow. */
  let plan: Partial<Record<string, Answer>> = {};
  const calls: string[] = [];

  before(async () => {
    app = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c; });
      req.on('end', () => {
        const event = req.url!.split('/').pop()!;
        calls.push(event);
        let ev: { channel?: string; recipients?: unknown[] } = {};
        try { ev = JSON.parse(body); } catch { /* the node always sends JSON */ }
        // The channels that carry the invariants get a plain allow; everything else gets the fuzz answer.
        const a = ev.channel !== undefined && RESERVED.has(ev.channel) ? undefined : plan[event];
        if (!a) {
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(event === 'deliver' ? JSON.stringify({ results: (ev.recipients ?? []).map(() => ({})) }) : '{"allow":true}');
        }
        setTimeout(() => {
          if (a.drop) return void res.socket?.destroy();
          res.writeHead(a.status, a.contentType ? { 'content-type': a.contentType } : {});
          res.end(a.body);
        }, a.delayMs);
      });
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const { port } = app.address() as AddressInfo;
    t = await startFuzzNode({ allowAnonymous: true, webhook: `http://127.0.0.1:${port}/hooks` });
    await t.api('PUT', '/v1/channels/fuzz-open/config', { clientPublish: true, deliverHook: true });
  });
  after(async () => {
    await t?.finish();
    app.closeAllConnections();
    await new Promise((r) => app.close(r));
  });

  test('whatever the webhook answers, clients get their frames or documented refusals', async () => {
    let ids = 1;
    const answers = fc.record({ connect: answer, subscribe: answer, publish: answer, deliver: answer, unsubscribe: answer, disconnect: answer }, { requiredKeys: [] });
    await fc.assert(fc.asyncProperty(answers, fc.boolean(), async (answers, withToken) => {
      // Hook actions of earlier runs may have changed the channel: set it up again.
      const config = await t.api('PUT', '/v1/channels/fuzz-open/config', { private: false, clientPublish: true, deliverHook: true, maxSubscribers: 0 });
      assert.equal(config.status, 200);
      plan = answers;
      const url = `${t.url.replace(/^http/, 'ws')}/v1/ws${withToken ? `?token=${await t.token('fuzzer', { publish: ['fuzz-open'] })}` : ''}`;
      const c = new TestClient(url);
      await within(c.opened, 5000, 'WebSocket open');
      try {
        if (!withToken) c.send({ type: 'connect' });
        const first = await c.next((f) => f.type === 'connected' || f.type === 'error');
        if (first.type === 'error') {
          assertRefusal(first.code, first.message, undefined, `connect with ${JSON.stringify(answers).slice(0, 300)}`);
          return;
        }
        for (const frame of [{ type: 'subscribe', channel: 'fuzz-open' }, { type: 'publish', channel: 'fuzz-open', data: { n: 1 } }]) {
          const id = ids++;
          c.send({ ...frame, id });
          const a = await c.next((f) => f.id === id || (f.type === 'error' && f.id === undefined), 5000).catch((err: Error) => {
            if (!c.closed) throw err; // a hook action may disconnect this client
            return null;
          });
          if (a?.type === 'error') assertRefusal(a.code, a.message, undefined, `${frame.type} with ${JSON.stringify(answers).slice(0, 300)}`);
        }
        // The delivery goes through the deliver hook (which may skip it, or fail and deliver it unchanged).
        await c.next((f) => f.type === 'message', 350).catch(() => null);
      } finally {
        c.ws.close();
        plan = {};
      }
      await t.beat();
    }), {
      ...params<[Partial<Record<string, Answer>>, boolean]>(50),
      // Always among the cases: every hook allows but deliver, which answers garbage of each kind.
      examples: [
        [{ deliver: { status: 200, contentType: 'application/json', body: '{"results":[{"data":1},{"skip":"yes"}]}', delayMs: 0, drop: false } }, false],
        [{ deliver: { status: 200, contentType: 'text/html', body: '<html>', delayMs: 0, drop: false } }, true],
        [{ deliver: { status: 500, contentType: '', body: '', delayMs: 0, drop: true } }, false],
      ],
    });
    assert.ok(calls.includes('connect') && calls.includes('publish') && calls.includes('deliver'), `hook calls: ${[...new Set(calls)]}`);
  });
});
