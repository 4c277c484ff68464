import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import chat from '../../lib/demo/chat-hooks.js';
import { translate } from '../../lib/demo/dictionary.js';
import { HookRunner } from '../../lib/hooks/hook-runner.js';
import { loadHookModule } from '../../lib/hooks/module-hooks.js';

const hooks = new HookRunner(chat);
const moderator = { user: 'mod1', claims: { role: 'moderator' }, channel: 'lobby' };
const member = { user: 'bob', claims: {}, channel: 'lobby' };

test('the demo loads as a --hooks module and implements connect, publish and deliver only', async () => {
  const loaded = new HookRunner(await loadHookModule(fileURLToPath(new URL('../../lib/demo/chat-hooks.js', import.meta.url))));
  assert.deepEqual(['connect', 'subscribe', 'publish', 'deliver'].map((e) => loaded.has(e as never)), [true, false, true, true]);
});

test('connect keeps lang (default en) and role from the token', async () => {
  assert.deepEqual(await hooks.connect({ user: 'a', claims: { lang: 'es', role: 'moderator' }, ip: '', origin: null }),
    { allow: true, info: { lang: 'es', role: 'moderator' } });
  assert.deepEqual(await hooks.connect({ user: 'a', claims: {}, ip: '', origin: null }), { allow: true, info: { lang: 'en', role: 'user' } });
  assert.deepEqual((await hooks.connect({ user: 'a', claims: { lang: { evil: 1 } }, ip: '', origin: null })).info, { lang: 'en', role: 'user' });
});

test('a moderator\'s /kick is not published and kicks the user, with a ban', async () => {
  assert.deepEqual(await hooks.publish({ ...moderator, data: { text: '/kick bob' } }), {
    allow: false, reason: 'kicked bob',
    actions: [{ type: 'kick', channel: 'lobby', user: 'bob', ban: 60, reason: 'kicked by mod1' }],
  });
  const timed = await hooks.publish({ ...moderator, data: { text: '  /kick carol 300 ' } });
  assert.deepEqual(timed.actions, [{ type: 'kick', channel: 'lobby', user: 'carol', ban: 300, reason: 'kicked by mod1' }]);
  assert.deepEqual(await hooks.publish({ ...moderator, data: { text: '/ban dave 600' } }), {
    allow: false, reason: 'banned dave',
    actions: [{ type: 'kick', channel: 'lobby', user: 'dave', ban: 600, reason: 'kicked by mod1' }],
  });
  assert.deepEqual(await hooks.publish({ ...moderator, data: { text: '/ban dave' } }), { allow: false, reason: 'usage: /ban <user> <seconds>' });
  assert.deepEqual(await hooks.publish({ ...member, data: { text: '/ban mod1 60' } }), { allow: false, reason: 'not_moderator' });
  const usage = await hooks.publish({ ...moderator, data: { text: '/kick' } });
  assert.equal(usage.allow, false);
  assert.equal(usage.actions, undefined);
});

test('anyone else sending /kick is refused with not_moderator', async () => {
  assert.deepEqual(await hooks.publish({ ...member, data: { text: '/kick mod1' } }), { allow: false, reason: 'not_moderator' });
  assert.deepEqual(await hooks.publish({ ...member, user: null, data: { text: '/kick mod1 10' } }), { allow: false, reason: 'not_moderator' });
});

test('ordinary messages pass, trimmed; empty ones are refused; other data is untouched', async () => {
  assert.deepEqual(await hooks.publish({ ...member, data: { text: 'hello' } }), { allow: true });
  assert.deepEqual(await hooks.publish({ ...member, data: { text: '  hi there ', color: 'red' } }),
    { allow: true, data: { text: 'hi there', color: 'red' } });
  assert.deepEqual(await hooks.publish({ ...member, data: { text: '   ' } }), { allow: false, reason: 'empty_message' });
  assert.deepEqual(await hooks.publish({ ...member, data: [1, 2] }), { allow: true });
  assert.deepEqual(await hooks.publish({ ...moderator, data: { text: '/kickstart is great' } }), { allow: true });
});

test('deliver translates for Spanish and French readers and leaves English readers unchanged', async () => {
  const reply = await hooks.deliver({ channel: 'lobby', data: { text: 'Hello world, good morning!' }, recipients: [
    { user: 'en', info: { lang: 'en' } }, { user: 'es', info: { lang: 'es' } },
    { user: 'fr', info: { lang: 'fr' } }, { user: 'old', info: {} }, { user: 'de', info: { lang: 'de' } },
  ] });
  assert.deepEqual(reply, { results: [
    {},
    { data: { text: 'Hola mundo, bueno mañana!', lang: 'es' } },
    { data: { text: 'Bonjour monde, bon matin!', lang: 'fr' } },
    {}, {},
  ] });
  const other = await hooks.deliver({ channel: 'lobby', data: 42, recipients: [{ user: 'es', info: { lang: 'es' } }] });
  assert.deepEqual(other, { results: [{}] });
});

test('translation keeps simple case, punctuation and unknown words', () => {
  assert.equal(translate('HELLO Friend, xyzzy!', 'es'), 'HOLA Amigo, xyzzy!');
  assert.equal(translate('I love the cat', 'fr'), 'Je amour le chat');
  assert.equal(translate('constructor toString', 'es'), 'constructor toString', 'no prototype lookups');
});
