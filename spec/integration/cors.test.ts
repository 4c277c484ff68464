// CORS on every transport, answered as a browser on another origin sees it (the browser itself is in
// spec/browser/): preflights, echoed origins, 403 before any work, the served client and OpenAPI document,
// and 405 for methods a path does not answer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSse, startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

const APP = 'http://app.example:3000';
const EVIL = 'https://evil.example';

describe('CORS with --allowed-origins', () => {
  let t: TestNode;
  let token: string;
  before(async () => {
    t = await startTestNode({ allowedOrigins: [APP] });
    token = await t.token('cors-user', { publish: ['cors-pub'] });
  });
  after(() => t.stop());

  test('a preflight from an allowed origin: 204 with the methods and the Authorization, Content-Type, Last-Event-ID headers', async () => {
    for (const path of ['/v1/channels/cors-pub/messages', '/v1/sse?channel=a', '/v1/poll?channel=a', '/v1/client.js']) {
      const r = await fetch(t.url + path, { method: 'OPTIONS', headers: {
        origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, last-event-id',
      } });
      assert.equal(r.status, 204, path);
      assert.equal(r.headers.get('access-control-allow-origin'), APP);
      assert.match(r.headers.get('access-control-allow-methods')!, /\bPOST\b.*\bDELETE\b/);
      assert.equal(r.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, Last-Event-ID');
      assert.match(r.headers.get('vary')!, /Origin/);
      assert.equal(await r.text(), '');
    }
  });

  test('a disallowed origin gets 403 forbidden before any work, on REST, SSE, long-poll, preflight and WebSocket', async () => {
    const pre = await fetch(`${t.url}/v1/channels/cors-pub/messages`, { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.equal(((await pre.json()) as any).error.code, 'forbidden');
    const publish = await fetch(`${t.url}/v1/channels/cors-pub/messages`, { method: 'POST', headers: {
      origin: EVIL, authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, body: '{"data":1}' });
    assert.equal(publish.status, 403);
    assert.deepEqual((await t.api('GET', '/v1/channels/cors-pub/history')).body.messages, [], 'nothing was published');
    for (const path of [`/v1/sse?channel=a&token=${token}`, `/v1/poll?channel=a&timeout=0&token=${token}`, '/v1/client.js', '/v1/cluster']) {
      const r = await fetch(t.url + path, { headers: { origin: EVIL, authorization: `Bearer ${t.apiKey}` } });
      assert.equal(r.status, 403, path);
      assert.equal(((await r.json()) as any).error.code, 'forbidden', path);
    }
    const ws = new TestClient(t.url.replace('http', 'ws') + '/v1/ws', { headers: { origin: EVIL } });
    await assert.rejects(ws.opened, /403/);
  });

  test('allowed origins get their origin echoed on REST, SSE and long-poll answers, errors included', async () => {
    const publish = await fetch(`${t.url}/v1/channels/cors-pub/messages`, { method: 'POST', headers: {
      origin: APP, authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"data":"hi"}' });
    assert.equal(publish.status, 200);
    assert.equal(publish.headers.get('access-control-allow-origin'), APP);
    assert.equal(publish.headers.get('access-control-expose-headers'), 'Retry-After');
    const refused = await fetch(`${t.url}/v1/channels/other/messages`, { method: 'POST', headers: {
      origin: APP, authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"data":"hi"}' });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), APP, 'the page can read why');
    const poll = await fetch(`${t.url}/v1/poll?channel=cors-pub&timeout=0`, { headers: { origin: APP, authorization: `Bearer ${token}` } });
    assert.equal(poll.status, 200);
    assert.equal(poll.headers.get('access-control-allow-origin'), APP);
    const s = openSse(`${t.url}/v1/sse?channel=cors-pub`, { origin: APP, authorization: `Bearer ${token}` });
    await s.ready;
    assert.equal(s.status(), 200);
    assert.equal(s.headers()['access-control-allow-origin'], APP);
    assert.equal(s.headers()['content-type'], 'text/event-stream; charset=utf-8');
    s.close();
    const good = new TestClient(t.url.replace('http', 'ws') + '/v1/ws', { headers: { origin: APP } });
    await good.opened;
    good.close();
  });

  test('GET /v1/client.js: the built client with CORS, an ETag and a cache lifetime; 304 when unchanged', async () => {
    const r = await fetch(`${t.url}/v1/client.js`, { headers: { origin: APP } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
    assert.match(r.headers.get('cache-control')!, /max-age=\d+/);
    const etag = r.headers.get('etag')!;
    assert.match(etag, /^"[\w-]+"$/);
    const body = await r.text();
    assert.match(body, /export function connect\(/);
    const again = await fetch(`${t.url}/v1/client.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const head = await fetch(`${t.url}/v1/client.js`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), Buffer.byteLength(body));
  });

  test('GET /v1/openapi.json is an OpenAPI 3.1 document', async () => {
    const r = await fetch(`${t.url}/v1/openapi.json`, { headers: { origin: APP } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
    assert.equal(((await r.json()) as any).openapi, '3.1.0');
  });

  test('a method a path does not answer is 405 method_not_allowed with Allow', async () => {
    const rows: Array<[string, string, string]> = [
      ['PATCH', '/v1/channels/x/config', 'GET, PUT'],
      ['DELETE', '/v1/cluster', 'GET'],
      ['GET', '/v1/channels/x/messages', 'POST'],
      ['POST', '/v1/sse?channel=x', 'GET, DELETE'],
      ['PUT', '/v1/poll?channel=x', 'GET, DELETE'],
      ['POST', '/v1/client.js', 'GET, HEAD'],
      ['DELETE', '/v1/openapi.json', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of rows) {
      const r = await t.api(method, path);
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
      assert.equal(r.body.error.code, 'method_not_allowed');
    }
    assert.equal((await t.api('GET', '/v1/no/such/route')).status, 404);
  });
});

describe('CORS without --allowed-origins', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode(); });
  after(() => t.stop());

  test('any origin is answered with itself', async () => {
    for (const origin of ['https://one.example', 'http://localhost:5173', 'null']) {
      const r = await fetch(`${t.url}/v1/channels/c/history`, { headers: { origin, authorization: `Bearer ${t.apiKey}` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('access-control-allow-origin'), origin);
      assert.match(r.headers.get('vary')!, /Origin/);
    }
  });
});
