// Goodbye vs. drop (DESIGN.md "Browser use"): a client that says goodbye is gone at once (presence leave,
// unsubscribe and disconnect hooks within a second); one that drops keeps its session for the TTL, leaves
// presence after --presence-grace-seconds and comes back, with everything it missed, if it resumes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DisconnectEvent, Hooks, UnsubscribeEvent } from '../../lib/hooks/hooks.js';
import { openSse, startTestNode, TestClient, until, watchPresence, type TestNode } from '../../lib/testing/index.js';
import { SSE_RESUME_GRACE_MS } from '../../lib/transport/sse.js';

/** How soon a goodbye must show in presence (the contract). */
const GOODBYE_MS = 1000;
const PRESENCE_GRACE_S = 1;

type Frame = Record<string, unknown> & { type: string };

describe('goodbye vs. drop', () => {
  let t: TestNode;
  const unsubscribes: UnsubscribeEvent[] = [];
  const disconnects: DisconnectEvent[] = [];
  const clients: TestClient[] = [];
  const watchers: Array<ReturnType<typeof watchPresence>> = [];
  const hooks: Hooks = {
    unsubscribe(ev) { unsubscribes.push(ev); },
    disconnect(ev) { disconnects.push(ev); },
  };
  before(async () => { t = await startTestNode({ presenceGraceSeconds: PRESENCE_GRACE_S, sessionTtlSeconds: 30 }, { hooks }); });
  after(async () => {
    for (const c of clients) c.close();
    for (const w of watchers) await w.stop();
    await t.stop();
  });

  /** A user connected over WebSocket and subscribed to `channel`. */
  async function member(user: string, channel: string) {
    const { client, connected } = await TestClient.connect(t.url, { token: await t.token(user) });
    clients.push(client);
    const ok = await client.subscribe(channel);
    assert.equal(ok.type, 'subscribed', JSON.stringify(ok));
    return { client, session: connected.session as string };
  }
  /** Who is in `channel`'s presence (the REST API, polled) and when each user came and went. */
  async function watch(channel: string, node: TestNode = t) {
    const w = watchPresence(node, channel);
    watchers.push(w);
    return w;
  }
  const users = async (channel: string): Promise<string[]> => (await t.api('GET', `/v1/channels/${channel}/presence`)).body.users;

  for (const [how, close] of [
    ['close frame 1000', (c: TestClient) => c.ws.close(1000)],
    ['close frame 1001 (a page going away)', (c: TestClient) => c.ws.close(1001)],
    ['close frame without a code', (c: TestClient) => c.ws.close()],
  ] as const) {
    test(`WebSocket ${how}: presence leave, unsubscribe and disconnect hooks within 1 s`, async () => {
      const channel = `bye-${how.split(' ').slice(-1)[0]!.replace(/\W/g, '')}-${Math.random().toString(36).slice(2, 6)}`;
      const w = await watch(channel);
      const { client, session } = await member('leaver', channel);
      await until('join', 2000, () => w.joinsOf('leaver').length === 1);
      const closedAt = Date.now();
      close(client);
      const leave = await until('presence leave', 3000, () => w.leaveOf('leaver'));
      assert.ok(leave.at - closedAt < GOODBYE_MS, `leave after ${leave.at - closedAt} ms`);
      await until('hooks', GOODBYE_MS, () => unsubscribes.some((e) => e.channel === channel) && disconnects.some((e) => e.session === session));
      assert.deepEqual(unsubscribes.filter((e) => e.channel === channel), [{ user: 'leaver', channel, reason: 'goodbye' }]);
      assert.deepEqual(disconnects.filter((e) => e.session === session).map((e) => e.reason), ['goodbye']);
      assert.deepEqual(await users(channel), []);
      // The session is gone: a resume with its id starts a new one.
      const { client: again, connected } = await TestClient.connect(t.url, { session, token: await t.token('leaver') });
      clients.push(again);
      assert.equal(connected.resumed, false);
    });
  }

  test('a dropped WebSocket stays in presence for the grace, then leaves; its resume comes back with everything it missed', async () => {
    const channel = 'drop-resume';
    const w = await watch(channel);
    const { client, session } = await member('dropper', channel);
    await t.api('POST', `/v1/channels/${channel}/messages`, { data: 0 });
    const [first] = await client.waitMessages(channel, 1);
    const droppedAt = Date.now();
    client.ws.terminate(); // no close frame: a drop
    const leave = await until('presence leave after the grace', 10_000, () => w.leaveOf('dropper'));
    assert.ok(leave.at - droppedAt >= PRESENCE_GRACE_S * 1000 - 50, `left ${leave.at - droppedAt} ms after the drop, before the grace`);
    assert.deepEqual(await users(channel), []);
    assert.deepEqual(unsubscribes.filter((e) => e.user === 'dropper').map((e) => e.reason), ['away']);
    for (let i = 1; i <= 3; i++) await t.api('POST', `/v1/channels/${channel}/messages`, { data: i });

    const { client: back, connected } = await TestClient.connect(t.url, { session, token: await t.token('dropper') });
    clients.push(back);
    assert.equal(connected.resumed, true);
    assert.deepEqual(connected.channels, [channel]);
    const resumed = await back.next((f) => f.type === 'subscribed' && f.channel === channel);
    assert.equal(resumed.recovered, true, JSON.stringify(resumed));
    const got = await back.waitMessages(channel, 3);
    assert.deepEqual(got.map((m) => [m.offset, m.data]), [[2, 1], [3, 2], [4, 3]], 'what it missed, in order, once');
    assert.equal(first!.offset, 1);
    await until('join again', 3000, () => w.joinsOf('dropper').length === 2);
    assert.deepEqual(await users(channel), ['dropper']);
    await t.api('POST', `/v1/channels/${channel}/messages`, { data: 4 });
    assert.deepEqual((await back.waitMessages(channel, 4)).map((m) => m.data), [1, 2, 3, 4]);
  });

  test('a resume within the grace is invisible: no leave, no unsubscribe; the client\'s own position is honoured', async () => {
    const channel = 'quick-resume';
    const w = await watch(channel);
    const { client, session } = await member('blinker', channel);
    for (let i = 1; i <= 3; i++) await t.api('POST', `/v1/channels/${channel}/messages`, { data: i });
    const got = await client.waitMessages(channel, 3);
    client.ws.close(4100); // "keep my session": a drop, not a goodbye
    await client.waitClosed();
    // Say the last two never arrived: resume from offset 1.
    const since = { [channel]: { epoch: got[0]!.epoch, offset: 1 } };
    const back = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws');
    clients.push(back);
    await back.opened;
    back.send({ type: 'connect', session, since });
    assert.equal((await back.next((f) => f.type === 'connected')).resumed, true);
    assert.deepEqual((await back.waitMessages(channel, 2)).map((m) => m.data), [2, 3]);
    await sleep(PRESENCE_GRACE_S * 1000 + 1200); // past the grace and a sweep: still nothing
    assert.equal(w.leaveOf('blinker'), undefined);
    assert.deepEqual(unsubscribes.filter((e) => e.user === 'blinker'), []);
    assert.deepEqual(await users(channel), ['blinker']);
  });

  test('SSE: a closed stream resumed within the grace keeps its session; one not resumed ends after the grace', async (ctx) => {
    // Its own node with the default presence grace (15 s), so the shorter SSE grace is what ends the session.
    const n = await startTestNode({}, { hooks });
    const channel = 'sse-bye';
    const w = await watch(channel, n);
    ctx.after(async () => { await w.stop(); await n.stop(); });
    const joins = () => w.joinsOf('sse-reader').length;
    const token = await n.token('sse-reader');
    const s = openSse(`${n.url}/v1/sse?channel=${channel}`, { authorization: `Bearer ${token}` });
    await s.ready;
    await until('join', 2000, () => joins() === 1);
    await n.api('POST', `/v1/channels/${channel}/messages`, { data: 'a' });
    await s.waitFor(1);
    const cursor = s.lastId()!;
    s.close();
    await n.api('POST', `/v1/channels/${channel}/messages`, { data: 'b' });
    const again = openSse(`${n.url}/v1/sse?channel=${channel}`, { authorization: `Bearer ${token}`, 'last-event-id': cursor });
    await again.ready;
    const [sub] = await again.waitFor(1, 5000, 'subscribed');
    assert.equal(JSON.parse(sub!.data!).recovered, true);
    assert.deepEqual((await again.waitFor(1)).map((e) => JSON.parse(e.data!).data), ['b']);
    assert.equal(again.lastId()!.split('.')[0], cursor.split('.')[0], 'the same session');
    assert.equal(joins(), 1);
    const closedAt = Date.now();
    again.close();
    const leave = await until('leave after the SSE grace', SSE_RESUME_GRACE_MS + 5000, () => w.leaveOf('sse-reader'));
    assert.ok(leave.at - closedAt >= SSE_RESUME_GRACE_MS - 100, `left ${leave.at - closedAt} ms after the close`);
    assert.deepEqual(unsubscribes.filter((e) => e.user === 'sse-reader').map((e) => e.reason), ['goodbye']);
  });

  test('DELETE /v1/sse and /v1/poll with the cursor end the session at once; bad cursors are documented errors', async () => {
    const token = await t.token('poll-leaver');
    const w = await watch('poll-bye');
    const first = await (await fetch(`${t.url}/v1/poll?channel=poll-bye&timeout=0`, { headers: { authorization: `Bearer ${token}` } })).json() as any;
    await until('join', 2000, () => w.joinsOf('poll-leaver').length === 1);
    const goneAt = Date.now();
    const del = await fetch(`${t.url}/v1/poll?cursor=${encodeURIComponent(first.cursor)}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    const leave = await until('leave', 3000, () => w.leaveOf('poll-leaver'));
    assert.ok(leave.at - goneAt < GOODBYE_MS, `leave after ${leave.at - goneAt} ms`);
    assert.deepEqual(unsubscribes.filter((e) => e.user === 'poll-leaver').map((e) => e.reason), ['goodbye']);
    const twice = await fetch(`${t.url}/v1/poll?cursor=${encodeURIComponent(first.cursor)}`, { method: 'DELETE' });
    assert.equal(twice.status, 404);
    assert.equal(((await twice.json()) as any).error.code, 'not_found');

    const s = openSse(`${t.url}/v1/sse?channel=poll-bye`, { authorization: `Bearer ${await t.token('sse-leaver')}` });
    await s.ready;
    await until('sse join', 2000, () => w.joinsOf('sse-leaver').length === 1);
    const sseGone = Date.now();
    assert.equal((await fetch(`${t.url}/v1/sse?cursor=${encodeURIComponent(s.lastId()!)}`, { method: 'DELETE' })).status, 204);
    const sseLeave = await until('sse leave', 3000, () => w.leaveOf('sse-leaver'));
    assert.ok(sseLeave.at - sseGone < GOODBYE_MS);
    await until('the stream is closed', 2000, () => s.ended());

    for (const [query, status] of [['', 400], ['?cursor=garbage', 400], ['?cursor=' + encodeURIComponent('no such.-'), 400], ['?cursor=nosuchsession.-', 404]] as const) {
      const r = await fetch(`${t.url}/v1/poll${query}`, { method: 'DELETE' });
      assert.equal(r.status, status, query);
      assert.equal(((await r.json()) as any).error.code, status === 400 ? 'bad_request' : 'not_found', query);
    }
    const badPoll = await fetch(`${t.url}/v1/poll?channel=x&cursor=s.zz:1`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(badPoll.status, 400);
    assert.match(((await badPoll.json()) as any).error.message, /malformed cursor/);
    const badSse = await fetch(`${t.url}/v1/sse?channel=x`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': 'nonsense' } });
    assert.equal(badSse.status, 400);
  });

  test('a long-poll client that stops polling leaves after the grace and comes back, with what it missed, on its next poll', async () => {
    const channel = 'poll-away';
    const w = await watch(channel);
    const auth = { authorization: `Bearer ${await t.token('poller')}` };
    const first = await (await fetch(`${t.url}/v1/poll?channel=${channel}&timeout=0`, { headers: auth })).json() as any;
    await until('join', 2000, () => w.joinsOf('poller').length === 1);
    const lastPoll = Date.now();
    const leave = await until('leave after the grace', 10_000, () => w.leaveOf('poller'));
    assert.ok(leave.at - lastPoll >= PRESENCE_GRACE_S * 1000 - 50);
    await t.api('POST', `/v1/channels/${channel}/messages`, { data: 'while away' });
    const back = await (await fetch(`${t.url}/v1/poll?channel=${channel}&timeout=5&cursor=${encodeURIComponent(first.cursor)}`, { headers: auth })).json() as any;
    assert.deepEqual(back.messages.filter((m: Frame) => m.type === 'message').map((m: Frame) => m.data), ['while away']);
    assert.equal(back.recovered, undefined, 'nothing was lost');
    assert.equal(String(back.cursor).split('.')[0], String(first.cursor).split('.')[0], 'the same session');
    await until('join again', 3000, () => w.joinsOf('poller').length === 2);
  });
});
