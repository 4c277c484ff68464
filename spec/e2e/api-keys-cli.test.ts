// `hashpub start --api-keys FILE` as an operator runs it: a bad file is a clear startup error, SIGHUP re-reads the file.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { until } from '../../lib/testing/index.js';
import { cleanupProcesses, launch, tempDir, waitFor } from './cli-process.js';

after(cleanupProcesses);

const status = async (url: string, key: string) =>
  (await fetch(`${url}/v1/cluster`, { headers: { authorization: `Bearer ${key}` } })).status;

test('a bad --api-keys file (or HASHPUB_API_KEYS) stops the start with exit code 2 and names the entry', async () => {
  const dir = tempDir();
  const file = join(dir, 'keys.json');
  writeFileSync(file, '[{"key": "an-admin-key-0123456789", "scopes": ["root"]}]');
  for (const [args, env] of [[['--api-keys', file], {}], [[], { HASHPUB_API_KEYS: file }]] as const) {
    const p = launch(['start', '--port', '0', '--data', ':memory:', ...args], dir, env);
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /bad value for --api-keys: .*keys\.json: entry 0: "scopes" must be a non-empty list of publish, read, admin/);
  }
});

test('SIGHUP re-reads --api-keys: a new key works at once, a removed one is refused, the node keeps running', async () => {
  const dir = tempDir();
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify([{ key: 'first-admin-key-0123456', scopes: ['admin'] }]));
  const p = launch(['start', '--port', '0', '--data', ':memory:', '--log-level', 'warn', '--api-keys', file], dir);
  const [, url] = await waitFor(p, /ready at (http:\/\/\S+)/);
  assert.match(p.stdout(), /API keys +from --api-keys/);
  assert.equal(await status(url!, 'first-admin-key-0123456'), 200);
  writeFileSync(file, JSON.stringify([{ key: 'second-admin-key-012345', scopes: ['admin'] }]));
  p.child.kill('SIGHUP');
  await until('the new key is accepted', 10_000, async () => await status(url!, 'second-admin-key-012345') === 200);
  assert.equal(await status(url!, 'first-admin-key-0123456'), 401);
  assert.match(p.stderr(), /SIGHUP: 1 API keys in use/);
  p.child.kill('SIGTERM');
  assert.equal(await p.exited, 0);
});
