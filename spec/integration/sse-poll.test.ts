import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSse, startTestNode, type TestNode } from '../../lib/testing/index.js';

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

  test('an empty ?token= is no token: without a channel the request is refused at once', async () => {
    // Found by spec/fuzz/streams.fuzz.test.ts: `?token=` counted as a token for "no channel = my user's
    // messages" but as none for admission, so an anonymous-allowed node held a poll open on nothing.
    const anon = await startTestNode({ data: ':memory:', allowAnonymous: true });
    try {
      for (const path of ['/v1/poll?token=&timeout=5', '/v1/sse?token=']) {
        const r = await fetch(`${anon.url}${path}`, { signal: AbortSignal.timeout(4000) });
        assert.equal(r.status, 400, path);
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'bad_request', path);
      }
    } finally {
      await anon.stop();
    }
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
    const none = await fetch(`${t.url}/v1/sse`);
    assert.equal(none.status, 400, 'no channel and no token');
    assert.equal(((await none.json()) as any).error.code, 'bad_request');
  });

  test('SSE with a token and no channel carries the messages sent to the user', async () => {
    const s = openSse(`${t.url}/v1/sse?token=${await t.token('sse-only-user')}`);
    await s.ready;
    assert.equal(s.status(), 200);
    assert.equal((await t.api('POST', '/v1/users/sse-only-user/messages', { data: 'hi' })).body.delivered, true);
    const [m] = await s.waitFor(1);
    assert.deepEqual(JSON.parse(m!.data!), { type: 'message', channel: '$user:sse-only-user', epoch: JSON.parse(m!.data!).epoch, offset: 1, data: 'hi' });
    s.close();
  });

  test('long-poll answers at once when there is something, waits otherwise, and the cursor gives exactly the next messages', async () => {
    const first = await (await fetch(`${t.url}/v1/poll?channel=lp&token=${token}&timeout=0`)).json() as any;
    assert.deepEqual(first.messages, [{ type: 'subscribed', channel: 'lp', epoch: first.messages[0].epoch, offset: 0, recovered: false }]);
    const data = (answer: any) => answer.messages.filter((m: { type: string }) => m.type === 'message').map((m: { data: number }) => m.data);
    const waiting = fetch(`${t.url}/v1/poll?channel=lp&token=${token}&cursor=${encodeURIComponent(first.cursor)}&timeout=10`).then((r) => r.json() as Promise<any>);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await t.api('POST', '/v1/channels/lp/messages', { data: 1 });
    const second = await waiting;
    assert.ok(Date.now() - started < 5000, 'answered as soon as the message came, not at the timeout');
    assert.deepEqual(second.messages.map((m: { data: number }) => m.data), [1], 'only the message: the subscription was announced once');
    await t.api('POST', '/v1/channels/lp/messages', { data: 2 });
    await t.api('POST', '/v1/channels/lp/messages', { data: 3 });
    const third = await (await fetch(`${t.url}/v1/poll?channel=lp&token=${token}&cursor=${encodeURIComponent(second.cursor)}&timeout=5`)).json() as any;
    assert.deepEqual(third.messages.map((m: { data: number }) => m.data), [2, 3]);
    // A client that lost the third answer retries with the second cursor and gets 2 and 3 again, in the same session.
    const retry = await (await fetch(`${t.url}/v1/poll?channel=lp&token=${token}&cursor=${encodeURIComponent(second.cursor)}&timeout=0`)).json() as any;
    assert.deepEqual(data(retry), [2, 3]);
    assert.equal(retry.messages[0].recovered, true, JSON.stringify(retry.messages[0]));
    assert.equal(String(retry.cursor).split('.')[0], String(second.cursor).split('.')[0], 'same session');
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
