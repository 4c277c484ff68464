import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const INDEX = fileURLToPath(new URL('../../lib/index.js', import.meta.url));

/**
 * Packages only some nodes need are imported on first use (issue 10: an idle node's memory): a fresh process that
 * starts a node without --webhook has not loaded undici (the webhook HTTP pool). jose is loaded at start: the
 * public-key verification (--jwt-public-key/--jwks) builds its keys there.
 */
test('a node without a webhook never loads undici', async () => {
  const script = `
    import { createRequire } from 'node:module';
    const { createNode } = await import(${JSON.stringify(INDEX)});
    const loaded = (name) => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/' + name + '/'));
    const node = createNode({ data: ':memory:', port: 0, host: '127.0.0.1', allowAnonymous: true, logLevel: 'silent' });
    await node.start();
    const before = { undici: loaded('undici') };
    const res = await fetch(node.url + '/v1/channels/x/messages', { method: 'POST', headers: { authorization: 'Bearer not.a.jwt', 'content-type': 'application/json' }, body: '{"data":1}' });
    await node.stop();
    console.log(JSON.stringify({ before, status: res.status }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as { before: { undici: boolean }; status: number };
  assert.deepEqual(out.before, { undici: false });
  assert.equal(out.status, 401);
});
