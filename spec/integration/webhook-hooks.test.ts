import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { HashpubError } from '../../lib/errors.js';
import { HookRunner } from '../../lib/hooks/hook-runner.js';
import { verifyWebhook } from '../../lib/hooks/verify.js';
import { WebhookHooks, type WebhookHooksOptions } from '../../lib/hooks/webhook-hooks.js';

const SECRET = 'webhook-secret';
const sub = { user: 'alice', claims: { role: 'member' }, channel: 'room' };

type Handler = (event: string, body: any, res: ServerResponse) => unknown;
interface Seen { path: string; event: string; raw: Buffer; signature: string; contentType: string | undefined }

/** A real app on 127.0.0.1:0 that verifies every request's signature (401 if bad) and counts requests in flight. */
async function startApp(handle: Handler) {
  const state = { inFlight: 0, maxInFlight: 0, connections: 0, skewSeconds: 0, seen: [] as Seen[], rejected: 0 };
  const server = createServer(async (req, res) => {
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    res.on('close', () => { state.inFlight--; });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const signature = String(req.headers['x-hashpub-signature']);
    if (!verifyWebhook(raw, signature, SECRET, 300, Date.now() / 1000 + state.skewSeconds)) {
      state.rejected++;
      res.writeHead(401).end();
      return;
    }
    const path = req.url ?? '';
    const event = path.slice(path.lastIndexOf('/') + 1);
    state.seen.push({ path, event, raw, signature, contentType: req.headers['content-type'] });
    await handle(event, JSON.parse(raw.toString('utf8')), res);
  });
  server.on('connection', () => { state.connections++; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  const clients: WebhookHooks[] = [];
  return {
    state, url,
    hooks(opts: Partial<WebhookHooksOptions> = {}) {
      const h = new WebhookHooks({ url, secret: SECRET, ...opts });
      clients.push(h);
      return h;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const json = (res: ServerResponse, body: unknown, status = 200) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

test('every event round-trips as a signed JSON POST to URL/{event}', async () => {
  const app = await startApp((event, body, res) => {
    if (event === 'connect') return json(res, { allow: true, user: `${body.user}-app`, info: { lang: 'es' } });
    if (event === 'subscribe') return json(res, { allow: body.channel !== 'secret', reason: 'private' });
    if (event === 'publish') return json(res, { allow: true, data: { text: body.data.text.toUpperCase() },
      actions: [{ type: 'kick', channel: body.channel, user: 'troll', ban: 30 }] });
    if (event === 'deliver') return json(res, { results: body.recipients.map((r: any) => (r.info.lang === 'es' ? { data: 'hola' } : {})) });
    res.writeHead(204).end(); // notifications: any 2xx, body ignored
  });
  const runner = new HookRunner(app.hooks());
  try {
    assert.deepEqual(await runner.connect({ user: 'alice', claims: {}, ip: '127.0.0.1', origin: null }),
      { allow: true, user: 'alice-app', info: { lang: 'es' } });
    assert.deepEqual(await runner.subscribe(sub), { allow: true, reason: 'private' });
    assert.deepEqual(await runner.subscribe({ ...sub, channel: 'secret' }), { allow: false, reason: 'private' });
    assert.deepEqual(await runner.publish({ ...sub, data: { text: 'hi' } }), { allow: true, data: { text: 'HI' },
      actions: [{ type: 'kick', channel: 'room', user: 'troll', ban: 30 }] });
    assert.deepEqual(await runner.deliver({ channel: 'room', data: 'hello', recipients: [
      { user: 'a', info: { lang: 'es' } }, { user: 'b', info: {} }] }), { results: [{ data: 'hola' }, {}] });
    await runner.unsubscribe({ user: 'alice', channel: 'room', reason: 'unsubscribe' });
    await runner.disconnect({ user: 'alice', session: 's1', reason: 'disconnected' });
    assert.deepEqual(app.state.seen.map((s) => s.path), ['/hooks/connect', '/hooks/subscribe', '/hooks/subscribe',
      '/hooks/publish', '/hooks/deliver', '/hooks/unsubscribe', '/hooks/disconnect']);
    assert.ok(app.state.seen.every((s) => s.contentType === 'application/json'));
    assert.deepEqual(JSON.parse(app.state.seen[1]!.raw.toString()), sub, 'the event is the body');
    assert.equal(app.state.rejected, 0, 'every request signature verified on the app side');
    assert.ok(app.state.connections <= 2, `keep-alive: ${app.state.connections} connections for 7 requests`);
    for (const e of ['connect', 'subscribe', 'publish', 'deliver', 'unsubscribe', 'disconnect'] as const) {
      assert.equal(runner.stats[e].failures, 0, e);
    }
  } finally {
    await runner.close();
    await app.close();
  }
});

test('the app rejects a replayed old signature and a tampered body', async () => {
  const app = await startApp((_e, _b, res) => json(res, { allow: true }));
  try {
    assert.deepEqual(await new HookRunner(app.hooks()).subscribe(sub), { allow: true });
    const captured = app.state.seen[0]!;
    const replay = (body: Buffer | string) => request(`${app.url}/subscribe`, { method: 'POST', body,
      headers: { 'content-type': 'application/json', 'x-hashpub-signature': captured.signature } });
    assert.equal((await replay(captured.raw)).statusCode, 200, 'fresh: accepted');
    const tampered = captured.raw.toString().replace('alice', 'mallory');
    assert.equal((await replay(tampered)).statusCode, 401, 'tampered body');
    app.state.skewSeconds = 301; // the app's clock is now 5 minutes past the signature
    assert.equal((await replay(captured.raw)).statusCode, 401, 'replayed later');
    assert.equal(verifyWebhook(captured.raw, captured.signature, 'wrong-secret'), false);
  } finally {
    await app.close();
  }
});

test('a hanging webhook times out and the runner denies', async () => {
  const app = await startApp(() => { /* never answers */ });
  const hooks = app.hooks({ timeoutMs: 200 });
  const runner = new HookRunner(hooks, { timeoutMs: 200 });
  try {
    const t0 = Date.now();
    assert.deepEqual(await runner.subscribe(sub), { allow: false, reason: 'hook_failed' });
    const took = Date.now() - t0;
    assert.ok(took >= 150 && took < 1500, `took ${took} ms`);
    await assert.rejects(hooks.subscribe(sub), (err: HashpubError) => err.code === 'timeout');
    assert.equal(runner.stats.subscribe.failures, 1);
  } finally {
    await app.close();
  }
});

test('a 500, garbage JSON, a wrong shape or an oversized reply denies; policy allow allows', async () => {
  const replies: Record<string, (res: ServerResponse) => void> = {
    status500: (res) => json(res, { allow: true }, 500),
    garbage: (res) => res.writeHead(200).end('{"allow": tru'),
    shape: (res) => json(res, { allowed: true }),
    huge: (res) => json(res, { allow: true, reason: 'x'.repeat(5000) }),
    hugeChunked: (res) => { res.writeHead(200); res.write(`{"allow":true,"reason":"${'x'.repeat(800)}`); res.end(`${'x'.repeat(800)}"}`); },
    redirect: (res) => res.writeHead(302, { location: '/elsewhere' }).end(),
  };
  let mode = 'status500';
  const app = await startApp((_e, _b, res) => replies[mode]!(res));
  const hooks = app.hooks({ maxReplyBytes: 1024 });
  const deny = new HookRunner(hooks);
  const allow = new HookRunner(hooks, { failure: 'allow' });
  try {
    for (mode of Object.keys(replies)) {
      assert.deepEqual(await deny.publish({ ...sub, data: 1 }), { allow: false, reason: 'hook_failed' }, mode);
      assert.deepEqual(await allow.publish({ ...sub, data: 1 }), { allow: true }, mode);
      assert.equal(await deny.deliver({ channel: 'room', data: 1, recipients: [{ user: 'a', info: {} }] }), null, mode);
    }
    mode = 'status500';
    await assert.rejects(hooks.subscribe(sub), (err: HashpubError) => err.code === 'unavailable' && /HTTP 500/.test(err.message));
    await deny.disconnect({ user: 'a', session: 's', reason: 'x' }); // a failing notification does not throw
    assert.equal(deny.stats.disconnect.failures, 1);
    assert.equal(hooks.counters.inFlight, 0);
  } finally {
    await app.close();
  }
});

test('1,000 concurrent calls: never more than the limit in flight, excess beyond the queue fails fast', async () => {
  const app = await startApp(async (_e, _b, res) => { await sleep(20); json(res, { allow: true }); });
  const hooks = app.hooks({ concurrency: 8, maxQueue: 40, timeoutMs: 5000 });
  try {
    const t0 = Date.now();
    const settled: Array<{ ok: boolean; code?: string; at: number }> = [];
    await Promise.all(Array.from({ length: 1000 }, () => hooks.subscribe(sub).then(
      () => { settled.push({ ok: true, at: Date.now() - t0 }); },
      (err: HashpubError) => { settled.push({ ok: false, code: err.code, at: Date.now() - t0 }); })));
    const ok = settled.filter((s) => s.ok);
    const failed = settled.filter((s) => !s.ok);
    assert.equal(ok.length, 48, 'limit + queue were served');
    assert.equal(failed.length, 952);
    assert.ok(failed.every((s) => s.code === 'unavailable'));
    assert.ok(Math.max(...failed.map((s) => s.at)) < Math.min(...ok.map((s) => s.at)), 'refused before any reply arrived');
    assert.ok(app.state.maxInFlight <= 8, `app saw ${app.state.maxInFlight} in flight`);
    assert.equal(app.state.maxInFlight, 8, 'and the limit was used');
    assert.deepEqual(hooks.counters, { calls: 1000, failures: 952, rejected: 952, inFlight: 0, queued: 0 });
  } finally {
    await app.close();
  }
});

test('1,000 concurrent calls within limit + default queue (10x): all served over at most `concurrency` keep-alive connections', async () => {
  const app = await startApp(async (_e, _b, res) => { await sleep(20); json(res, { allow: true }); });
  const runner = new HookRunner(app.hooks({ concurrency: 100, timeoutMs: 10_000 }), { timeoutMs: 10_000 });
  try {
    const replies = await Promise.all(Array.from({ length: 1000 }, () => runner.subscribe(sub)));
    assert.ok(replies.every((r) => r.allow === true));
    assert.ok(app.state.maxInFlight <= 100, `app saw ${app.state.maxInFlight} in flight`);
    assert.ok(app.state.connections <= 100, `${app.state.connections} connections`);
  } finally {
    await runner.close();
    await app.close();
  }
});

test('close() fails waiting calls and later calls with unavailable', async () => {
  const app = await startApp(async (_e, _b, res) => { await sleep(50); json(res, { allow: true }); });
  const hooks = app.hooks({ concurrency: 1, maxQueue: 5 });
  try {
    const first = hooks.subscribe(sub).catch((err: HashpubError) => err.code);
    const queued = hooks.subscribe(sub).catch((err: HashpubError) => err.code);
    await sleep(10);
    assert.equal(hooks.counters.queued, 1);
    await hooks.close();
    assert.equal(await queued, 'unavailable');
    assert.equal(await first, 'unavailable', 'the open request is aborted');
    await assert.rejects(hooks.subscribe(sub), (err: HashpubError) => err.code === 'unavailable');
  } finally {
    await app.close();
  }
});
