import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'node:http';
import { startTestNode, type TestNode } from '../../lib/testing/index.js';

interface SseEvent { event?: string; id?: string; data?: string }

/** A minimal SSE reader over node:http that parses events exactly as the spec's framing rules say. */
function openSse(url: string, headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  let status = 0;
  let close = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      status = res.statusCode ?? 0;
      let buf = '';
      let cur: SseEvent = {};
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
          if (line === '') { if (cur.data !== undefined || cur.event) events.push(cur); cur = {}; continue; }
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'data') cur.data = cur.data === undefined ? value : cur.data + '\n' + value;
          else if (field === 'event' || field === 'id') cur[field] = value;
        }
      });
      resolve();
    });
    req.on('error', reject);
    req.end();
    close = () => req.destroy();
  });
  const waitFor = async (n: number, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (events.filter((e) => e.event === 'message').length < n) {
      if (Date.now() > deadline) throw new Error(`got ${events.length} events`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return events.filter((e) => e.event === 'message');
  };
  return { events, ready, waitFor, close: () => close(), status: () => status };
}

describe('SSE and long-poll', () => {
  let t: TestNode;
  let token: string;
  before(async () => {
    t = await startTestNode();
    token = await t.token('sse-user');
  });
  after(async () => { await t.stop(); });

  test('SSE delivers message events; Last-Event-ID resumes every channel without gaps', async () => {
    const s = openSse(`${t.url}/v1/sse?channel=s1&channel=s2&token=${token}`);
    await s.ready;
    assert.equal(s.status(), 200);
    await t.api('POST', '/v1/channels/s1/messages', { data: 'a' });
    await t.api('POST', '/v1/channels/s2/messages', { data: 'b' });
    const got = await s.waitFor(2);
    assert.deepEqual(got.map((e) => JSON.parse(e.data!).data), ['a', 'b']);
    const lastId = got[1]!.id!;
    s.close();
    await t.api('POST', '/v1/channels/s1/messages', { data: 'c' });
    await t.api('POST', '/v1/channels/s2/messages', { data: 'd' });
    const again = openSse(`${t.url}/v1/sse?channel=s1&channel=s2&token=${token}`, { 'last-event-id': lastId });
    await again.ready;
    const resumed = await again.waitFor(2);
    assert.deepEqual(resumed.map((e) => JSON.parse(e.data!).data).sort(), ['c', 'd']);
    again.close();
  });

  test('SSE data with CR/LF and fake fields cannot inject fields or events', async () => {
    const s = openSse(`${t.url}/v1/sse?channel=inject&token=${token}`);
    await s.ready;
    const evil = 'x\r\nevent: admin\r\nid: 999\n\ndata: {"pwned":true}\r\rretry: 1\n';
    await t.api('POST', '/v1/channels/inject/messages', { data: { text: evil } });
    await t.api('POST', '/v1/channels/inject/messages', { data: 'after' });
    const got = await s.waitFor(2);
    assert.equal(got.length, 2);
    assert.ok(s.events.every((e) => e.event !== 'admin'));
    assert.equal(JSON.parse(got[0]!.data!).data.text, evil, 'the data arrives intact');
    assert.ok(!got.some((e) => e.id === '999'));
    s.close();
  });

  test('SSE for a banned user or a bad token is an HTTP error before the stream', async () => {
    const bad = await fetch(`${t.url}/v1/sse?channel=x&token=garbage`);
    assert.equal(bad.status, 401);
    await t.api('POST', '/v1/channels/sse-ban/kick', { user: 'sse-user', ban: 60 });
    const banned = await fetch(`${t.url}/v1/sse?channel=sse-ban&token=${token}`);
    assert.equal(banned.status, 403);
    assert.equal(((await banned.json()) as any).error.code, 'banned');
    assert.equal((await fetch(`${t.url}/v1/sse?token=${token}`)).status, 400, 'no channel');
  });

  test('long-poll answers at once when there is something, waits otherwise, and the cursor gives exactly the next messages', async () => {
    const first = await (await fetch(`${t.url}/v1/poll?channel=lp&token=${token}&timeout=0`)).json() as any;
    assert.deepEqual(first.messages, []);
    const waiting = fetch(`${t.url}/v1/poll?channel=lp&token=${token}&cursor=${encodeURIComponent(first.cursor)}&timeout=10`).then((r) => r.json() as Promise<any>);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await t.api('POST', '/v1/channels/lp/messages', { data: 1 });
    const second = await waiting;
    assert.ok(Date.now() - started < 5000, 'answered as soon as the message came, not at the timeout');
    assert.deepEqual(second.messages.map((m: { data: number }) => m.data), [1]);
    await t.api('POST', '/v1/channels/lp/messages', { data: 2 });
    await t.api('POST', '/v1/channels/lp/messages', { data: 3 });
    const third = await (await fetch(`${t.url}/v1/poll?channel=lp&token=${token}&cursor=${encodeURIComponent(second.cursor)}&timeout=5`)).json() as any;
    assert.deepEqual(third.messages.map((m: { data: number }) => m.data), [2, 3]);
    // A client that lost the third answer retries with the second cursor and gets 2 and 3 again.
    const retry = await (await fetch(`${t.url}/v1/poll?channel=lp&token=${token}&cursor=${encodeURIComponent(second.cursor)}&timeout=0`)).json() as any;
    assert.deepEqual(retry.messages.map((m: { data: number }) => m.data), [2, 3]);
    const empty = await (await fetch(`${t.url}/v1/poll?channel=lp&token=${token}&cursor=${encodeURIComponent(retry.cursor)}&timeout=0`)).json() as any;
    assert.deepEqual(empty.messages, []);
  });

  test('long-poll with a cursor whose history is gone says recovered false', async () => {
    await t.api('PUT', '/v1/channels/lp-gap/config', { history: { size: 1 } });
    const first = await (await fetch(`${t.url}/v1/poll?channel=lp-gap&token=${token}&timeout=0`)).json() as any;
    const positions = String(first.cursor).split('.')[1];
    for (let i = 0; i < 3; i++) await t.api('POST', '/v1/channels/lp-gap/messages', { data: i });
    const stale = await (await fetch(`${t.url}/v1/poll?channel=lp-gap&token=${token}&cursor=${encodeURIComponent('gone.' + positions)}&timeout=0`)).json() as any;
    assert.equal(stale.recovered, false);
  });
});
