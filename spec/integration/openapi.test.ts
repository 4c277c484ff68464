// spec/openapi.json (served as GET /v1/openapi.json) against reality: the document is valid OpenAPI 3.1
// (@seriousme/openapi-schema-validator), and every answer a running node gives to a tour of every route,
// success and error alike, is documented and validates (Ajv, JSON Schema 2020-12) against it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import doc from '../openapi.json' with { type: 'json' };
import { startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

const APP = 'http://app.example:3000';
type Json = Record<string, any>;

/** One real exchange with the node. */
interface Exchange { method: string; path: string; status: number; type: string | null; body: unknown; sent?: unknown }

describe('OpenAPI document', () => {
  let t: TestNode;
  const seen: Exchange[] = [];
  before(async () => { t = await startTestNode({ allowedOrigins: [APP] }); });
  after(() => t.stop());

  /** Makes a request and records what came back (streams: only the head). */
  async function call(method: string, path: string, opts: { body?: unknown; raw?: string; headers?: Record<string, string>; key?: boolean; stream?: boolean; base?: string } = {}): Promise<Exchange> {
    const headers: Record<string, string> = { ...(opts.key === false ? {} : { authorization: `Bearer ${t.apiKey}` }), ...opts.headers };
    const text = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    if (text !== undefined) headers['content-type'] = 'application/json';
    const ctrl = new AbortController();
    const res = await fetch((opts.base ?? t.url) + path, { method, headers, body: text, signal: ctrl.signal });
    const type = res.headers.get('content-type');
    let body: unknown;
    if (opts.stream && res.ok) {
      const reader = res.body!.getReader();
      body = new TextDecoder().decode((await reader.read()).value);
      ctrl.abort();
    } else {
      const raw = await res.text();
      body = type?.startsWith('application/json') ? JSON.parse(raw) : raw;
    }
    const ex: Exchange = { method, path, status: res.status, type, body, ...(opts.body !== undefined ? { sent: opts.body } : {}) };
    seen.push(ex);
    return ex;
  }

  test('the document is valid OpenAPI 3.1', async () => {
    const res = await new Validator().validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    assert.equal(res.valid, true, JSON.stringify(res.errors, null, 1));
    assert.equal(doc.openapi, '3.1.0');
    const served = await call('GET', '/v1/openapi.json', { key: false });
    assert.deepEqual(served.body, doc, 'the node serves exactly spec/openapi.json');
  });

  test('a tour of every route: every answer is documented and matches its schema', async () => {
    const token = await t.token('tour-user', { publish: ['tour'] });
    const client = { authorization: `Bearer ${token}` };
    // health, metrics, the static files
    await call('GET', '/healthz', { key: false });
    await call('GET', '/metrics', { key: false });
    const js = await call('GET', '/v1/client.js', { key: false });
    assert.equal(js.status, 200);
    const etag = (await fetch(`${t.url}/v1/client.js`)).headers.get('etag')!;
    await call('GET', '/v1/client.js', { key: false, headers: { 'if-none-match': etag } });
    await call('HEAD', '/v1/client.js', { key: false });
    await call('POST', '/v1/client.js', { key: false });
    const docTag = (await fetch(`${t.url}/v1/openapi.json`)).headers.get('etag')!;
    await call('GET', '/v1/openapi.json', { key: false, headers: { 'if-none-match': docTag } });
    await call('GET', '/v1/ws', { key: false });
    const ws = new TestClient(t.url.replace('http', 'ws') + '/v1/ws');
    await ws.opened;
    seen.push({ method: 'GET', path: '/v1/ws', status: 101, type: null, body: '' });
    ws.close();
    // publish, as the server and as a client, with every refusal
    await call('POST', '/v1/channels/tour/messages', { body: { data: { hello: 'world' } } });
    await call('POST', '/v1/channels/tour/messages', { body: { data: 2, id: 'once' } });
    const dup = await call('POST', '/v1/channels/tour/messages', { body: { data: 2, id: 'once' } });
    assert.equal((dup.body as Json).duplicate, true);
    await call('POST', '/v1/channels/tour/messages', { body: { data: 'as a client' }, key: false, headers: client });
    await call('POST', '/v1/channels/no-right/messages', { body: { data: 1 }, key: false, headers: client });
    await call('POST', '/v1/channels/tour/messages', { body: { nodata: 1 } });
    await call('POST', '/v1/channels/tour/messages', { raw: '{"data":' });
    await call('POST', '/v1/channels/tour/messages', { body: { data: 'x'.repeat(70_000) } });
    await call('POST', '/v1/channels/tour/messages', { body: { data: 1 }, key: false });
    await call('POST', '/v1/channels/tour/messages', { body: { data: 1 }, key: false, headers: { authorization: 'Bearer wrong' } });
    await call('GET', '/v1/channels/tour/messages');
    await call('POST', '/v1/channels/tour/messages', { body: { data: 1 }, headers: { origin: 'https://evil.example' } });
    await call('POST', '/v1/channels/tour/messages', { body: { data: 1 }, headers: { origin: APP } });
    // channel reads and settings
    await call('GET', '/v1/channels/tour/history');
    await call('GET', '/v1/channels/tour/history?since=1&limit=2');
    await call('GET', '/v1/channels/tour/history?limit=0');
    await call('GET', '/v1/channels/bad%20name/history');
    await call('GET', '/v1/channels/tour/presence');
    await call('GET', '/v1/channels/tour/config');
    await call('PUT', '/v1/channels/tour/config', { body: { history: { size: 50 }, clientPublish: true } });
    await call('PUT', '/v1/channels/tour/config', { body: { history: { size: -1 } } });
    await call('PATCH', '/v1/channels/tour/config', { body: {} });
    await call('PUT', '/v1/channels/quiet/config', { body: { presence: false } });
    await call('GET', '/v1/channels/quiet/presence');
    await call('PUT', '/v1/channels/counted/config', { body: { presence: 'count', presenceEvents: true } });
    await call('GET', '/v1/channels/counted/presence');
    await call('GET', '/v1/channels/tour/presence?limit=1&cursor=a');
    await call('GET', '/v1/channels/tour/presence?limit=0');
    await call('POST', '/v1/channels/tour/kick', { body: { user: 'nobody', ban: 5, reason: 'tour' } });
    await call('POST', '/v1/channels/tour/kick', { body: { ban: 5 } });
    await call('GET', '/v1/channels/tour/owner');
    // users and the cluster
    await call('POST', '/v1/users/tour-user/messages', { body: { data: 'hi' } });
    await call('POST', '/v1/users/tour-user/messages', { body: {} });
    await call('POST', '/v1/users/tour-user/disconnect', { body: { reason: 'tour' } });
    await call('GET', '/v1/cluster');
    await call('GET', '/v1/cluster', { key: false });
    await call('DELETE', '/v1/cluster');
    await call('GET', '/v1/stats?history=1');
    await call('GET', '/v1/stats?history=yes');
    // SSE and long-poll, with every refusal and both goodbyes
    await call('PUT', '/v1/channels/full/config', { body: { maxSubscribers: 1 } });
    const { client: filler } = await TestClient.connect(t.url, { token: await t.token('filler') });
    await filler.subscribe('full');
    await call('PUT', '/v1/channels/secret/config', { body: { private: true } });
    const sse = await call('GET', '/v1/sse?channel=tour', { key: false, headers: client, stream: true });
    assert.equal(sse.status, 200);
    await call('GET', '/v1/sse', { key: false });
    await call('GET', `/v1/sse?channel=tour&token=garbage`, { key: false });
    await call('GET', '/v1/sse?channel=tour&channel=secret', { key: false, headers: client });
    await call('GET', '/v1/sse?channel=full', { key: false, headers: client });
    await call('PUT', '/v1/sse?channel=tour', { key: false, headers: client });
    const poll = await call('GET', '/v1/poll?channel=tour&timeout=0', { key: false, headers: client });
    const cursor = (poll.body as Json).cursor as string;
    await call('GET', `/v1/poll?channel=tour&timeout=0&cursor=${encodeURIComponent(cursor)}`, { key: false, headers: client });
    await call('GET', '/v1/poll?channel=tour&timeout=0&cursor=bad!', { key: false, headers: client });
    await call('GET', '/v1/poll?channel=tour&timeout=999', { key: false, headers: client });
    await call('GET', '/v1/poll?channel=tour&timeout=0', { key: false });
    await call('GET', '/v1/poll?channel=full&timeout=0', { key: false, headers: client });
    await call('GET', '/v1/poll?channel=secret&timeout=0', { key: false, headers: client });
    await call('DELETE', `/v1/poll?cursor=${encodeURIComponent(cursor)}`, { key: false });
    await call('DELETE', `/v1/poll?cursor=${encodeURIComponent(cursor)}`, { key: false });
    await call('DELETE', '/v1/poll', { key: false });
    const live = await call('GET', '/v1/poll?channel=tour&timeout=0', { key: false, headers: client });
    await call('DELETE', `/v1/sse?cursor=${encodeURIComponent((live.body as Json).cursor)}`, { key: false });
    await call('DELETE', '/v1/sse?cursor=nope', { key: false });
    await call('DELETE', '/v1/sse?cursor=nope.-', { key: false });
    filler.close();
    // Limits (429 with Retry-After): a node that allows one connection attempt and one client publish, loopback included.
    const tight = await startTestNode({ data: ':memory:', limitExemptAddresses: [], maxConnectionAttemptsPerSecond: 0.01,
      connectionAttemptBurst: 1, maxChannelPublishesPerSecond: 0.01, channelPublishBurst: 1 });
    try {
      const tightClient = { authorization: `Bearer ${await tight.token('tour-user', { publish: ['tour'] })}` };
      for (let i = 0; i < 2; i++) await call('POST', '/v1/channels/tour/messages', { body: { data: i }, key: false, headers: tightClient, base: tight.url });
      assert.equal((await call('GET', '/v1/poll?channel=tour&timeout=0', { key: false, headers: tightClient, base: tight.url })).status, 200);
      assert.equal((await call('GET', '/v1/poll?channel=tour&timeout=0', { key: false, headers: tightClient, base: tight.url })).status, 429);
      assert.equal((await call('GET', '/v1/sse?channel=tour', { key: false, headers: tightClient, base: tight.url })).status, 429);
      const refused = await new Promise<Exchange>((resolve) => {
        const probe = new TestClient(tight.url.replace('http', 'ws') + '/v1/ws');
        probe.opened.catch(() => {}); // refused: the answer is read below
        probe.ws.once('unexpected-response', (_req, res) => {
          let raw = '';
          res.on('data', (d: Buffer) => { raw += d.toString(); });
          res.on('end', () => resolve({ method: 'GET', path: '/v1/ws', status: res.statusCode!, type: res.headers['content-type'] ?? null, body: JSON.parse(raw) }));
        });
      });
      assert.equal(refused.status, 429);
      seen.push(refused);
    } finally {
      await tight.stop();
    }

    // What every operation answers alike: a disallowed Origin (403 before any work), no credentials (401 where
    // it needs them) and a malformed name in the path (400).
    for (const [template, item] of Object.entries(doc.paths as Json)) {
      for (const [method, operation] of Object.entries(item as Json)) {
        const sample = SAMPLES[(operation as Json).operationId as string]!;
        const path = sample.path ?? template.replace('{channel}', 'tour').replace('{user}', 'tour-user');
        const opts = { body: sample.body, key: sample.key ?? true };
        await call(method.toUpperCase(), path, { ...opts, headers: { origin: 'https://evil.example' } });
        if ((operation as Json).responses['401']) await call(method.toUpperCase(), path, { ...opts, key: false });
        if (/\{(channel|user)\}/.test(template)) await call(method.toUpperCase(), template.replace(/\{\w+\}/, 'bad%20name'), opts);
        if ((operation as Json).responses['413']) await call(method.toUpperCase(), path, { raw: JSON.stringify({ data: 'x'.repeat(70_000) }) });
      }
    }

    // Every exchange is documented and its body matches the schema.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema(doc, 'openapi.json');
    const problems: string[] = [];
    for (const ex of seen) {
      const { template, operation } = find(ex);
      if (!template) { problems.push(`${ex.method} ${ex.path}: no such path in the document`); continue; }
      // A method the path does not answer: the document's rule is 405 with #/components/responses/MethodNotAllowed.
      const found = operation ? responseOf(operation, ex.status)
        : ex.status === 405 ? { response: (doc.components.responses as Json).MethodNotAllowed, pointer: '/components/responses/MethodNotAllowed' } : undefined;
      if (!found) { problems.push(`${ex.method} ${ex.path}: status ${ex.status} is not documented`); continue; }
      const { response, pointer } = found;
      if (ex.method === 'HEAD' || !response.content) continue;
      const media = ex.type?.split(';')[0]!.trim() ?? '';
      if (!response.content[media]) { problems.push(`${ex.method} ${ex.path} ${ex.status}: content type ${media} is not documented`); continue; }
      if (media === 'application/json') {
        const validate = ajv.getSchema(`openapi.json#${pointer}/content/application~1json/schema`)!;
        if (!validate(ex.body)) problems.push(`${ex.method} ${ex.path} ${ex.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(ex.body).slice(0, 300)}`);
      }
      const requestSchema = operation?.requestBody?.content?.['application/json'];
      if (ex.sent !== undefined && requestSchema && ex.status === 200) {
        const validate = ajv.getSchema(`openapi.json#/paths/${esc(template!)}/${ex.method.toLowerCase()}/requestBody/content/application~1json/schema`)!;
        if (!validate(ex.sent)) problems.push(`${ex.method} ${ex.path}: the accepted request body does not match its schema: ${ajv.errorsText(validate.errors)}`);
      }
    }
    assert.deepEqual(problems, []);

    // Every operation was exercised, and every status it documents except the ones a healthy node cannot be
    // made to give here (500 internal, 503 while starting/moving, 504 owner timeout).
    const unreachable = new Set(['500', '503', '504', 'GET /v1/client.js 404']);
    const missing: string[] = [];
    for (const [template, item] of Object.entries(doc.paths as Json)) {
      for (const [method, operation] of Object.entries(item as Json)) {
        for (const status of Object.keys((operation as Json).responses)) {
          if (unreachable.has(status) || unreachable.has(`${method.toUpperCase()} ${template} ${status}`)) continue;
          const hit = seen.some((ex) => find(ex).template === template && (ex.method === method.toUpperCase() || (ex.method === 'HEAD' && method === 'get')) && String(ex.status) === status);
          if (!hit) missing.push(`${method.toUpperCase()} ${template} ${status}`);
        }
      }
    }
    assert.deepEqual(missing, [], 'documented answers the tour never saw');
  });
});

/** A request each operation answers (by operationId), for the checks every operation shares. */
const SAMPLES: Record<string, { path?: string; body?: unknown; key?: boolean }> = {
  health: {}, metrics: {}, openapi: {}, client: {}, websocket: {}, cluster: {}, stats: {}, owner: {}, history: {}, presence: {}, getConfig: {},
  sse: { path: '/v1/sse?channel=tour', key: false }, poll: { path: '/v1/poll?channel=tour&timeout=0', key: false },
  sseGoodbye: { path: '/v1/sse?cursor=nope.-', key: false }, pollGoodbye: { path: '/v1/poll?cursor=nope.-', key: false },
  publish: { body: { data: 1 } }, setConfig: { body: {} }, kick: { body: { user: 'nobody' } },
  messageUser: { body: { data: 1 } }, disconnectUser: { body: {} },
};

const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** The documented operation an exchange belongs to. */
function find(ex: Exchange): { template?: string; operation?: Json } {
  const path = new URL(ex.path, 'http://x').pathname;
  for (const [template, item] of Object.entries(doc.paths as Json)) {
    const re = new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(path)) return { template, operation: (item as Json)[ex.method === 'HEAD' ? 'get' : ex.method.toLowerCase()] };
  }
  return {};
}

/** The documented response for `status` (following a $ref into components), and its JSON pointer. */
function responseOf(operation: Json, status: number): { response: Json; pointer: string } | undefined {
  const r = operation.responses[String(status)] as Json | undefined;
  if (!r) return undefined;
  if (typeof r.$ref === 'string') {
    const name = (r.$ref as string).split('/').pop()!;
    return { response: (doc.components.responses as Json)[name], pointer: `/components/responses/${name}` };
  }
  const [template, method] = Object.entries(doc.paths as Json).flatMap(([tpl, item]) =>
    Object.entries(item as Json).filter(([, op]) => op === operation).map(([m]) => [tpl, m]))[0]!;
  return { response: r, pointer: `/paths/${esc(template!)}/${method}/responses/${status}` };
}
