// The `hashpub` CLI as a user runs it: spawned with `node dist/bin/hashpub.js ...`, each run in a fresh temp cwd.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { cleanupProcesses, launch, tempDir, waitFor, type Proc } from './cli-process.js';

after(cleanupProcesses);

/** Runs a command to completion (killed at the deadline). */
async function run(args: string[], cwd: string, env: Record<string, string> = {}, ms = 20_000) {
  const p = launch(args, cwd, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), ms);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Sends SIGTERM and expects a clean exit within the deadline. */
async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  p.child.kill(signal);
  const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
  assert.equal(code, 0, `exit after ${signal}: ${code}\nstderr: ${p.stderr()}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts a node in `cwd` and resolves its process and URL once it printed its banner. */
async function startNode(cwd: string, args: string[] = ['--port', '0'], env: Record<string, string> = {}) {
  const p = launch(['start', '--log-level', 'warn', ...args], cwd, env);
  const [, url] = await waitFor(p, /ready at (http:\/\/\S+)/);
  await waitFor(p, /hashpub token --user alice/); // the banner is complete
  return { p, url: url! };
}

describe('hashpub CLI without a node', () => {
  const flagsOf: Record<string, string[]> = {
    start: ['--host', '--port', '--data', '--bootstrap', '--api-key', '--jwt-secret', '--allow-anonymous', '--hooks',
      '--webhook', '--allowed-origins', '--log-level', '--config', '--max-body-bytes', '--hook-failure', '--fsync',
      'HASHPUB_PORT', 'HASHPUB_API_KEY', 'HASHPUB_ALLOW_ANONYMOUS', 'default 8080'],
    bootstrap: ['--host', '--port', 'default 49737'],
    cluster: ['--nodes', '--port', '--api-key', '--jwt-secret', '--data', 'default 3'],
    demo: ['--nodes', '--port', '--host', '/demo/chat', '/demo/game', '/kick NAME', 'POST /demo/token', 'Demo mode only'],
    publish: ['--url', '--api-key', '--id', 'HASHPUB_URL', 'HASHPUB_API_KEY'],
    token: ['--user', '--channels', '--publish', '--ttl', '--jwt-secret', '--claim', 'HASHPUB_JWT_SECRET', 'default 3600'],
    status: ['--url', '--api-key'],
    kick: ['--ban', '--reason', '--url', '--api-key'],
  };

  test('hashpub --help lists every command and exits 0', async () => {
    const r = await run(['--help'], tempDir());
    assert.equal(r.code, 0, r.stderr);
    for (const cmd of Object.keys(flagsOf)) assert.match(r.stdout, new RegExp(`hashpub ${cmd}`));
    assert.match(r.stdout, /HASHPUB_PORT/);
  });

  for (const [cmd, flags] of Object.entries(flagsOf)) {
    test(`hashpub ${cmd} --help lists its flags, defaults and env vars`, async () => {
      for (const h of ['--help', '-h']) {
        const r = await run([cmd, h], tempDir());
        assert.equal(r.code, 0, r.stderr);
        for (const f of flags) assert.ok(r.stdout.includes(f), `${cmd} ${h} should mention ${f}:\n${r.stdout}`);
      }
    });
  }

  test('an unknown flag or command exits 2 naming it and pointing at --help', async () => {
    const cwd = tempDir();
    for (const [args, named, help] of [[['start', '--bogus'], '--bogus', 'hashpub start --help'],
      [['publish', 'news', '{}', '--nope'], '--nope', 'hashpub publish --help'], [['frobnicate'], 'frobnicate', 'hashpub --help']]) {
      const r = await run(args as string[], cwd);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(named as string) && r.stderr.includes(help as string), r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  });

  test('bad or missing values exit 2 with a message naming the flag', async () => {
    const cwd = tempDir();
    const cases: [string[], RegExp][] = [
      [['start', '--port', 'notanumber'], /--port.*notanumber/],
      [['start', '--port'], /--port needs a value/],
      [['start', '--log-level', 'loud'], /--log-level/],
      [['publish', 'news'], /missing JSON/],
      [['publish', 'news', '{not json'], /not valid JSON/],
      [['kick', 'news', 'bob', '--ban', 'soon'], /--ban/],
      [['token'], /--user/],
      [['token', '--user', 'alice'], /no JWT secret/],
    ];
    for (const [args, re] of cases) {
      const r = await run(args, cwd);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });

  test('start options: flag beats env var beats --config file', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'c.json'), JSON.stringify({ port: 'fromconfig' }));
    let r = await run(['start', '--config', 'c.json'], cwd);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--port \(from config file c\.json\).*fromconfig/);
    r = await run(['start', '--config', 'c.json'], cwd, { HASHPUB_PORT: 'fromenv' });
    assert.match(r.stderr, /--port \(from HASHPUB_PORT\).*fromenv/);
    r = await run(['start', '--config', 'c.json', '--port', 'fromflag'], cwd, { HASHPUB_PORT: 'fromenv' });
    assert.match(r.stderr, /--port: .*fromflag/);
    writeFileSync(join(cwd, 'd.json'), JSON.stringify({ prot: 1 }));
    r = await run(['start', '--config', 'd.json'], cwd);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown key "prot"/);
  });

  test('token prints one JWT with sub, exp, channels, publish and extra claims', async () => {
    const cwd = tempDir();
    const r = await run(['token', '--user', 'alice', '--channels', 'news,chat', '--publish', 'chat', '--ttl', '600',
      '--jwt-secret', 's3cret', '--claim', 'role=admin', '--claim', 'level=3'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const claims = decodeJwt(r.stdout.trim());
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.channels, ['news', 'chat']);
    assert.deepEqual(claims.publish, ['chat']);
    assert.equal(claims.role, 'admin');
    assert.equal(claims.level, 3);
    assert.ok(Math.abs(claims.exp! - (Date.now() / 1000 + 600)) < 30, `exp ${claims.exp}`);
  });

  test('token and client commands read the secrets of ./.hashpub and env vars', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, '.hashpub'));
    writeFileSync(join(cwd, '.hashpub', 'secrets.json'), JSON.stringify({ apiKey: 'k', jwtSecret: 'from-file' }));
    let r = await run(['token', '--user', 'bob'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decodeJwt(r.stdout.trim()).sub, 'bob');
    r = await run(['token', '--user', 'bob'], tempDir(), { HASHPUB_JWT_SECRET: 'from-env' });
    assert.equal(r.code, 0, r.stderr);
  });

  test('client commands against no node exit 1 with a hint', async () => {
    const port = await freePort();
    for (const args of [['publish', 'news', '{"a":1}', '--api-key', 'k'], ['status'], ['kick', 'news', 'bob', '--api-key', 'k']]) {
      const r = await run([...args, '--url', `http://127.0.0.1:${port}`], tempDir());
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /no hashpub node at http:\/\/127\.0\.0\.1:\d+: start one with `hashpub start` or pass --url/);
    }
  });

  test('bootstrap --port 0 prints its address and exits 0 on SIGTERM', async () => {
    const p = launch(['bootstrap', '--port', '0'], tempDir());
    const [, addr] = await waitFor(p, /bootstrap listening on (127\.0\.0\.1:\d+)/, 15_000);
    assert.ok(p.stdout().includes(`--bootstrap ${addr}`));
    await stop(p);
  });
});

