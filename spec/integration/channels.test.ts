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
      history: { size: 100, ttlSeconds: 300 }, presence: true, presenceEvents: false, deliverHook: false });
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

  test('presence: members by default, no join/leave frames unless presenceEvents is on', async () => {
    const { client: a } = await TestClient.connect(t.url, { token: await t.token('pa') });
    await a.subscribe('lobby');
    const { client: b } = await TestClient.connect(t.url, { token: await t.token('pb') });
    await b.subscribe('lobby');
    const p = await t.api('GET', '/v1/channels/lobby/presence');
    assert.deepEqual(p.body, { channel: 'lobby', count: 2, members: 2, users: ['pa', 'pb'], cursor: null, nodes: { [t.node.id]: 2 } });
    await b.request({ type: 'unsubscribe', channel: 'lobby' });
    assert.deepEqual((await t.api('GET', '/v1/channels/lobby/presence')).body.users, ['pa']);
    a.send({ type: 'ping' });
    await a.next((f) => f.type === 'pong');
    assert.deepEqual(a.frames.filter((f) => f.type === 'presence'), [], 'events are opt-in');
    await t.api('PUT', '/v1/channels/lobby/config', { presence: false });
    assert.equal((await t.api('GET', '/v1/channels/lobby/presence')).status, 403);
    a.close(); b.close();
  });

  test('presence events: a snapshot on subscribe, then batched diffs; a user with two connections is one member', async () => {
    await t.api('PUT', '/v1/channels/events/config', { presenceEvents: true });
    const { client: a } = await TestClient.connect(t.url, { token: await t.token('ea') });
    await a.subscribe('events');
    const first = await a.next((f) => f.type === 'presence');
    assert.deepEqual(first.members ?? first.joins, ['ea'], 'the first frame holds the subscriber itself');
    const others = await Promise.all(['eb', 'ec', 'eb'].map(async (u) => (await TestClient.connect(t.url, { token: await t.token(u) })).client));
    for (const c of others) await c.subscribe('events');
    const diff = await a.next((f) => f.type === 'presence' && Array.isArray(f.joins) && (f.joins as string[]).includes('ec'));
    assert.deepEqual([...(diff.joins as string[])].sort(), ['eb', 'ec'], 'joins of one interval arrive as one diff, each user once');
    assert.equal(diff.count, 3);
    // A late subscriber gets the list as it was (a snapshot), then the diffs: together, the whole list.
    const list = (c: TestClient) => {
      const m = new Set<string>();
      for (const f of c.frames.filter((x) => x.type === 'presence')) {
        if (Array.isArray(f.members)) { m.clear(); for (const u of f.members as string[]) m.add(u); }
        for (const u of (f.joins as string[] | undefined) ?? []) m.add(u);
        for (const u of (f.leaves as string[] | undefined) ?? []) m.delete(u);
      }
      return [...m].sort();
    };
    await others[1]!.next((f) => f.type === 'presence' && list(others[1]!).length === 3);
    assert.deepEqual(list(others[1]!), ['ea', 'eb', 'ec'], 'a late subscriber gets the whole list');
    // eb has two connections: closing one is no leave; closing the other is.
    await others[0]!.request({ type: 'unsubscribe', channel: 'events' });
    await others[1]!.request({ type: 'unsubscribe', channel: 'events' });
    const left = await a.next((f) => f.type === 'presence' && Array.isArray(f.leaves) && (f.leaves as string[]).length > 0);
    assert.deepEqual(left.leaves, ['ec']);
    await others[2]!.request({ type: 'unsubscribe', channel: 'events' });
    assert.deepEqual((await a.next((f) => f.type === 'presence' && Array.isArray(f.leaves) && (f.leaves as string[]).length > 0)).leaves, ['eb']);
    a.close();
    for (const c of others) c.close();
  });

  test('presence pages: sorted names with a cursor; "count" mode keeps counts only', async () => {
    const users = ['u5', 'u1', 'u4', 'u2', 'u3'];
    const clients = await Promise.all(users.map(async (u) => (await TestClient.connect(t.url, { token: await t.token(u) })).client));
    for (const c of clients) await c.subscribe('paged');
    const one = await t.api('GET', '/v1/channels/paged/presence?limit=2');
    assert.deepEqual([one.body.users, one.body.cursor, one.body.members], [['u1', 'u2'], 'u2', 5]);
    const two = await t.api('GET', `/v1/channels/paged/presence?limit=2&cursor=${one.body.cursor}`);
    assert.deepEqual([two.body.users, two.body.cursor], [['u3', 'u4'], 'u4']);
    const three = await t.api('GET', `/v1/channels/paged/presence?limit=2&cursor=${two.body.cursor}`);
    assert.deepEqual([three.body.users, three.body.cursor], [['u5'], null]);
    assert.equal((await t.api('GET', '/v1/channels/paged/presence?limit=0')).status, 400);
    assert.equal((await t.api('GET', '/v1/channels/paged/presence?limit=5000')).status, 400);
    await t.api('PUT', '/v1/channels/paged/config', { presence: 'count' });
    const counted = await t.api('GET', '/v1/channels/paged/presence');
    assert.equal(counted.body.members, 5);
    assert.equal(counted.body.users, undefined, 'no names in count mode');
    assert.equal(Object.values(counted.body.nodes as Record<string, number>).reduce((x, y) => x + y, 0), 5, 'per-node counts');
    assert.equal((await t.api('PUT', '/v1/channels/paged/config', { presence: 'names' })).status, 400);
    for (const c of clients) c.close();
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
