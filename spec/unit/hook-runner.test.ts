import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { HookRunner, checkAction, openHooks } from '../../lib/hooks/hook-runner.js';
import type { Hooks } from '../../lib/hooks/hooks.js';
import { loadHookModule } from '../../lib/hooks/module-hooks.js';

const conn = { user: 'alice', claims: {}, ip: '127.0.0.1', origin: null };
const sub = { user: 'alice', claims: {}, channel: 'room' };
const pub = { user: 'alice', claims: {}, channel: 'room', data: { text: 'hi' } };
const recipients = [{ user: 'a', info: {} }, { user: 'b', info: {} }, { user: 'c', info: {} }];

function recorder() {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  return { lines, warn(obj: object, msg: string) { lines.push({ obj: obj as Record<string, unknown>, msg }); } };
}

test('an app without a hook: has() is false and the node gets allow / unchanged', async () => {
  const r = new HookRunner({});
  for (const e of ['connect', 'subscribe', 'publish', 'deliver', 'unsubscribe', 'disconnect'] as const) assert.equal(r.has(e), false);
  assert.deepEqual(await r.connect(conn), { allow: true });
  assert.deepEqual(await r.subscribe(sub), { allow: true });
  assert.deepEqual(await r.publish(pub), { allow: true });
  assert.equal(await r.deliver({ channel: 'room', data: 1, recipients }), null);
  await r.unsubscribe({ user: 'a', channel: 'room', reason: 'unsubscribe' });
  assert.equal(r.stats.connect.calls, 0);
});

test('replies pass through, normalized (unknown fields dropped), sync or async', async () => {
  const r = new HookRunner({
    connect: () => ({ allow: true, user: 'bob', info: { lang: 'es' }, extra: 1 } as never),
    subscribe: async () => ({ allow: false, reason: 'nope' }),
    publish: async (ev) => ({ allow: true, data: { text: String((ev.data as { text: string }).text).toUpperCase() } }),
  });
  assert.equal(r.has('connect'), true);
  assert.deepEqual(await r.connect(conn), { allow: true, user: 'bob', info: { lang: 'es' } });
  assert.deepEqual(await r.subscribe(sub), { allow: false, reason: 'nope' });
  assert.deepEqual(await r.publish(pub), { allow: true, data: { text: 'HI' } });
  assert.equal(r.stats.connect.calls, 1);
  assert.equal(r.stats.connect.failures, 0);
  assert.ok(r.stats.publish.micros > 0, 'time is measured');
});

test('a hook that throws, rejects, times out or answers garbage denies with hook_failed (policy deny)', async () => {
  const log = recorder();
  const bad: Array<Hooks['subscribe']> = [
    () => { throw new Error('boom'); },
    async () => { throw new Error('boom'); },
    () => new Promise(() => {}),
    () => null as never, () => 'yes' as never, () => ({ allow: 'true' }) as never, () => [] as never,
    () => ({ allow: true, reason: 5 }) as never,
  ];
  for (const subscribe of bad) {
    const r = new HookRunner({ subscribe, connect: () => ({ allow: true, user: 'bad user!' }) }, { timeoutMs: 50, log });
    const t0 = Date.now();
    assert.deepEqual(await r.subscribe(sub), { allow: false, reason: 'hook_failed' });
    assert.ok(Date.now() - t0 < 1000, 'the timeout is honoured');
    assert.equal(r.stats.subscribe.failures, 1);
    assert.deepEqual(await r.connect(conn), { allow: false, reason: 'hook_failed' }, 'invalid user id from connect');
  }
  assert.ok(log.lines.some((l) => l.msg === 'subscribe hook failed' && (l.obj.err as Error).message === 'boom'));
});

test('policy allow lets a failed connect/subscribe/publish through', async () => {
  const fail = () => { throw new Error('down'); };
  const r = new HookRunner({ connect: fail, subscribe: fail, publish: () => new Promise(() => {}) }, { failure: 'allow', timeoutMs: 30 });
  assert.deepEqual(await r.connect(conn), { allow: true });
  assert.deepEqual(await r.subscribe(sub), { allow: true });
  assert.deepEqual(await r.publish(pub), { allow: true });
  assert.equal(r.stats.publish.failures, 1);
});

test('failure logs are rate-limited per event, with the count suppressed', async () => {
  const log = recorder();
  const r = new HookRunner({ publish: () => { throw new Error('x'); } }, { log });
  for (let i = 0; i < 50; i++) await r.publish(pub);
  assert.equal(r.stats.publish.failures, 50);
  assert.equal(log.lines.length, 1);
});

