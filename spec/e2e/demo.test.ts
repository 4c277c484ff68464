// `hashpub demo` as a user runs it: the banner names the URLs to open, the pages are served, the demo-only token
// endpoint says it is demo-only and its token works on the node, and Ctrl-C stops it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { decodeJwt } from 'jose';
import { TestClient } from '../../lib/testing/index.js';
import { cleanupProcesses, launch, tempDir, waitFor } from './cli-process.js';

after(cleanupProcesses);

test('hashpub demo prints where to go, serves the pages and signs demo tokens', async () => {
  const p = launch(['demo', '--port', '0'], tempDir());
  const [, url] = await waitFor(p, /hashpub demo ready at (http:\/\/\S+)/);
  await waitFor(p, /Ctrl-C/);
  const out = p.stdout();
  assert.match(out, new RegExp(`chat\\s+${url}/demo/chat`));
  assert.match(out, new RegExp(`game\\s+${url}/demo/game`));
  assert.match(out, /API key\s+\S+/);
  assert.match(out, /POST \/demo\/token signs a token for any name/);

  const home = await fetch(`${url}/`, { redirect: 'manual' });
  assert.equal(home.headers.get('location'), '/demo/');
  for (const [path, type] of [['/demo/chat', 'text/html'], ['/demo/game', 'text/html'], ['/pages/chat.js', 'text/javascript'], ['/dashboard', 'text/html']]) {
    const res = await fetch(url + path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type')!, new RegExp(type!), path);
    await res.arrayBuffer();
  }

  const res = await fetch(`${url}/demo/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'eve', lang: 'fr', role: 'moderator' }) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('x-hashpub-demo')!, /demo mode only/);
  const body = await res.json() as { token: string; demo: string; urls: string[] };
  assert.match(body.demo, /demo mode only/);
  assert.deepEqual(body.urls, [url]);
  const claims = decodeJwt(body.token);
  assert.equal(claims.sub, 'eve');
  assert.equal(claims.lang, 'fr');
  assert.deepEqual(claims.channels, ['chat:mods'], 'a moderator may enter the private room');
  const { client, connected } = await TestClient.connect(url!, { token: body.token });
  assert.equal(connected.user, 'eve');
  assert.equal((await client.subscribe('chat:mods')).type, 'subscribed');
  client.close();
  const bad = await fetch(`${url}/demo/token`, { method: 'POST', body: JSON.stringify({ name: 'no spaces please' }) });
  assert.equal(bad.status, 400);
  assert.equal((await fetch(`${url}/demo/token`)).status, 405);

  p.child.kill('SIGINT');
  assert.equal(await p.exited, 0);
});
