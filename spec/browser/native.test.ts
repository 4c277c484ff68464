// A page on another origin (http://localhost:PORT) in Chromium talks to a node on 127.0.0.1 with the
// browser's own WebSocket, EventSource and fetch: CORS as a real browser enforces it, preflights included.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { startTestNode, type TestNode } from '../../lib/testing/index.js';
import { launchChromium, pageServer, type Browser } from './chromium.js';

type PageServer = Awaited<ReturnType<typeof pageServer>>;

describe('native browser APIs from a page on another origin', () => {
  let t: TestNode;
  let browser: Browser;
  let app: PageServer;
  let other: PageServer;
  before(async () => {
    app = await pageServer();
    other = await pageServer();
    t = await startTestNode({ allowedOrigins: [app.origin] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
    await app?.close();
    await other?.close();
  });

  const waitIn = (page: Page, expr: string, ms = 20_000) => page.waitForFunction(expr, undefined, { timeout: ms, polling: 50 });

  test('native WebSocket, EventSource and fetch (with a preflighted Authorization header) all work', async () => {
    const page = await browser.open(`${app.origin}/`);
    const token = await t.token('page-user', { publish: ['native'] });
    await page.evaluate(async ({ url, token }) => {
      const g = globalThis as any;
      g.ws = []; g.es = []; g.esIds = [];
      const ws = new g.WebSocket(url.replace('http', 'ws') + '/v1/ws');
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      ws.onmessage = (e: any) => g.ws.push(JSON.parse(e.data));
      ws.send(JSON.stringify({ type: 'connect', token }));
      ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'native' }));
      const es = new g.EventSource(`${url}/v1/sse?channel=native&token=${token}`);
      es.addEventListener('message', (e: any) => { g.es.push(JSON.parse(e.data)); g.esIds.push(e.lastEventId); });
      await new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = reject; });
    }, { url: t.url, token });
    await waitIn(page, `globalThis.ws.some((f) => f.type === 'subscribed')`);
    const ack = await page.evaluate(async ({ url, token }) => {
      const r = await fetch(`${url}/v1/channels/native/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ data: 'from the page' }) });
      return { status: r.status, body: await r.json() as any };
    }, { url: t.url, token });
    assert.equal(ack.status, 200, JSON.stringify(ack));
    assert.equal(ack.body.offset, 1);
    await t.api('POST', '/v1/channels/native/messages', { data: 'from the server' });
    await waitIn(page, `globalThis.ws.filter((f) => f.type === 'message').length === 2 && globalThis.es.length === 2`);
    const seen = await page.evaluate(() => ({ ws: (globalThis as any).ws.filter((f: any) => f.type === 'message'), es: (globalThis as any).es, ids: (globalThis as any).esIds }));
    for (const got of [seen.ws, seen.es]) {
      assert.deepEqual(got.map((m: any) => [m.offset, m.data, m.from ?? null]), [[1, 'from the page', 'page-user'], [2, 'from the server', null]]);
    }
    assert.ok(seen.ids.every((id: string) => /^[\w-]+\.[0-9a-f]+:\d+$/.test(id)), `EventSource ids are cursors: ${seen.ids}`);
    const poll = await page.evaluate(async ({ url, token }) => {
      const r = await fetch(`${url}/v1/poll?channel=native&timeout=0&cursor=${encodeURIComponent('x.')}`, { headers: { authorization: `Bearer ${token}` } });
      const ok = await fetch(`${url}/v1/poll?channel=native&timeout=0`, { headers: { authorization: `Bearer ${token}` } });
      return { bad: r.status, badBody: await r.json() as any, ok: ok.status };
    }, { url: t.url, token });
    assert.deepEqual([poll.bad, poll.badBody.error.code, poll.ok], [400, 'bad_request', 200], 'the page reads documented errors too');
    await page.close();
  });

  test('a page on an origin that is not allowed gets nothing through: fetch, EventSource and WebSocket all fail', async () => {
    const page = await browser.open(`${other.origin}/`);
    const token = await t.token('intruder', { publish: ['native-2'] });
    const r = await page.evaluate(async ({ url, token }) => {
      const g = globalThis as any;
      const out: Record<string, unknown> = {};
      try {
        await fetch(`${url}/v1/channels/native-2/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"data":1}' });
        out.fetch = 'answered';
      } catch (e) { out.fetch = (e as Error).name; }
      out.es = await new Promise((resolve) => {
        const es = new g.EventSource(`${url}/v1/sse?channel=native-2&token=${token}`);
        es.onopen = () => resolve('open');
        es.onerror = () => { resolve(es.readyState === 2 ? 'closed' : 'error'); es.close(); };
      });
      out.ws = await new Promise((resolve) => {
        const ws = new g.WebSocket(url.replace('http', 'ws') + '/v1/ws');
        ws.onopen = () => resolve('open');
        ws.onclose = (e: any) => resolve(`closed ${e.code}`);
      });
      return out;
    }, { url: t.url, token });
    assert.deepEqual(r, { fetch: 'TypeError', es: 'closed', ws: 'closed 1006' });
    assert.deepEqual((await t.api('GET', '/v1/channels/native-2/history')).body.messages, [], 'the refused publish did nothing');
    await page.close();
  });
});
