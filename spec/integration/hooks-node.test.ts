import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import chatHooks from '../../lib/demo/chat-hooks.js';
import type {
  ConnectEvent, ConnectReply, DeliverEvent, DeliverReply, DisconnectEvent, Hooks, PublishEvent, PublishReply,
  SubscribeEvent, SubscribeReply, UnsubscribeEvent,
} from '../../lib/hooks/hooks.js';
import { verifyWebhook } from '../../lib/hooks/verify.js';
import type { Options } from '../../lib/options.js';
import { startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

/*
 * Hooks driven through a real node: real WebSocket clients, REST calls and (last group) a real webhook app.
 * Every assertion is about what a client or the app would notice.
 */

// ---- helpers ----

/** What the app answers; a missing handler allows / leaves unchanged. */
interface Handlers {
  connect?(ev: ConnectEvent): ConnectReply | Promise<ConnectReply>;
  subscribe?(ev: SubscribeEvent): SubscribeReply | Promise<SubscribeReply>;
  publish?(ev: PublishEvent): PublishReply | Promise<PublishReply>;
  deliver?(ev: DeliverEvent): DeliverReply | Promise<DeliverReply>;
}

/** An in-process Hooks object that records every event (all six are implemented) and answers with `on`. */
function recorder(on: Handlers = {}) {
  const calls = {
    connect: [] as ConnectEvent[], subscribe: [] as SubscribeEvent[], publish: [] as PublishEvent[],
    deliver: [] as DeliverEvent[], unsubscribe: [] as UnsubscribeEvent[], disconnect: [] as DisconnectEvent[],
  };
  const hooks: Hooks = {
    connect(ev) { calls.connect.push(ev); return on.connect?.(ev) ?? { allow: true }; },
    subscribe(ev) { calls.subscribe.push(ev); return on.subscribe?.(ev) ?? { allow: true }; },
    publish(ev) { calls.publish.push(ev); return on.publish?.(ev) ?? { allow: true }; },
    deliver(ev) { calls.deliver.push(structuredClone(ev)); return on.deliver?.(ev) ?? { results: ev.recipients.map(() => ({})) }; },
    unsubscribe(ev) { calls.unsubscribe.push(ev); },
    disconnect(ev) { calls.disconnect.push(ev); },
  };
  return { hooks, calls };
}

/** Polls `get` until it is truthy, with a deadline (no fixed sleeps). */
async function waitFor<T>(what: string, get: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 4000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Short grace for stragglers before asserting that nothing more arrived. */
const GRACE_MS = 150;
const grace = () => sleep(GRACE_MS);

/** Round trip on `c`'s socket: every frame the server wrote to it before this call has arrived afterwards. */
async function barrier(c: TestClient): Promise<void> {
  c.send({ type: 'ping' });
  await c.next((f) => f.type === 'pong');
}

/** A node plus the clients opened on it, all cleaned up by `close()`. */
function harness(options: Partial<Options>, hooks?: Hooks) {
  const clients: TestClient[] = [];
  const h = {
    t: undefined as unknown as TestNode,
    async start() { h.t = await startTestNode(options, hooks ? { hooks } : {}); },
    /** Connects `user` (token with `claims`) and completes `connect`. */
    async client(user: string, claims: Record<string, unknown> = {}) {
      const { client, connected } = await TestClient.connect(h.t.url, { token: await h.t.token(user, { claims }) });
      clients.push(client);
      return { c: client, connected };
    },
    /** A raw socket (connect not yet sent). */
    async raw() {
      const c = new TestClient(h.t.url.replace(/^http/, 'ws') + '/v1/ws');
      clients.push(c);
      await c.opened;
      return c;
    },
    async config(channel: string, patch: Record<string, unknown>) {
      const r = await h.t.api('PUT', `/v1/channels/${channel}/config`, patch);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    },
    async publish(channel: string, data: unknown) {
      return h.t.api('POST', `/v1/channels/${channel}/messages`, { data });
    },
    async close() {
      for (const c of clients) c.close();
      await h.t?.stop();
    },
  };
  return h;
}

const users = (ev: DeliverEvent) => ev.recipients.map((r) => r.user).sort();

// ---- 1. connect ----

describe('connect hook through a node', () => {
  const { hooks, calls } = recorder({
    connect: ({ user, claims }) => {
      if (user === 'gatecrasher') return { allow: false, reason: 'not on the list' };
      if (user === 'alias') return { allow: true, user: 'real-name' };
      return { allow: true, info: { lang: claims.lang ?? 'none', seenAs: user } };
    },
  });
  const h = harness({}, hooks);
  before(() => h.start());
  after(() => h.close());

  test('deny: the client gets a forbidden error with the reason, then close 4403', async () => {
    const c = await h.raw();
    c.send({ type: 'connect', token: await h.t.token('gatecrasher') });
    const err = await c.next();
    assert.equal(err.type, 'error');
    assert.equal(err.code, 'forbidden');
    assert.equal(err.message, 'not on the list');
    assert.equal((await c.waitClosed()).code, 4403);
    assert.equal(c.frames.filter((f) => f.type === 'connected').length, 0);
    const ev = calls.connect.find((e) => e.user === 'gatecrasher')!;
    assert.equal(ev.ip, '127.0.0.1');
    assert.equal(ev.origin, null);
    await grace();
    assert.equal(calls.disconnect.filter((e) => e.user === 'gatecrasher').length, 0, 'a refused connection never had a session');
  });

  test('the hook replaces the user id: connected, subscribe hook, presence and user messages all use it', async () => {
    const { c, connected } = await h.client('alias');
    assert.equal(connected.user, 'real-name');
    assert.equal((await c.subscribe('conn-alias')).type, 'subscribed');
    assert.equal(calls.subscribe.find((e) => e.channel === 'conn-alias')?.user, 'real-name');
    assert.deepEqual((await h.t.api('GET', '/v1/channels/conn-alias/presence')).body.users, ['real-name']);
    const dm = await h.t.api('POST', '/v1/users/real-name/messages', { data: { dm: 1 } });
    assert.deepEqual(dm.body, { user: 'real-name', delivered: true });
    assert.deepEqual((await c.waitMessages('$user:real-name', 1))[0]!.data, { dm: 1 });
    assert.deepEqual((await h.t.api('POST', '/v1/users/alias/messages', { data: 1 })).body.delivered, false);
  });

  test('info from the connect reply reaches the deliver hook with each recipient', async () => {
    await h.config('conn-info', { deliverHook: true });
    const { c: ivy } = await h.client('ivy', { lang: 'fr' });
    const { c: jon } = await h.client('jon');
    await ivy.subscribe('conn-info');
    await jon.subscribe('conn-info');
    await h.publish('conn-info', 'x');
    await ivy.waitMessages('conn-info', 1);
    await jon.waitMessages('conn-info', 1);
    const dl = calls.deliver.filter((e) => e.channel === 'conn-info');
    assert.equal(dl.length, 1);
    const byUser = Object.fromEntries(dl[0]!.recipients.map((r) => [r.user, r.info]));
    assert.deepEqual(byUser, { ivy: { lang: 'fr', seenAs: 'ivy' }, jon: { lang: 'none', seenAs: 'jon' } });
  });
});

// ---- 2. subscribe ----

describe('subscribe hook through a node', () => {
  const { hooks, calls } = recorder({
    subscribe: ({ channel, claims }) => channel.startsWith('sub-vip') && claims.tier !== 'gold'
      ? { allow: false, reason: 'gold members only' } : { allow: true },
  });
  const h = harness({}, hooks);
  before(() => h.start());
  after(() => h.close());

  test('deny: the reason is the error message; the client gets nothing from that channel', async () => {
    const { c } = await h.client('silver-sam', { tier: 'silver' });
    const err = await c.subscribe('sub-vip-room');
    assert.equal(err.type, 'error');
    assert.equal(err.code, 'forbidden');
    assert.equal(err.message, 'gold members only');
    assert.equal((await h.t.api('GET', '/v1/channels/sub-vip-room/presence')).body.count, 0);
    await h.publish('sub-vip-room', 'secret');
    await barrier(c);
    assert.equal(c.messages('sub-vip-room').length, 0);
    assert.deepEqual(calls.subscribe.filter((e) => e.user === 'silver-sam').map((e) => [e.channel, e.claims.tier]),
      [['sub-vip-room', 'silver']]);
    assert.equal(calls.unsubscribe.filter((e) => e.user === 'silver-sam').length, 0, 'a refused subscription never started');
  });

  test('allow: subscribed, and messages flow', async () => {
    const { c } = await h.client('gold-gil', { tier: 'gold' });
    const ok = await c.subscribe('sub-vip-room');
    assert.equal(ok.type, 'subscribed');
    await h.publish('sub-vip-room', 'welcome');
    assert.equal((await c.waitMessages('sub-vip-room', 1))[0]!.data, 'welcome');
    const { c: other } = await h.client('anyone');
    assert.equal((await other.subscribe('sub-open')).type, 'subscribed');
  });
});

// ---- 3. publish ----

describe('publish hook at the owner', () => {
  const { hooks, calls } = recorder({
    publish: ({ channel, data, user }) => {
      const d = data as { text?: string };
      if (channel.startsWith('pub-') && d.text === 'bad word') return { allow: false, reason: 'no bad words' };
      if (channel === 'pub-rewrite') return { allow: true, data: { text: String(d.text).toUpperCase(), by: user ?? 'server' } };
      return { allow: true };
    },
  });
  const h = harness({}, hooks);
  before(() => h.start());
  after(() => h.close());

  test('deny: publisher gets forbidden with the reason, nobody receives it, no offset is used', async () => {
    await h.config('pub-deny', { clientPublish: true });
    const { c: reader } = await h.client('pd-reader');
    const { c: writer } = await h.client('pd-writer');
    await reader.subscribe('pub-deny');
    await writer.subscribe('pub-deny');
    const err = await writer.request({ type: 'publish', channel: 'pub-deny', data: { text: 'bad word' } });
    assert.equal(err.type, 'error');
    assert.equal(err.code, 'forbidden');
    assert.equal(err.message, 'no bad words');
    const rest = await h.publish('pub-deny', { text: 'bad word' });
    assert.equal(rest.status, 403);
    assert.deepEqual(rest.body.error, { code: 'forbidden', message: 'no bad words' });
    const ok = await writer.request({ type: 'publish', channel: 'pub-deny', data: { text: 'fine' } });
    assert.equal(ok.offset, 1, 'refused messages never got an offset');
    for (const c of [reader, writer]) {
      const msgs = await c.waitMessages('pub-deny', 1);
      assert.deepEqual(msgs.map((m) => m.data), [{ text: 'fine' }]);
    }
  });

  test('rewrite: subscribers and history get the data the hook returned', async () => {
    await h.config('pub-rewrite', { clientPublish: true });
    const { c: reader } = await h.client('rw-reader');
    const { c: writer } = await h.client('rw-writer');
    await reader.subscribe('pub-rewrite');
    await writer.request({ type: 'publish', channel: 'pub-rewrite', data: { text: 'hello' } });
    await h.publish('pub-rewrite', { text: 'from api' });
    const msgs = await reader.waitMessages('pub-rewrite', 2);
    assert.deepEqual(msgs.map((m) => m.data), [{ text: 'HELLO', by: 'rw-writer' }, { text: 'FROM API', by: 'server' }]);
    assert.equal(msgs[0]!.from, 'rw-writer');
    const hist = await h.t.api('GET', '/v1/channels/pub-rewrite/history');
    assert.deepEqual(hist.body.messages.map((m: { data: unknown }) => m.data), msgs.map((m) => m.data));
  });

  test('runs exactly once per message, however many subscribers', async () => {
    const subs = await Promise.all(['once-a', 'once-b', 'once-c'].map(async (u) => (await h.client(u)).c));
    for (const c of subs) await c.subscribe('pub-once');
    for (let i = 1; i <= 4; i++) assert.equal((await h.publish('pub-once', { n: i })).status, 200);
    for (const c of subs) assert.equal((await c.waitMessages('pub-once', 4)).length, 4);
    await grace();
    const evs = calls.publish.filter((e) => e.channel === 'pub-once');
    assert.deepEqual(evs.map((e) => e.data), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    assert.ok(evs.every((e) => e.user === null), 'API publishes have no user');
    for (const c of subs) assert.equal(c.messages('pub-once').length, 4);
  });
});

// ---- 4. deliver ----

describe('deliver hook on the push node', () => {
  const { hooks, calls } = recorder({
    connect: ({ user }) => ({ allow: true, info: { nick: `nick-${user}` } }),
    deliver: ({ data, recipients }) => ({
      results: recipients.map((r) => r.user === 'dv-skip' ? { skip: true }
        : r.user === 'dv-own' ? { data: { for: r.info.nick, orig: data } } : {}),
    }),
  });
  const h = harness({}, hooks);
  before(() => h.start());
  after(() => h.close());

  test('deliverHook true: one call per message with every local recipient; own data, skip and unchanged', async () => {
    await h.config('dv-on', { deliverHook: true });
    const own = (await h.client('dv-own')).c;
    const skip = (await h.client('dv-skip')).c;
    const same = (await h.client('dv-same')).c;
    for (const c of [own, skip, same]) await c.subscribe('dv-on');
    await h.publish('dv-on', 'm1');
    await h.publish('dv-on', 'm2');
    const ownMsgs = await own.waitMessages('dv-on', 2);
    const sameMsgs = await same.waitMessages('dv-on', 2);
    assert.deepEqual(ownMsgs.map((m) => m.data), [{ for: 'nick-dv-own', orig: 'm1' }, { for: 'nick-dv-own', orig: 'm2' }]);
    assert.deepEqual(ownMsgs.map((m) => m.offset), [1, 2]);
    assert.deepEqual(sameMsgs.map((m) => m.data), ['m1', 'm2']);
    await barrier(skip);
    assert.equal(skip.messages('dv-on').length, 0, 'a skipped recipient gets nothing');
    await grace();
    const evs = calls.deliver.filter((e) => e.channel === 'dv-on');
    assert.equal(evs.length, 2, 'one call per message, not per recipient');
    assert.deepEqual(evs.map((e) => e.data), ['m1', 'm2']);
    for (const e of evs) {
      assert.deepEqual(users(e), ['dv-own', 'dv-same', 'dv-skip']);
      assert.deepEqual(e.recipients.find((r) => r.user === 'dv-skip')!.info, { nick: 'nick-dv-skip' });
    }
    // The skipped reader resumes past the skipped offsets: nothing is replayed on a new message.
    await h.publish('dv-on', 'm3');
    await same.waitMessages('dv-on', 3);
    await barrier(skip);
    assert.equal(skip.messages('dv-on').length, 0);
  });

  test('deliverHook false: the deliver hook is never called', async () => {
    const a = (await h.client('dv-off-a')).c;
    const b = (await h.client('dv-skip')).c; // would be skipped if the hook ran
    await a.subscribe('dv-off');
    await b.subscribe('dv-off');
    await h.publish('dv-off', 'plain');
    assert.deepEqual((await a.waitMessages('dv-off', 1)).map((m) => m.data), ['plain']);
    assert.deepEqual((await b.waitMessages('dv-off', 1)).map((m) => m.data), ['plain']);
    await grace();
    assert.equal(calls.deliver.filter((e) => e.channel === 'dv-off').length, 0);
  });
});

// ---- 5. actions ----

describe('hook actions', () => {
  const { hooks, calls } = recorder({
    publish: ({ channel, data }) => {
      const d = (data ?? {}) as { kick?: string; open?: string; disconnect?: string };
      if (d.kick) return { allow: true, actions: [{ type: 'kick', channel, user: d.kick, ban: 30, reason: 'spam' }] };
      if (d.open) return { allow: true, actions: [{ type: 'config', channel: d.open, set: { clientPublish: true } }] };
      if (d.disconnect) return { allow: false, reason: 'done', actions: [{ type: 'disconnect', user: d.disconnect, reason: 'go away' }] };
      return { allow: true };
    },
  });
  const h = harness({}, hooks);
  before(() => h.start());
  after(() => h.close());

  test('kick with ban: the user gets kicked and cannot resubscribe, on any connection', async () => {
    await h.config('act-kick', { clientPublish: true });
    const { c: victim } = await h.client('act-victim');
    const { c: actor } = await h.client('act-actor');
    await victim.subscribe('act-kick');
    await actor.subscribe('act-kick');
    const r = await actor.request({ type: 'publish', channel: 'act-kick', data: { kick: 'act-victim' } });
    assert.equal(r.type, 'reply');
    const kicked = await victim.next((f) => f.type === 'kicked');
    assert.deepEqual([kicked.channel, kicked.reason], ['act-kick', 'spam']);
    assert.equal((await victim.subscribe('act-kick')).code, 'banned');
    const { c: again } = await h.client('act-victim');
    assert.equal((await again.subscribe('act-kick')).code, 'banned');
    assert.deepEqual((await h.t.api('GET', '/v1/channels/act-kick/presence')).body.users, ['act-actor']);
    await grace();
    assert.deepEqual(calls.unsubscribe.filter((e) => e.user === 'act-victim'), [{ user: 'act-victim', channel: 'act-kick', reason: 'kicked' }]);
  });

  test('config action: changes another channel\'s settings live (clientPublish)', async () => {
    const { c: writer } = await h.client('act-writer');
    const early = await writer.request({ type: 'publish', channel: 'act-target', data: 'early' });
    assert.equal(early.code, 'forbidden');
    assert.equal((await h.publish('act-cfg', { open: 'act-target' })).status, 200);
    // Actions of an allowed message run after the reply: wait (with a deadline) for the change to land.
    await waitFor('clientPublish on act-target', async () => (await h.t.api('GET', '/v1/channels/act-target/config')).body.clientPublish);
    const { c: reader } = await h.client('act-reader');
    await reader.subscribe('act-target');
    const ok = await writer.request({ type: 'publish', channel: 'act-target', data: 'now allowed' });
    assert.equal(ok.type, 'reply');
    assert.deepEqual((await reader.waitMessages('act-target', 1)).map((m) => m.data), ['now allowed']);
  });

  test('disconnect action: closes every connection of the user with 4000', async () => {
    await h.config('act-dc', { clientPublish: true });
    const { c: p1, connected: s1 } = await h.client('act-pest');
    const { c: p2, connected: s2 } = await h.client('act-pest');
    const { c: boss } = await h.client('act-boss');
    const r = await boss.request({ type: 'publish', channel: 'act-dc', data: { disconnect: 'act-pest' } });
    assert.deepEqual([r.code, r.message], ['forbidden', 'done']);
    assert.equal((await p1.waitClosed()).code, 4000);
    assert.equal((await p2.waitClosed()).code, 4000);
    assert.equal(boss.closed, null);
    await grace();
    const dcs = calls.disconnect.filter((e) => e.user === 'act-pest');
    assert.deepEqual(dcs.map((e) => e.session).sort(), [s1.session, s2.session].sort());
  });
});

// ---- 6. the chat demo hooks: moderation and translation ----

describe('demo chat hooks on a node', () => {
  const h = harness({}, chatHooks);
  before(() => h.start());
  after(() => h.close());

  test('a moderator\'s "/kick bob" kicks and bans bob; the command reaches nobody; others cannot /kick', async () => {
    const ch = 'chat-room';
    await h.config(ch, { clientPublish: true });
    const { c: mod } = await h.client('mod', { role: 'moderator' });
    const { c: bob } = await h.client('bob');
    const { c: amy } = await h.client('amy');
    for (const c of [mod, bob, amy]) assert.equal((await c.subscribe(ch)).type, 'subscribed');

    const refused = await amy.request({ type: 'publish', channel: ch, data: { text: '/kick mod' } });
    assert.deepEqual([refused.type, refused.code, refused.message], ['error', 'forbidden', 'not_moderator']);

    const cmd = await mod.request({ type: 'publish', channel: ch, data: { text: '/kick bob' } });
    assert.deepEqual([cmd.type, cmd.code, cmd.message], ['error', 'forbidden', 'kicked bob']);
    const kicked = await bob.next((f) => f.type === 'kicked');
    assert.deepEqual([kicked.channel, kicked.reason], [ch, 'kicked by mod']);
    const re = await bob.subscribe(ch);
    assert.equal(re.code, 'banned');

    // The next real message is offset 1: neither command was ever published; bob is gone, mod is still in.
    const hi = await amy.request({ type: 'publish', channel: ch, data: { text: '  hi all  ' } });
    assert.equal(hi.offset, 1);
    for (const c of [mod, amy]) assert.deepEqual((await c.waitMessages(ch, 1)).map((m) => m.data), [{ text: 'hi all' }]);
    await barrier(bob);
    assert.equal(bob.messages(ch).length, 0);
    assert.deepEqual((await h.t.api('GET', `/v1/channels/${ch}/presence`)).body.users.sort(), ['amy', 'mod']);
  });

  test('translation: an English message reaches the Spanish reader in Spanish, the English reader unchanged', async () => {
    const ch = 'chat-i18n';
    await h.config(ch, { clientPublish: true, deliverHook: true });
    const { c: es } = await h.client('lucia', { lang: 'es' });
    const { c: en } = await h.client('emma', { lang: 'en' });
    const { c: writer } = await h.client('will', { lang: 'en' });
    await es.subscribe(ch);
    await en.subscribe(ch);
    assert.equal((await writer.request({ type: 'publish', channel: ch, data: { text: 'hello world' } })).type, 'reply');
    const [toEs] = await es.waitMessages(ch, 1);
    const [toEn] = await en.waitMessages(ch, 1);
    assert.deepEqual(toEs!.data, { text: 'hola mundo', lang: 'es' });
    assert.deepEqual(toEn!.data, { text: 'hello world' });
    assert.equal(toEs!.from, 'will');
    assert.equal(toEs!.offset, toEn!.offset);
  });

  test('translation also applies to messages replayed on a resume', async () => {
    const ch = 'chat-i18n-resume';
    await h.config(ch, { clientPublish: true, deliverHook: true });
    const { c: es, connected } = await h.client('sofia', { lang: 'es' });
    await es.subscribe(ch);
    es.close();
    await h.publish(ch, { text: 'good morning' });
    const { client: back } = await TestClient.connect(h.t.url, { session: connected.session as string });
    try {
      assert.deepEqual((await back.waitMessages(ch, 1))[0]!.data, { text: 'bueno mañana', lang: 'es' });
    } finally {
      back.close();
    }
  });
});

// ---- 7. reliable leave and disconnect events ----

describe('unsubscribe and disconnect hooks fire exactly once per ending', () => {
  const { hooks, calls } = recorder();
  const h = harness({ sessionTtlSeconds: 1 }, hooks);
  before(() => h.start());
  after(() => h.close());

  const leaves = (user: string) => calls.unsubscribe.filter((e) => e.user === user)
    .map((e) => `${e.channel}:${e.reason}`).sort();
  const closes = (user: string) => calls.disconnect.filter((e) => e.user === user);

  test('unsubscribe frame: one event; a second unsubscribe is refused and adds none', async () => {
    const { c, connected } = await h.client('lv-unsub');
    await c.subscribe('lv-u1');
    await c.subscribe('lv-u2');
    assert.equal((await c.request({ type: 'unsubscribe', channel: 'lv-u1' })).ok, true);
    assert.equal((await c.request({ type: 'unsubscribe', channel: 'lv-u1' })).code, 'bad_request');
    await waitFor('unsubscribe event', () => leaves('lv-unsub').length >= 1);
    await grace();
    assert.deepEqual(leaves('lv-unsub'), ['lv-u1:unsubscribe']);
    assert.equal(closes('lv-unsub').length, 0, 'no disconnect while the socket is open');
    c.close();
    await waitFor('disconnect event', () => closes('lv-unsub').length >= 1);
    await waitFor('lv-u2 to expire', () => leaves('lv-unsub').length >= 2);
    await grace();
    assert.deepEqual(leaves('lv-unsub'), ['lv-u1:unsubscribe', 'lv-u2:expired']);
    assert.deepEqual(closes('lv-unsub').map((e) => [e.session, e.reason]), [[connected.session, 'closed']]);
  });

  test('kick: one event; the later session expiry does not repeat it', async () => {
    const { c, connected } = await h.client('lv-kick');
    await c.subscribe('lv-k1');
    await c.subscribe('lv-k2');
    assert.deepEqual((await h.t.api('POST', '/v1/channels/lv-k1/kick', { user: 'lv-kick' })).body, { kicked: 1 });
    await c.next((f) => f.type === 'kicked');
    await waitFor('kick event', () => leaves('lv-kick').length >= 1);
    c.close();
    await waitFor('lv-k2 to expire', () => leaves('lv-kick').length >= 2);
    await grace();
    assert.deepEqual(leaves('lv-kick'), ['lv-k1:kicked', 'lv-k2:expired']);
    assert.deepEqual(closes('lv-kick').map((e) => [e.session, e.reason]), [[connected.session, 'closed']]);
  });

  test('session expiry: one event per subscription after the socket is gone for the TTL', async () => {
    const { c, connected } = await h.client('lv-exp');
    for (const ch of ['lv-e1', 'lv-e2', 'lv-e3']) await c.subscribe(ch);
    const closedAt = Date.now();
    c.close();
    await waitFor('disconnect event', () => closes('lv-exp').length >= 1);
    assert.equal(leaves('lv-exp').length, 0, 'nothing ends while the session may still resume');
    await waitFor('three expiries', () => leaves('lv-exp').length >= 3, 5000);
    assert.ok(Date.now() - closedAt >= 900, 'not before the TTL');
    await grace();
    assert.deepEqual(leaves('lv-exp'), ['lv-e1:expired', 'lv-e2:expired', 'lv-e3:expired']);
    assert.deepEqual(closes('lv-exp').map((e) => [e.session, e.reason]), [[connected.session, 'closed']]);
    assert.equal((await h.t.api('GET', '/v1/channels/lv-e1/presence')).body.count, 0);
  });

  test('session takeover: the replaced connection and the new one each fire one disconnect; subscriptions go on', async () => {
    const { c: first, connected } = await h.client('lv-take');
    await first.subscribe('lv-t');
    const { client: second, connected: again } = await TestClient.connect(h.t.url, { session: connected.session as string });
    assert.equal(again.resumed, true);
    assert.equal((await first.waitClosed()).code, 4000);
    await waitFor('disconnect of the replaced connection', () => closes('lv-take').length >= 1);
    await grace();
    assert.deepEqual(closes('lv-take').map((e) => [e.session, e.reason]), [[connected.session, 'replaced']]);
    assert.deepEqual(leaves('lv-take'), [], 'a takeover ends no subscription');
    await h.publish('lv-t', 'still here');
    assert.deepEqual((await second.waitMessages('lv-t', 1)).map((m) => m.data), ['still here']);
    second.close();
    await waitFor('disconnect of the new connection', () => closes('lv-take').length >= 2);
    await waitFor('expiry', () => leaves('lv-take').length >= 1);
    await grace();
    assert.deepEqual(closes('lv-take').map((e) => e.reason), ['replaced', 'closed']);
    assert.deepEqual(leaves('lv-take'), ['lv-t:expired']);
  });

  test('POST /v1/users/{u}/disconnect: one event per subscription and one disconnect per connection', async () => {
    const a = await h.client('lv-dc');
    const b = await h.client('lv-dc');
    await a.c.subscribe('lv-d');
    await b.c.subscribe('lv-d');
    await b.c.subscribe('lv-d2');
    const r = await h.t.api('POST', '/v1/users/lv-dc/disconnect', { reason: 'maintenance' });
    assert.deepEqual(r.body, { disconnected: 2 });
    assert.equal((await a.c.waitClosed()).code, 4000);
    assert.equal((await b.c.waitClosed()).code, 4000);
    await waitFor('three leave events', () => leaves('lv-dc').length >= 3);
    await waitFor('two disconnect events', () => closes('lv-dc').length >= 2);
    await sleep(GRACE_MS + 1000); // past the session TTL too: an ended session must not expire again
    assert.deepEqual(leaves('lv-dc'), ['lv-d2:disconnect', 'lv-d:disconnect', 'lv-d:disconnect']);
    assert.deepEqual(closes('lv-dc').map((e) => e.session).sort(), [a.connected.session, b.connected.session].sort());
    assert.ok(closes('lv-dc').every((e) => e.reason === 'disconnect'));
  });
});

// ---- 8. webhooks ----

const WEBHOOK_SECRET = 'hooks-node-webhook-secret';

/** A real app on 127.0.0.1:0: verifies every signature (401 if bad); /subscribe on "wh-hang*" never answers. */
async function startWebhookApp() {
  const seen: Array<{ event: string; body: any; verified: boolean }> = [];
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const event = (req.url ?? '').replace(/^\/hooks\//, '');
    const verified = verifyWebhook(raw, req.headers['x-hashpub-signature'], WEBHOOK_SECRET);
    const body = JSON.parse(raw.toString('utf8'));
    seen.push({ event, body, verified });
    if (!verified || req.method !== 'POST' || !req.url?.startsWith('/hooks/')) return void res.writeHead(401).end();
    const json = (v: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    switch (event) {
      case 'subscribe': return body.channel.startsWith('wh-hang') ? undefined : json({ allow: true });
      case 'publish': return json({ allow: true, data: { ...body.data, via: 'webhook', by: body.user } });
      case 'deliver': return json({ results: body.recipients.map(() => ({})) });
      case 'connect': return json({ allow: true, info: { app: 'yes' } });
      default: return void res.writeHead(204).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    seen,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('webhooks through a node', () => {
  let app: Awaited<ReturnType<typeof startWebhookApp>>;
  const harnesses: Array<ReturnType<typeof harness>> = [];
  const node = async (extra: Partial<Options>) => {
    const h = harness({ webhook: app.url, webhookSecret: WEBHOOK_SECRET, hookTimeoutMs: 300, ...extra });
    harnesses.push(h);
    await h.start();
    return h;
  };
  before(async () => { app = await startWebhookApp(); });
  after(async () => {
    for (const h of harnesses) await h.close();
    await app?.close();
  });

  test('a webhook publish hook rewrites data end to end; every request is signed', async () => {
    const h = await node({});
    await h.config('wh-chat', { clientPublish: true });
    const { c: reader } = await h.client('wh-reader');
    const { c: writer } = await h.client('wh-writer', { team: 'red' });
    assert.equal((await reader.subscribe('wh-chat')).type, 'subscribed');
    assert.equal((await writer.request({ type: 'publish', channel: 'wh-chat', data: { text: 'hi' } })).type, 'reply');
    assert.equal((await h.publish('wh-chat', { text: 'api' })).status, 200);
    const msgs = await reader.waitMessages('wh-chat', 2);
    assert.deepEqual(msgs.map((m) => m.data), [{ text: 'hi', via: 'webhook', by: 'wh-writer' }, { text: 'api', via: 'webhook', by: null }]);
    const pub = app.seen.find((s) => s.event === 'publish' && s.body.user === 'wh-writer')!;
    assert.equal(pub.body.channel, 'wh-chat');
    assert.deepEqual(pub.body.data, { text: 'hi' });
    assert.equal(pub.body.claims.team, 'red');
    for (const e of ['connect', 'subscribe', 'publish']) assert.ok(app.seen.some((s) => s.event === e), `${e} reached the app`);
    assert.ok(app.seen.length > 0 && app.seen.every((s) => s.verified), 'every webhook request verifies with the secret');
    assert.equal(verifyWebhook(JSON.stringify(pub.body), 't=1,v1=' + '0'.repeat(64), WEBHOOK_SECRET), false);
  });

  test('a webhook that hangs denies subscribe after hookTimeoutMs (failure policy deny)', async () => {
    const h = await node({});
    const { c } = await h.client('wh-waiter');
    const started = Date.now();
    const err = await c.subscribe('wh-hang-deny');
    const took = Date.now() - started;
    assert.deepEqual([err.type, err.code, err.message], ['error', 'forbidden', 'hook_failed']);
    assert.ok(took >= 250 && took < 2000, `refused after ${took} ms`);
    await h.publish('wh-hang-deny', { text: 'x' });
    await barrier(c);
    assert.equal(c.messages('wh-hang-deny').length, 0);
  });

  test('hookFailure allow: the same hanging webhook lets the subscribe through', async () => {
    const h = await node({ hookFailure: 'allow' });
    const { c } = await h.client('wh-lucky');
    const ok = await c.subscribe('wh-hang-allow');
    assert.equal(ok.type, 'subscribed');
    await h.publish('wh-hang-allow', { text: 'y' });
    assert.deepEqual((await c.waitMessages('wh-hang-allow', 1))[0]!.data, { text: 'y', via: 'webhook', by: null });
  });
});
