import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OptionsError } from '../../lib/errors.js';
import { restClient, type ApiAnswer } from '../../lib/testing/rest.js';
import { startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

const KEYS = {
  publish: 'publish-key-0123456789', read: 'read-key-0123456789ab', admin: 'admin-key-0123456789a',
  oldPublish: 'old-publish-key-01234', both: 'read-and-publish-key-0',
};
const FILE = [
  { key: KEYS.publish, scopes: ['publish'], name: 'backend' },
  { key: KEYS.read, scopes: ['read'] },
  { key: KEYS.admin, scopes: ['admin'] },
  { key: KEYS.oldPublish, scopes: ['publish'], name: 'backend (old, being rotated out)' },
  { key: KEYS.both, scopes: ['read', 'publish'] },
];

/** Every route with a valid body, and the scope spec/protocol.md says it needs. */
const ROUTES: Array<[method: string, path: string, body: unknown, scope: 'publish' | 'read' | 'admin']> = [
  ['POST', '/v1/channels/keys/messages', { data: 1 }, 'publish'],
  ['POST', '/v1/users/u1/messages', { data: 1 }, 'publish'],
  ['GET', '/v1/channels/keys/history', undefined, 'read'],
  ['GET', '/v1/channels/keys/presence', undefined, 'read'],
  ['GET', '/v1/channels/keys/config', undefined, 'read'],
  ['GET', '/v1/channels/keys/owner', undefined, 'read'],
  ['PUT', '/v1/channels/keys/config', { history: { size: 50 } }, 'admin'],
  ['POST', '/v1/channels/keys/kick', { user: 'nobody' }, 'admin'],
  ['POST', '/v1/users/nobody/disconnect', {}, 'admin'],
  ['GET', '/v1/cluster', undefined, 'admin'],
];

describe('scoped API keys (--api-keys)', () => {
  let t: TestNode;
  const as = (key: string) => restClient(t.url, key);
  before(async () => { t = await startTestNode({ apiKeys: JSON.stringify(FILE) }); });
  after(() => t.stop());

  for (const [name, key, scopes] of [['publish', KEYS.publish, ['publish']], ['read', KEYS.read, ['read']], ['admin', KEYS.admin, ['publish', 'read', 'admin']],
    ['read+publish', KEYS.both, ['publish', 'read']]] as const) {
    test(`a ${name} key reaches exactly the routes of its scopes; the others answer 403 forbidden`, async () => {
      for (const [method, path, body, scope] of ROUTES) {
        const r: ApiAnswer = await as(key)(method, path, body);
        if ((scopes as readonly string[]).includes(scope)) assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r.body)}`);
        else {
          assert.equal(r.status, 403, `${method} ${path} needs ${scope}`);
          assert.equal(r.body.error.code, 'forbidden');
          assert.match(r.body.error.message, new RegExp(`"${scope}" scope`));
        }
      }
    });
  }

  test('rotation: an old and a new key are both accepted at once; an unknown key is 401', async () => {
    assert.equal((await as(KEYS.oldPublish)('POST', '/v1/channels/rot/messages', { data: 'old' })).status, 200);
    assert.equal((await as(KEYS.publish)('POST', '/v1/channels/rot/messages', { data: 'new' })).status, 200);
    const wrong = await as('no-such-key-0123456789')('POST', '/v1/channels/rot/messages', { data: 'x' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'unauthorized');
  });

  test('--api-key keeps working beside --api-keys, with every scope', async () => {
    for (const [method, path, body] of ROUTES) assert.equal((await t.api(method, path, body)).status, 200, `${method} ${path}`);
  });

  test('a publish-only key cannot kick: the kicked user keeps its subscription', async () => {
    const { client } = await TestClient.connect(t.url, { token: await t.token('victim') });
    await client.subscribe('keys-kick');
    const r = await as(KEYS.publish)('POST', '/v1/channels/keys-kick/kick', { user: 'victim', ban: 60 });
    assert.equal(r.status, 403);
    await as(KEYS.publish)('POST', '/v1/channels/keys-kick/messages', { data: 'still here' });
    await client.waitMessages('keys-kick', 1);
    assert.ok(!client.frames.some((f) => f.type === 'kicked'));
    client.close();
  });
});

describe('--api-keys file', () => {
  test('without --api-key, the generated key is not accepted; a reload swaps the keys at once and a bad file leaves them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hashpub-keys-'));
    const file = join(dir, 'keys.json');
    await writeFile(file, JSON.stringify([{ key: KEYS.admin, scopes: ['admin'] }]));
    const n = await startTestNode({ apiKey: null, apiKeys: file, data: dir });
    try {
      assert.equal((await restClient(n.url, n.node.apiKey)('GET', '/v1/cluster')).status, 401, 'the generated key is off');
      assert.equal((await restClient(n.url, KEYS.admin)('GET', '/v1/cluster')).status, 200);
      await writeFile(file, JSON.stringify([{ key: KEYS.read, scopes: ['read'] }]));
      assert.equal(await n.node.reloadApiKeys(), 1);
      assert.equal((await restClient(n.url, KEYS.admin)('GET', '/v1/cluster')).status, 401, 'the removed key is refused');
      assert.equal((await restClient(n.url, KEYS.read)('GET', '/v1/channels/x/history')).status, 200);
      await writeFile(file, '[{"key": "short", "scopes": ["read"]}]');
      await assert.rejects(n.node.reloadApiKeys(), /entry 0: "key" must be a string of at least 16/);
      assert.equal((await restClient(n.url, KEYS.read)('GET', '/v1/channels/x/history')).status, 200, 'the keys stayed');
    } finally {
      await n.stop();
    }
  });

  test('a bad file stops the start with an error naming the entry and the field', async () => {
    for (const [text, why] of [
      ['{"key": "x"}', /expected \[\{"key"/],
      ['[{"key": "a-long-enough-key-1234", "scopes": ["write"]}]', /entry 0: "scopes" must be a non-empty list of publish, read, admin/],
      ['[{"key": "a-long-enough-key-1234", "scopes": ["read"]}, {"key": "a-long-enough-key-1234", "scopes": ["admin"]}]', /entry 1: the same key appears twice/],
      ['[{"key": "a-long-enough-key-1234", "scopes": ["read"], "scope": "admin"}]', /unknown field "scope"/],
      ['[not json', /is not valid JSON/],
    ] as const) {
      const err = await startTestNode({ apiKeys: text, data: ':memory:' }).then(async (t) => { await t.stop(); return null; }, (e: unknown) => e);
      assert.ok(err instanceof OptionsError, `${text}: ${String(err)}`);
      assert.equal(err.field, 'apiKeys');
      assert.match(err.message, why);
    }
  });
});
