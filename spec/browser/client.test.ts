// The official client inside Chromium, on a page of another origin that import()s it from the node: for each
// transport forced in turn, it subscribes, publishes and survives a node restart with every message once and
// in order; closing the page makes presence say leave within a second.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestNode, until, watchPresence, type TestNode } from '../../lib/testing/index.js';
import { launchChromium, pageServer, type Browser } from './chromium.js';
import { clientPage } from './page-client.js';

const TRANSPORTS = ['websocket', 'sse', 'poll'];
/** How soon closing a page must show in presence (the contract). */
const GOODBYE_MS = 1000;

describe('the official client in Chromium', () => {
  let t: TestNode;
  let browser: Browser;
  let app: Awaited<ReturnType<typeof pageServer>>;
  let data: string;
  let port: number;
  before(async () => {
    app = await pageServer();
    data = await mkdtemp(join(tmpdir(), 'hashpub-browser-'));
    t = await startTestNode({ allowedOrigins: [app.origin], data });
    port = Number(new URL(t.url).port);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
    await app?.close();
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: subscribes, publishes, and survives a node restart with every message once, in order`, async () => {
      const channel = `page-${transport}`;
      const pc = await clientPage(browser, `${app.origin}/`, [t.url], { token: await t.token(`p-${transport}`, { publish: [channel] }), transports: [transport], channel });
      await pc.until(`h.sub.state === 'subscribed'`);
      for (let i = 1; i <= 2; i++) assert.equal((await pc.publish(`page ${i}`)).offset, i);
      await t.api('POST', `/v1/channels/${channel}/messages`, { data: 'server 3' });
      await pc.until('h.got.length === 3');

      await t.stop({ keepData: true });
      await pc.until(`h.c.state === 'disconnected'`);
      const during = pc.publish('page while down'); // waits for the connection, then is acknowledged once
      t = await startTestNode({ allowedOrigins: [app.origin], data, port });
      await pc.until(`h.c.state === 'connected' && h.sub.state === 'subscribed'`, 20_000);
      assert.equal((await during).offset, 4);
      await t.api('POST', `/v1/channels/${channel}/messages`, { data: 'server 5' });
      await pc.until('h.got.length >= 5');
      await new Promise((r) => setTimeout(r, 200)); // anything late (a duplicate) would show now
      const r = await pc.record();
      assert.equal(r.transport, transport);
      assert.deepEqual(r.got.map((m) => [m.offset, m.data]),
        [[1, 'page 1'], [2, 'page 2'], [3, 'server 3'], [4, 'page while down'], [5, 'server 5']], 'every message once, in order');
      assert.deepEqual(r.gaps, []);
      assert.deepEqual(r.subStates, [['subscribed', false, null], ['subscribing', null, null], ['subscribed', true, null]]);
      const names = r.states.map(([s]) => s);
      assert.deepEqual(names.slice(0, 3), ['connecting', 'connected', 'disconnected']);
      assert.equal(names.at(-1), 'connected');
      assert.ok(r.states.every(([, tr]) => tr === transport), 'never another transport when one is forced');
      await pc.page.close();
    });
  }

  for (const transport of TRANSPORTS) {
    test(`${transport}: closing the page makes presence say leave within 1 s`, async () => {
      const channel = `close-${transport}`;
      const w = watchPresence(t, channel);
      const user = `closer-${transport}`;
      const pc = await clientPage(browser, `${app.origin}/`, [t.url], { token: await t.token(user), transports: [transport], channel });
      await pc.until(`h.sub.state === 'subscribed'`);
      await until('join', 5000, () => w.joinsOf(user).length > 0);
      const closedAt = Date.now();
      await pc.page.close();
      const left = await until('leave', 5000, () => w.leaveOf(user));
      await w.stop();
      const ms = left.at - closedAt;
      assert.ok(ms < GOODBYE_MS, `presence said leave ${ms} ms after the page closed`);
      assert.deepEqual((await t.api('GET', `/v1/channels/${channel}/presence`)).body.users, []);
    });
  }
});

describe('the official client in Chromium keeps its WebSocket alive', () => {
  let t: TestNode;
  let browser: Browser;
  let app: Awaited<ReturnType<typeof pageServer>>;
  before(async () => {
    app = await pageServer();
    t = await startTestNode({ allowedOrigins: [app.origin], pingSeconds: 0.5 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
    await app?.close();
  });

  test('the page answers the node\'s text pings (it cannot see WebSocket pings) round after round and is never dropped', async () => {
    const pc = await clientPage(browser, `${app.origin}/`, [t.url], { token: await t.token('pinged'), transports: ['websocket'], channel: 'alive' });
    await pc.until(`h.sub.state === 'subscribed'`);
    const pings0 = await t.metric('hashpub_ws_pings_total');
    await new Promise((r) => setTimeout(r, 3000)); // six rounds of 0.5 s
    assert.ok(await t.metric('hashpub_ws_pings_total') - pings0 >= 4, 'the node pinged the page every round');
    assert.equal(await t.metric('hashpub_ws_disconnects_total', { reason: 'pong_timeout' }), 0, 'the page answered every ping');
    const r = await pc.record();
    assert.deepEqual(r.states.map(([s]) => s), ['connecting', 'connected'], 'no reconnect on the way');
    await pc.page.close();
  });
});
