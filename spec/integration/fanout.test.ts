import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openSse, startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

/** Publishes `n` messages on `channel` with `inFlight` requests at a time; returns data index by offset. */
async function burst(t: TestNode, channel: string, n: number, inFlight: number, data: (i: number) => unknown): Promise<Map<number, number>> {
  const byOffset = new Map<number, number>();
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      const i = next++;
      const r = await t.api('POST', `/v1/channels/${channel}/messages`, { data: data(i) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      byOffset.set(r.body.offset as number, i);
    }
  }));
  return byOffset;
}

for (const store of ['LevelDB', ':memory:'] as const) {
  describe(`fan-out under a publish burst (${store} store)`, () => {
    const opts = store === ':memory:' ? { data: ':memory:' } : {};

    test('every subscriber of two channels gets every message once, in offset order (WebSocket and SSE)', async () => {
      const t = await startTestNode(opts);
      const clients = await Promise.all(Array.from({ length: 60 }, async (_, i) => (await TestClient.connect(t.url, { token: await t.token(`u${i}`) })).client));
      for (const c of clients) {
        await c.subscribe('burst-a');
        await c.subscribe('burst-b');
      }
      const sse = openSse(`${t.url}/v1/sse?channel=burst-a&channel=burst-b&token=${await t.token('sse')}`);
      await sse.ready;
      await sse.waitFor(2, 5000, 'subscribed');
      const n = 200;
      const [a, b] = await Promise.all([
        burst(t, 'burst-a', n, 24, (i) => ({ i, ch: 'a' })),
        burst(t, 'burst-b', n, 24, (i) => ({ i, ch: 'b' })),
      ]);
      const offsets = Array.from({ length: n }, (_, k) => k + 1);
      for (const c of clients) {
        for (const [ch, byOffset] of [['burst-a', a], ['burst-b', b]] as const) {
          const msgs = await c.waitMessages(ch, n, 20_000);
          assert.deepEqual(msgs.map((m) => m.offset), offsets);
          assert.deepEqual(msgs.map((m) => (m.data as { i: number }).i), offsets.map((o) => byOffset.get(o)));
        }
      }
      const events = await sse.waitFor(2 * n, 20_000);
      for (const ch of ['burst-a', 'burst-b']) {
        const mine = events.map((e) => JSON.parse(e.data!) as { channel: string; offset: number }).filter((m) => m.channel === ch);
        assert.deepEqual(mine.map((m) => m.offset), offsets);
      }
      assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'every SSE event carries its own position');
      for (const c of clients) c.close();
      sse.close();
      await t.stop();
    });

    test('a subscriber that stops reading during a burst is dropped; the others get everything in order', async () => {
      const t = await startTestNode({ ...opts, maxBufferedBytes: 256 * 1024 });
      const { client: stuck } = await TestClient.connect(t.url, { token: await t.token('stuck') });
      await stuck.subscribe('burst-slow');
      const readers = await Promise.all([1, 2, 3].map(async (i) => (await TestClient.connect(t.url, { token: await t.token(`r${i}`) })).client));
      for (const r of readers) await r.subscribe('burst-slow');
      stuck.ws.pause();
      const payload = 'p'.repeat(50_000);
      const n = 300;
      const byOffset = await burst(t, 'burst-slow', n, 16, (i) => ({ i, payload }));
      for (const r of readers) {
        const msgs = await r.waitMessages('burst-slow', n, 30_000);
        assert.deepEqual(msgs.map((m) => m.offset), Array.from({ length: n }, (_, k) => k + 1));
        assert.deepEqual(msgs.map((m) => (m.data as { i: number }).i), msgs.map((m) => byOffset.get(m.offset as number)));
      }
      stuck.ws.resume();
      const closed = await stuck.waitClosed(10_000);
      assert.equal(closed.code, 1006, 'dropped without a close frame (its buffer was full)');
      const got = stuck.messages('burst-slow').map((m) => m.offset as number);
      assert.deepEqual(got, got.map((_, k) => k + 1), 'what it did get is a gap-free prefix');
      for (const r of readers) r.close();
      await t.stop();
    });
  });
}
