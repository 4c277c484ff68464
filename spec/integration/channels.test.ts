import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

describe('runtime channel rules', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode(); });
  after(async () => { await t.stop(); });

  test('GET config gives the defaults; PUT merges and validates', async () => {
    const d = await t.api('GET', '/v1/channels/cfg-a/config');
    assert.deepEqual(d.body, { private: false, maxSubscribers: 0, clientPublish: false,
      history: { size: 100, ttlSeconds: 300 }, presence: true, deliverHook: false });
    const p = await t.api('PUT', '/v1/channels/cfg-a/config', { clientPublish: true, history: { size: 5 } });
    assert.equal(p.status, 200);
    assert.equal(p.body.clientPublish, true);
    assert.deepEqual(p.body.history, { size: 5, ttlSeconds: 300 });
    const bad = await t.api('PUT', '/v1/channels/cfg-a/config', { maxSubscribers: -1 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'bad_request');
    const unknown = await t.api('PUT', '/v1/channels/cfg-a/config', { colour: 'red' });
    assert.equal(unknown.status, 400);
  });

  test('maxSubscribers holds under 20 concurrent subscribes: exactly 5 get in, the rest channel_full', async () => {
    await t.api('PUT', '/v1/channels/cap/config', { maxSubscribers: 5 });
    const clients = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      (await TestClient.connect(t.url, { token: await t.token(`cap${i}`) })).client));
    const answers = await Promise.all(clients.map((c) => c.subscribe('cap')));
    assert.equal(answers.filter((a) => a.type === 'subscribed').length, 5);
    assert.ok(answers.filter((a) => a.type === 'error').every((a) => a.code === 'channel_full'));
    const presence = await t.api('GET', '/v1/channels/cap/presence');
    assert.equal(presence.body.count, 5);
    // One leaves: one more fits.
    const inside = clients[answers.findIndex((a) => a.type === 'subscribed')]!;
    await inside.request({ type: 'unsubscribe', channel: 'cap' });
    const outside = clients[answers.findIndex((a) => a.type === 'error')]!;
    assert.equal((await outside.subscribe('cap')).type, 'subscribed');
    for (const c of clients) c.close();
  });

  test('private channels need the channel in the token', async () => {
    await t.api('PUT', '/v1/channels/secret-room/config', { private: true });
    const { client: out } = await TestClient.connect(t.url, { token: await t.token('outsider') });
    assert.equal((await out.subscribe('secret-room')).code, 'forbidden');
    const { client: ins } = await TestClient.connect(t.url, { token: await t.token('insider', { channels: ['secret-room'] }) });
    assert.equal((await ins.subscribe('secret-room')).type, 'subscribed');
    out.close(); ins.close();
  });

  test('clientPublish lets any connected client publish', async () => {
    await t.api('PUT', '/v1/channels/open-chat/config', { clientPublish: true });
    const { client } = await TestClient.connect(t.url, { token: await t.token('talker') });
    const r = await client.request({ type: 'publish', channel: 'open-chat', data: 'hello' });
    assert.equal(r.type, 'reply');
    client.close();
  });

  test('presence lists users and join/leave frames reach subscribers', async () => {
    const { client: a } = await TestClient.connect(t.url, { token: await t.token('pa') });
    await a.subscribe('lobby');
    const { client: b } = await TestClient.connect(t.url, { token: await t.token('pb') });
    await b.subscribe('lobby');
    assert.equal((await a.next((f) => f.type === 'presence')).join, 'pb');
    const p = await t.api('GET', '/v1/channels/lobby/presence');
    assert.equal(p.body.count, 2);
    assert.deepEqual([...p.body.users].sort(), ['pa', 'pb']);
    await b.request({ type: 'unsubscribe', channel: 'lobby' });
    assert.equal((await a.next((f) => f.type === 'presence')).leave, 'pb');
    await t.api('PUT', '/v1/channels/lobby/config', { presence: false });
    assert.equal((await t.api('GET', '/v1/channels/lobby/presence')).status, 403);
    a.close(); b.close();
  });

  test('kick with ban: kicked frame, no messages after, resubscribe and new connections and resumes are refused', async () => {
    const ch = 'moderated';
    const tok = await t.token('troll');
    const { client: troll, connected } = await TestClient.connect(t.url, { token: tok });
    await troll.subscribe(ch);
    const { client: other } = await TestClient.connect(t.url, { token: await t.token('nice') });
    await other.subscribe(ch);
    const k = await t.api('POST', `/v1/channels/${ch}/kick`, { user: 'troll', ban: 60, reason: 'spam' });
    assert.deepEqual(k.body, { kicked: 1 });
    const kicked = await troll.next((f) => f.type === 'kicked');
    assert.equal(kicked.channel, ch);
    assert.equal(kicked.reason, 'spam');
    await t.api('POST', `/v1/channels/${ch}/messages`, { data: 'after kick' });
    await other.waitMessages(ch, 1);
    assert.equal(troll.messages(ch).length, 0);
    assert.equal((await troll.subscribe(ch)).code, 'banned');
    const { client: fresh } = await TestClient.connect(t.url, { token: tok });
    assert.equal((await fresh.subscribe(ch)).code, 'banned');
    // Ban holds on resume too: subscribe elsewhere, kick there, reconnect the session.
    await troll.subscribe('other-room');
    await t.api('POST', '/v1/channels/other-room/kick', { user: 'troll', ban: 60 });
    await troll.next((f) => f.type === 'kicked');
    troll.close();
    const { client: back } = await TestClient.connect(t.url, { session: connected.session as string });
    await t.api('POST', '/v1/channels/other-room/messages', { data: 'x' });
    await t.api('POST', '/v1/channels/moderated/messages', { data: 'y' });
    await other.waitMessages(ch, 2);
    assert.equal(back.messages('other-room').length + back.messages(ch).length, 0);
    const banned = await t.api('POST', `/v1/channels/${ch}/messages`, { data: 'x' }, { authorization: `Bearer ${tok}` });
    assert.equal(banned.status, 403);
    assert.equal(banned.body.error.code, 'banned');
    for (const c of [other, fresh, back]) c.close();
  });
});
