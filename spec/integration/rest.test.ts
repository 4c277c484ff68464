import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestNode, type TestNode } from '../../lib/testing/index.js';

/** Sends raw bytes and resolves with everything the server answers until it closes (or the deadline). */
function raw(url: string, data: string, opts: { keepOpenMs?: number; deadlineMs?: number } = {}): Promise<{ text: string; closedAfterMs: number }> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = connect(Number(port), hostname, () => sock.write(data));
    let text = '';
    sock.on('data', (d) => { text += d.toString(); });
    sock.on('error', () => {});
    const done = () => { clearTimeout(timer); resolve({ text, closedAfterMs: Date.now() - started }); };
    sock.on('close', done);
    const timer = setTimeout(() => { sock.destroy(); }, opts.deadlineMs ?? 5000);
  });
}

describe('REST API and hostile input', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ headersTimeoutMs: 1000 }); });
  after(async () => { await t.stop(); });

  test('healthz without auth; API calls without or with a wrong key are 401', async () => {
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
    const none = await fetch(`${t.url}/v1/channels/a/history`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as any).error.code, 'unauthorized');
    const wrong = await t.api('GET', '/v1/channels/a/history', undefined, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
  });

  test('invalid channel names are 400 bad_request', async () => {
    for (const name of ['has%20space', 'a'.repeat(161), '%24user%3Aalice', 'sl%2Fash', '%E2%9C%93']) {
      const r = await t.api('POST', `/v1/channels/${name}/messages`, { data: 1 });
      assert.equal(r.status, 400, name);
      assert.equal(r.body.error.code, 'bad_request');
    }
    assert.equal((await t.api('POST', '/v1/channels/%ZZ/messages', { data: 1 })).status, 400);
  });

  test('malformed JSON, deep nesting, missing data: 400; oversized body: 413; unknown route: 404', async () => {
    assert.equal((await t.api('POST', '/v1/channels/a/messages', '{"data": ')).status, 400);
    const deep = `{"data": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const big = await t.api('POST', '/v1/channels/a/messages', deep);
    assert.equal(big.status, 413, '200 KB is over the 64 KiB body limit');
    const deepSmall = await t.api('POST', '/v1/channels/a/messages', `{"data": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    assert.equal(deepSmall.status, 400);
    assert.equal(deepSmall.body.error.code, 'bad_request');
    assert.equal((await t.api('POST', '/v1/channels/a/messages', { nodata: 1 })).status, 400);
    const tooLarge = await t.api('POST', '/v1/channels/a/messages', { data: 'x'.repeat(70_000) });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body.error.code, 'too_large');
    assert.equal((await t.api('GET', '/v1/nothing/here')).status, 404);
    // Nothing above was accepted: the channel has no messages.
    assert.equal((await t.api('GET', '/v1/channels/a/history')).body.offset, 0);
  });

  test('history: since and limit; the answer carries epoch and latest offset', async () => {
    for (let i = 1; i <= 5; i++) await t.api('POST', '/v1/channels/hist/messages', { data: i });
    const all = await t.api('GET', '/v1/channels/hist/history');
    assert.equal(all.body.offset, 5);
    assert.deepEqual(all.body.messages.map((m: { data: number }) => m.data), [1, 2, 3, 4, 5]);
    const page = await t.api('GET', '/v1/channels/hist/history?since=2&limit=2');
    assert.deepEqual(page.body.messages.map((m: { offset: number }) => m.offset), [3, 4]);
    assert.equal((await t.api('GET', '/v1/channels/hist/history?since=-1')).status, 400);
  });

  test('a publish with an id is applied once; a retry answers the original offset', async () => {
    const a = await t.api('POST', '/v1/channels/idem/messages', { data: 'x', id: 'order-17' });
    const b = await t.api('POST', '/v1/channels/idem/messages', { data: 'x', id: 'order-17' });
    assert.equal(a.body.offset, 1);
    assert.equal(b.body.offset, 1);
    assert.equal(b.body.duplicate, true);
    assert.equal((await t.api('GET', '/v1/channels/idem/history')).body.messages.length, 1);
  });

  test('retries of one id that arrive together are applied once: every answer names the same offset', async () => {
    const tries = await Promise.all(Array.from({ length: 8 }, () => t.api('POST', '/v1/channels/together/messages', { data: 'once', id: 'same-id' })));
    for (const r of tries) assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(new Set(tries.map((r) => r.body.offset)).size, 1, JSON.stringify(tries.map((r) => r.body)));
    assert.equal(tries.filter((r) => !r.body.duplicate).length, 1, 'one original answer, the rest duplicates');
    const h = await t.api('GET', '/v1/channels/together/history');
    assert.deepEqual(h.body.messages.map((m: { data: string }) => m.data), ['once']);
  });

  test('header floods get 431; slowloris gets 408 at the headers timeout', async () => {
    const flood = await raw(t.url, `GET /healthz HTTP/1.1\r\nhost: x\r\n${'x-junk: ' + 'a'.repeat(1000) + '\r\n'}`.repeat(1) +
      Array.from({ length: 40 }, (_, i) => `x-h${i}: ${'b'.repeat(1000)}\r\n`).join('') + '\r\n');
    assert.match(flood.text, /^HTTP\/1\.1 431/);
    const slow = await raw(t.url, 'GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: 1\r\n', { deadlineMs: 8000 });
    assert.ok(slow.closedAfterMs < 7000, `closed after ${slow.closedAfterMs} ms`);
    // Slow is not malformed: a client whose headers came too late is told so (it was a 400 "malformed HTTP request",
    // which is what load clients starved of CPU saw in the million runs).
    assert.match(slow.text, /^HTTP\/1\.1 408 /);
    assert.equal(JSON.parse(slow.text.slice(slow.text.indexOf('\r\n\r\n') + 4)).error.code, 'request_timeout');
  });

  test('what the HTTP parser refuses is a JSON bad_request; bytes after an answered request never get a second answer', async () => {
    // Found by spec/fuzz/rest.fuzz.test.ts: an unknown method was a 400 without a code, and a stray byte after a
    // request with `Connection: close` got a second (400) answer after the first one, corrupting the stream.
    const unknown = await raw(t.url, 'FROB /v1/cluster HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.match(unknown.text, /^HTTP\/1\.1 400/);
    assert.equal(JSON.parse(unknown.text.slice(unknown.text.indexOf('\r\n\r\n') + 4)).error.code, 'bad_request');
    const flood = await raw(t.url, `GET /healthz HTTP/1.1\r\nhost: x\r\n${Array.from({ length: 40 }, (_, i) => `x-h${i}: ${'b'.repeat(1000)}\r\n`).join('')}\r\n`);
    assert.equal(JSON.parse(flood.text.slice(flood.text.indexOf('\r\n\r\n') + 4)).error.code, 'header_too_large');
    for (const first of ['OPTIONS /v1/channels/a/messages', 'HEAD /v1/channels/a/history', 'GET /healthz']) {
      const r = await raw(t.url, `${first} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n\u0000{"data":1}`);
      assert.equal(r.text.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, `${first}: one answer, got ${JSON.stringify(r.text)}`);
    }
  });

  test('metrics are Prometheus text with connections, messages and errors by code', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    assert.match(text, /hashpub_messages_in_total \d+/);
    assert.match(text, /hashpub_errors_total\{code="bad_request"\} \d+/);
    assert.match(text, /# TYPE hashpub_connections gauge/);
    const mem = (kind: string) => Number(new RegExp(`^hashpub_process_memory_bytes\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text)?.[1]);
    assert.ok(mem('rss') > 0 && mem('heap_used') > 0, 'process memory gauges are set');
    assert.ok(mem('heap_used') <= mem('heap_total') && mem('heap_total') < mem('rss'));
  });

  test('cluster and owner endpoints answer for a single node', async () => {
    const c = await t.api('GET', '/v1/cluster');
    assert.equal(c.body.self, t.node.id);
    assert.deepEqual(c.body.members, [{ id: t.node.id, url: t.url }]);
    assert.equal((await t.api('GET', '/v1/channels/x/owner')).body.owner, t.node.id);
  });
});
