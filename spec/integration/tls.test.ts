// --tls-cert/--tls-key: one port serving HTTPS and WSS, checked with a self-signed certificate made at test
// time and trusted by the test clients (undici Agent connect.ca, ws `ca`, https.request `ca`).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { OptionsError } from '../../lib/errors.js';
import { createNode } from '../../lib/node.js';
import { openSse, startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';
import { makeCert, type TestCert } from '../fixtures/certificates.js';

describe('TLS on the client port', () => {
  let cert: TestCert;
  let t: TestNode;
  let agent: Agent;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(t.url + path, {
      method, dispatcher: agent,
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as any };
  };

  before(async () => {
    cert = makeCert();
    t = await startTestNode({ data: ':memory:', tlsCert: cert.certFile, tlsKey: cert.keyFile, allowAnonymous: true });
    agent = new Agent({ connect: { ca: cert.ca } });
  });
  after(async () => {
    await agent.close();
    await t.stop();
    cert.remove();
  });

  test('the node advertises an https:// URL and answers over HTTPS to a client that trusts the certificate', async () => {
    assert.match(t.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${t.url}/healthz`, { dispatcher: agent });
    assert.equal(health.status, 200);
    const cluster = await api('GET', '/v1/cluster');
    assert.equal(cluster.body.members[0].url, t.url);
  });

  test('a client that does not trust the certificate, or speaks plain HTTP to the port, gets nothing', async () => {
    await assert.rejects(fetch(`${t.url}/healthz`), (err: Error) => /self[- ]signed|certificate/i.test(String((err.cause as Error)?.message ?? err.message)));
    const plain = await new Promise<string>((resolve) => {
      const req = httpGet(t.url.replace('https:', 'http:') + '/healthz', (res) => resolve(`status ${res.statusCode}`));
      req.on('error', (err) => resolve(`error ${err.message}`));
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    });
    assert.match(plain, /^error/, 'a plain-HTTP request never gets an HTTP answer');
  });

  test('publish over HTTPS reaches a WSS subscriber, an SSE stream and a long-poll over HTTPS, in order', async () => {
    const ws = new TestClient(t.url.replace(/^https/, 'wss') + '/v1/ws', { ca: cert.ca });
    await ws.opened;
    ws.send({ type: 'connect' });
    await ws.next((f) => f.type === 'connected');
    assert.equal((await ws.subscribe('secure')).type, 'subscribed');
    const sse = openSse(`${t.url}/v1/sse?channel=secure`, {}, { ca: cert.ca });
    await sse.ready;
    assert.equal(sse.status(), 200);
    await sse.waitFor(1, 5000, 'subscribed');
    const first = await fetch(`${t.url}/v1/poll?channel=secure&timeout=0`, { dispatcher: agent });
    const { cursor } = await first.json() as { cursor: string };

    for (let i = 1; i <= 3; i++) {
      const r = await api('POST', '/v1/channels/secure/messages', { data: { n: i } });
      assert.equal(r.status, 200);
      assert.equal(r.body.offset, i);
    }
    const got = await ws.waitMessages('secure', 3);
    assert.deepEqual(got.map((m) => (m.data as { n: number }).n), [1, 2, 3]);
    const events = await sse.waitFor(3);
    assert.deepEqual(events.map((e) => JSON.parse(e.data!).data.n), [1, 2, 3]);
    const poll = await fetch(`${t.url}/v1/poll?channel=secure&cursor=${encodeURIComponent(cursor)}&timeout=5`, { dispatcher: agent });
    const answer = await poll.json() as { messages: Array<{ type: string; data: { n: number } }> };
    assert.deepEqual(answer.messages.filter((m) => m.type === 'message').map((m) => m.data.n), [1, 2, 3]);
    sse.close();
    ws.close();
  });
});

describe('TLS startup errors name the flag', () => {
  let a: TestCert;
  let b: TestCert;
  before(() => { a = makeCert('a'); b = makeCert('b'); });
  after(() => { a.remove(); b.remove(); });

  async function startError(options: Record<string, unknown>): Promise<OptionsError> {
    const node = createNode({ port: 0, data: ':memory:', logLevel: 'silent', ...options }, { standalone: true });
    try {
      await node.start();
    } catch (err) {
      assert.ok(err instanceof OptionsError, `expected an OptionsError, got ${String(err)}`);
      return err;
    }
    await node.stop();
    throw new Error('the node started');
  }

  test('a missing file, a file that is not PEM, a key of another certificate', async () => {
    const missing = await startError({ tlsCert: join(a.dir, 'nope.crt'), tlsKey: a.keyFile });
    assert.equal(missing.field, 'tlsCert');
    assert.match(missing.message, /cannot read .*nope\.crt: no such file/);
    const garbage = join(a.dir, 'garbage.pem');
    writeFileSync(garbage, 'hello');
    const notCert = await startError({ tlsCert: garbage, tlsKey: a.keyFile });
    assert.equal(notCert.field, 'tlsCert');
    assert.match(notCert.message, /not a PEM certificate/);
    const notKey = await startError({ tlsCert: a.certFile, tlsKey: garbage });
    assert.equal(notKey.field, 'tlsKey');
    assert.match(notKey.message, /not a PEM private key/);
    const mismatched = await startError({ tlsCert: a.certFile, tlsKey: b.keyFile });
    assert.equal(mismatched.field, 'tlsKey');
    assert.match(mismatched.message, /is not the private key of the certificate/);
  });

  test('one file without the other, and an http:// public URL with TLS, are refused', async () => {
    assert.throws(() => createNode({ tlsCert: a.certFile }), (e: unknown) => e instanceof OptionsError && e.field === 'tlsKey');
    assert.throws(() => createNode({ tlsKey: a.keyFile }), (e: unknown) => e instanceof OptionsError && e.field === 'tlsCert');
    const http = await startError({ tlsCert: a.certFile, tlsKey: a.keyFile, publicUrl: 'http://127.0.0.1:9999' });
    assert.equal(http.field, 'publicUrl');
    assert.match(http.message, /https:\/\//);
  });
});