test('actions: valid kick/config/disconnect are kept, invalid ones dropped with a warning', async () => {
  const log = recorder();
  const actions = [
    { type: 'kick', channel: 'room', user: 'bob', ban: 60, reason: 'spam', junk: 1 },
    { type: 'config', channel: 'room', set: { maxSubscribers: 10 } },
    { type: 'disconnect', user: 'bob' },
    { type: 'kick', channel: 'room' }, { type: 'kick', channel: '$user:bob', user: 'bob' },
    { type: 'kick', channel: 'room', user: 'bob', ban: -1 }, { type: 'config', channel: 'room', set: { nope: 1 } },
    { type: 'config', channel: 'room', set: { maxSubscribers: 'ten' } }, { type: 'explode' }, null, 'kick',
  ];
  const r = new HookRunner({ publish: () => ({ allow: false, actions } as never) }, { log });
  assert.deepEqual(await r.publish(pub), { allow: false, actions: [
    { type: 'kick', channel: 'room', user: 'bob', ban: 60, reason: 'spam' },
    { type: 'config', channel: 'room', set: { maxSubscribers: 10 } },
    { type: 'disconnect', user: 'bob' },
  ] });
  assert.equal(log.lines[0]?.obj.dropped, 8);
  const notArray = new HookRunner({ subscribe: () => ({ allow: true, actions: { type: 'disconnect', user: 'x' } } as never) });
  assert.deepEqual(await notArray.subscribe(sub), { allow: true });
  assert.equal(checkAction({ type: 'disconnect', user: 'x', reason: 7 }), null);
});

test('deliver: results normalized; wrong length, garbage or failure leaves everyone unchanged (null)', async () => {
  const ok = new HookRunner({ deliver: () => ({ results: [{ data: 'x' }, { skip: true }, { other: 1 }] } as never) });
  assert.deepEqual(await ok.deliver({ channel: 'room', data: 1, recipients }), { results: [{ data: 'x' }, { skip: true }, {}] });
  const bad: Array<Hooks['deliver']> = [
    () => ({ results: [{}, {}] }), () => ({ results: [{}, {}, {}, {}] }), () => ({} as never),
    () => ({ results: [{}, null, {}] } as never), () => ({ results: [{}, { skip: 'yes' }, {}] } as never),
    () => { throw new Error('x'); }, () => new Promise(() => {}),
  ];
  for (const deliver of bad) {
    const r = new HookRunner({ deliver }, { timeoutMs: 30 });
    assert.equal(await r.deliver({ channel: 'room', data: 1, recipients }), null);
    assert.equal(r.stats.deliver.failures, 1);
  }
});

test('notifications never throw; failures and timeouts are logged and counted', async () => {
  const log = recorder();
  const r = new HookRunner({
    unsubscribe: () => { throw new Error('sync'); },
    disconnect: () => new Promise(() => {}),
  }, { log, timeoutMs: 30 });
  await r.unsubscribe({ user: 'a', channel: 'room', reason: 'kicked' });
  await r.disconnect({ user: 'a', session: 's1', reason: 'shutdown' });
  assert.equal(r.stats.unsubscribe.failures, 1);
  assert.equal(r.stats.disconnect.failures, 1);
  assert.deepEqual(log.lines.map((l) => l.msg), ['unsubscribe hook failed', 'disconnect hook failed']);
});

test('loadHookModule loads a file relative to cwd and names the file when it is wrong', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hashpub-hooks-'));
  try {
    await writeFile(join(dir, 'good.mjs'), 'export default { prefix: "p:", connect(ev) { return { allow: true, user: this.prefix + ev.user }; } };');
    await writeFile(join(dir, 'named.mjs'), 'export function subscribe() { return { allow: false }; }');
    await writeFile(join(dir, 'bad.mjs'), 'export default { connect: "yes" };');
    await writeFile(join(dir, 'empty.mjs'), 'export default { onConnect() {} };');
    await writeFile(join(dir, 'broken.mjs'), 'export default {');
    const good = await loadHookModule(relative(process.cwd(), join(dir, 'good.mjs')));
    assert.deepEqual(await new HookRunner(good).connect(conn), { allow: true, user: 'p:alice' }, 'members keep their this');
    assert.deepEqual(await new HookRunner(await loadHookModule(join(dir, 'named.mjs'))).subscribe(sub), { allow: false });
    await assert.rejects(loadHookModule(join(dir, 'bad.mjs')), /bad\.mjs: "connect" must be a function/);
    await assert.rejects(loadHookModule(join(dir, 'empty.mjs')), /empty\.mjs: exports none of the hook functions/);
    await assert.rejects(loadHookModule(join(dir, 'broken.mjs')), /cannot load hook module .*broken\.mjs/);
    await assert.rejects(loadHookModule(join(dir, 'missing.mjs')), /cannot load hook module .*missing\.mjs/);
    const base = { webhook: null, webhookSecret: null, webhookEvents: [], hookTimeoutMs: 100, hookConcurrency: 4, hookFailure: 'deny' as const };
    assert.equal(await openHooks({ ...base, hooks: null }, 'k'), null);
    assert.equal((await openHooks({ ...base, hooks: join(dir, 'good.mjs') }, 'k'))?.has('connect'), true);
    await assert.rejects(openHooks({ ...base, hooks: join(dir, 'good.mjs'), webhook: 'http://127.0.0.1:1' }, 'k'), /not both/);
    const some = await openHooks({ ...base, hooks: null, webhook: 'http://127.0.0.1:1', webhookEvents: ['publish'] }, 'k');
    assert.deepEqual(['connect', 'subscribe', 'publish', 'deliver'].map((e) => some!.has(e as never)), [false, false, true, false],
      'only the chosen events go to the webhook; the others count as not implemented');
    await some!.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
