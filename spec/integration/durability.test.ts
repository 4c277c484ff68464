import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestNode, TestClient } from '../../lib/testing/index.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'node-process.js');
const children = new Set<ChildProcess>();

async function spawnNode(options: Record<string, unknown>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [fixture, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('node process did not start in 15 s')), 15_000);
    createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(timer); resolve(l); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node process exited with ${code}`)); });
  });
  return { child, url: JSON.parse(line).url };
}

const api = async (url: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(url + path, { method, headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};

describe('durability', () => {
  after(() => { for (const c of children) c.kill('SIGKILL'); });

  test('history, config, bans and epoch survive kill -9: every acknowledged publish is there', async () => {
    const data = await mkdtemp(join(tmpdir(), 'hashpub-kill-'));
    const opts = { port: 0, data, apiKey: 'k', jwtSecret: 'jwt-secret-for-kill-test' };
    const first = await spawnNode(opts);
    await api(first.url, 'PUT', '/v1/channels/durable/config', { history: { size: 500 }, clientPublish: true });
    await api(first.url, 'POST', '/v1/channels/durable/kick', { user: 'villain', ban: 3600 });
    // Concurrent publishes; only acknowledged ones count.
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => api(first.url, 'POST', '/v1/channels/durable/messages', { data: i })));
    assert.ok(acks.every((a) => a.status === 200));
    const epoch = acks[0]!.body.epoch;
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await spawnNode(opts);
    const h = await api(second.url, 'GET', '/v1/channels/durable/history?limit=1000');
    assert.equal(h.body.epoch, epoch, 'same epoch: nothing was lost');
    assert.equal(h.body.offset, 200);
    assert.deepEqual(h.body.messages.map((m: { offset: number }) => m.offset), Array.from({ length: 200 }, (_, i) => i + 1));
    const cfg = await api(second.url, 'GET', '/v1/channels/durable/config');
    assert.equal(cfg.body.history.size, 500);
    assert.equal(cfg.body.clientPublish, true);
    const next = await api(second.url, 'POST', '/v1/channels/durable/messages', { data: 'after restart' });
    assert.equal(next.body.offset, 201);
    const { signToken } = await import('../../lib/index.js');
    const { client } = await TestClient.connect(second.url, { token: await signToken('jwt-secret-for-kill-test', 'villain') });
    assert.equal((await client.subscribe('durable')).code, 'banned', 'the ban survived the kill');
    client.close();
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    await rm(data, { recursive: true, force: true });
  });

  test('a clean restart resumes a client with recovered true across it', async () => {
    const t = await startTestNode();
    await t.api('POST', '/v1/channels/restart/messages', { data: 1 });
    const { client } = await TestClient.connect(t.url, { token: await t.token('rita') });
    const sub = await client.subscribe('restart');
    client.close();
    await t.node.stop();
    const t2 = await startTestNode({ data: t.dataDir });
    await t2.api('POST', '/v1/channels/restart/messages', { data: 2 });
    const { client: c2 } = await TestClient.connect(t2.url, { token: await t2.token('rita') });
    const again = await c2.subscribe('restart', { epoch: sub.epoch as string, offset: sub.offset as number });
    assert.equal(again.recovered, true);
    assert.deepEqual((await c2.waitMessages('restart', 1)).map((m) => m.data), [2]);
    c2.close();
    await t2.stop();
  });
});

describe('slow clients', () => {
  test('a client that never reads is disconnected past the buffer bound; the others get every message', async () => {
    const t = await startTestNode({ maxBufferedBytes: 256 * 1024 });
    const { client: stuck } = await TestClient.connect(t.url, { token: await t.token('stuck') });
    await stuck.subscribe('firehose');
    const readers = await Promise.all([1, 2, 3].map(async (i) => (await TestClient.connect(t.url, { token: await t.token(`r${i}`) })).client));
    for (const r of readers) await r.subscribe('firehose');
    stuck.ws.pause(); // stops reading from the socket: the kernel buffers fill, then the server's
    const payload = 'p'.repeat(50_000);
    const n = 300;
    for (let i = 0; i < n; i++) {
      const r = await t.api('POST', '/v1/channels/firehose/messages', { data: { i, payload } });
      assert.equal(r.status, 200);
    }
    for (const r of readers) {
      const msgs = await r.waitMessages('firehose', n, 20_000);
      assert.deepEqual(msgs.map((m) => (m.data as { i: number }).i), Array.from({ length: n }, (_, i) => i));
    }
    assert.equal(await t.metric('hashpub_slow_disconnects_total'), 1);
    stuck.ws.resume();
    const closed = await stuck.waitClosed(10_000);
    assert.equal(closed.code, 1006, 'dropped without a close frame (its buffer was full)');
    for (const r of readers) r.close();
    await t.stop();
  });
});