describe('hashpub CLI with a node', () => {
  test('start in an empty dir generates and prints keys; publish, status, kick use them; restart reuses them', { timeout: 90_000 }, async () => {
    const cwd = tempDir();
    const { p, url } = await startNode(cwd);
    const out = p.stdout();
    const stored = JSON.parse(readFileSync(join(cwd, '.hashpub', 'secrets.json'), 'utf8')) as { apiKey: string; jwtSecret: string };
    assert.ok(out.includes(`${stored.apiKey}  (generated, stored in .hashpub/secrets.json)`), out);
    assert.ok(out.includes(`curl -X POST -H "Authorization: Bearer ${stored.apiKey}" -H 'content-type: application/json' -d '{"data":{"hello":"world"}}' ${url}/v1/channels/news/messages`), out);
    assert.ok(out.includes(`hashpub token --user alice --jwt-secret ${stored.jwtSecret}`), out);

    let r = await run(['publish', 'news', '{"hello":"world"}', '--url', url, '--id', 'm1'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual({ ...JSON.parse(r.stdout), epoch: 'e' }, { channel: 'news', epoch: 'e', offset: 1 });
    r = await run(['status'], cwd, { HASHPUB_URL: url });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /healthy/);
    assert.ok(r.stdout.includes(url), r.stdout);
    r = await run(['kick', 'news', 'bob', '--ban', '60', '--reason', 'spam', '--url', url], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).kicked, 0);
    r = await run(['publish', 'news', '1', '--url', url, '--api-key', 'wrong'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error unauthorized: /);
    await stop(p);

    const again = await startNode(cwd);
    assert.ok(!again.p.stdout().includes('generated'), again.p.stdout());
    r = await run(['publish', 'news', '2', '--url', again.url, '--api-key', stored.apiKey], tempDir());
    assert.equal(r.code, 0, r.stderr);
    await stop(again.p, 'SIGINT');
  });

  test('port: --port beats HASHPUB_PORT beats the --config file', { timeout: 90_000 }, async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const cwd = tempDir();
    writeFileSync(join(cwd, 'c.json'), JSON.stringify({ port: a, data: ':memory:' }));
    for (const [args, env, port] of [[['--config', 'c.json'], {}, a], [['--config', 'c.json'], { HASHPUB_PORT: String(b) }, b],
      [['--config', 'c.json', '--port', String(c)], { HASHPUB_PORT: String(b) }, c]] as const) {
      const { p, url } = await startNode(cwd, [...args], env);
      assert.equal(url, `http://127.0.0.1:${port}`);
      await stop(p);
    }
  });

  test('a port in use exits 1 saying to pick another --port', { timeout: 60_000 }, async () => {
    const { p, url } = await startNode(tempDir(), ['--port', '0', '--data', ':memory:']);
    const r = await run(['start', '--port', new URL(url).port, '--data', ':memory:'], tempDir());
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /already in use.*--port/);
    await stop(p);
  });

  test('cluster --nodes 1 starts, reports, and stops its child on SIGINT', { timeout: 90_000 }, async () => {
    const p = launch(['cluster', '--nodes', '1', '--port', '0', '--data', 'dev'], tempDir());
    await waitFor(p, /cluster formed: 1 member\n[\s\S]*Ctrl-C/, 60_000);
    const pid = Number(/ready at \S+ \(pid (\d+)\)/.exec(p.stdout())![1]);
    await stop(p, 'SIGINT');
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the child node is gone');
  });

  test('cluster --nodes 3 forms one cluster that client commands reach; SIGINT stops every child', { timeout: 90_000 }, async () => {
    const cwd = tempDir();
    const p = launch(['cluster', '--nodes', '3', '--port', '0', '--data', 'dev', '--timeout', '30'], cwd);
    await waitFor(p, /cluster formed: 3 members\n[\s\S]*Ctrl-C/, 45_000);
    const nodes = [...p.stdout().matchAll(/node (\d)\/3 ready at (\S+) \(pid (\d+)\)/g)].map((m) => ({ url: m[2]!, pid: Number(m[3]) }));
    assert.equal(nodes.length, 3, p.stdout());
    let r = await run(['status', '--url', nodes[2]!.url, '--data', 'dev'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cluster: 3 members/);
    for (const n of nodes) assert.ok(r.stdout.includes(n.url), r.stdout);
    r = await run(['publish', 'news', '{"a":1}', '--url', nodes[0]!.url, '--data', 'dev'], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).channel, 'news');
    await stop(p, 'SIGINT');
    for (const n of nodes) assert.throws(() => process.kill(n.pid, 0), /ESRCH/, `node pid ${n.pid} is gone`);
  });
});
