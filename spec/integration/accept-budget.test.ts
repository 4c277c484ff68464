// The connection-accept budget (--accept-per-second) on a real node: over the budget a WebSocket upgrade is
// closed with 1013 + the seconds to wait, an SSE or long-poll session open answers 503 + Retry-After, both
// before the token is even looked at; and 200 official clients that knock together on a small budget are
// refused, come back after the Retry-After, and then hold every message of the channel with no silent gap.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connect, type Client, type Message } from '../../lib/client/client.js';
import { startTestNode, until, type TestNode } from '../../lib/testing/index.js';

const WS = WebSocket as unknown as NonNullable<Parameters<typeof connect>[1]>['WebSocket'];
const BUDGET = 50;
const CLIENTS = 200;

/** Opens a raw WebSocket and resolves with the close code and reason it gets. */
function closeOf(url: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws?token=not-a-token`);
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', reject);
  });
}

/** hashpub_accept_refused_total for one transport (0 before the first refusal: the sample appears with it). */
async function refusedCount(t: TestNode, transport: string): Promise<number> {
  return (await t.metric('hashpub_accept_refused_total', { transport })) || 0;
}

describe('accept budget on a node', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ allowAnonymous: true, acceptPerSecond: BUDGET }); });
  after(() => t.stop());

  test('over the budget: WebSocket close 1013 with the seconds to wait, SSE and long-poll 503 + Retry-After, no token check', async () => {
    // Three seconds' worth at once: the budget's burst is spent, so many of them are refused.
    const closes = await Promise.all(Array.from({ length: 3 * BUDGET }, () => closeOf(t.url)));
    const busy = closes.filter((c) => c.code === 1013);
    assert.ok(busy.length >= BUDGET, `${busy.length} refused with 1013`);
    assert.ok(busy.every((c) => Number(c.reason) >= 1), 'the reason is the seconds to wait');
    assert.ok(closes.every((c) => c.code === 1013 || c.code === 4401), 'the others were admitted and refused for their token');
    for (const path of ['/v1/sse?channel=a&token=not-a-token', '/v1/poll?channel=a&token=not-a-token']) {
      const answers = await Promise.all(Array.from({ length: 3 * BUDGET }, async () => {
        const res = await fetch(`${t.url}${path}`);
        return { status: res.status, retryAfter: Number(res.headers.get('retry-after')), code: ((await res.json()) as { error: { code: string } }).error.code };
      }));
      const refused = answers.filter((a) => a.status === 503);
      assert.ok(refused.length >= BUDGET, `${path}: ${refused.length} refused`);
      assert.ok(refused.every((a) => a.retryAfter >= 1 && a.code === 'unavailable'), `${path}: 503 unavailable + Retry-After`);
      assert.ok(answers.every((a) => a.status === 503 || a.status === 401), `${path}: the others were admitted and refused for their token`);
    }
    assert.ok(await refusedCount(t, 'ws') >= 1);
    assert.ok(await refusedCount(t, 'sse') >= BUDGET);
    assert.ok(await refusedCount(t, 'poll') >= BUDGET);
  });

  test(`${CLIENTS} official clients at once: refused ones come back after Retry-After and miss nothing`, async () => {
    const channel = 'storm';
    const first = await t.api('POST', `/v1/channels/${channel}/messages`, { data: { n: 1 } });
    const epoch = (first.body as { epoch: string }).epoch;
    let published = 1;
    let publishing = true;
    const publisher = (async () => {
      while (publishing && published < 80) { // all within the channel's history (100), so any client can catch up
        await t.api('POST', `/v1/channels/${channel}/messages`, { data: { n: ++published } });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const before = await refusedCount(t, 'ws');
    const clients: Array<{ c: Client; got: Message[]; busy: number }> = [];
    try {
      for (let i = 0; i < CLIENTS; i++) {
        const c = connect(t.url, { transports: ['websocket'], WebSocket: WS });
        const w = { c, got: [] as Message[], busy: 0 };
        c.on('state', (s, info) => { if (s === 'disconnected' && info.reason === 'unavailable') w.busy++; });
        c.subscribe(channel, (m) => w.got.push(m), { since: { epoch, offset: 0 } });
        clients.push(w);
      }
      await until('every client connected', 60_000, () => clients.every((w) => w.c.state === 'connected'));
      const refusedClients = clients.filter((w) => w.busy > 0).length;
      assert.ok(refusedClients >= CLIENTS - 2 * BUDGET, `${refusedClients} clients were refused at least once`);
      assert.ok(await refusedCount(t, 'ws') - before >= refusedClients);
      assert.ok(clients.every((w) => w.c.transport === 'websocket'), 'a refusal is no reason to fall back to another transport');
      publishing = false;
      await publisher;
      await until('every client has every message', 20_000, () => clients.every((w) => w.got.length >= published));
      for (const w of clients) {
        assert.deepEqual(w.got.map((m) => m.offset), Array.from({ length: published }, (_, i) => i + 1), 'offsets 1..N, no gap');
      }
    } finally {
      publishing = false;
      await publisher;
      for (const w of clients) w.c.close();
    }
  });
});
