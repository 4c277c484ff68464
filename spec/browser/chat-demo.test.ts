// The chat demo in Chromium on a 2-node demo: two readers on different nodes see each other in presence and
// each other's messages, the Spanish reader in Spanish (the deliver hook), history on join, a private room,
// and a moderator's /kick that removes a user who then cannot rejoin (banned). Saves docs/images/chat.png.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Demo } from '../../lib/demo/demo-app.js';
import { launchChromium, type Browser } from './chromium.js';
import { until as waitFor } from '../../lib/testing/index.js';
import { demo, login } from './demo-support.js';

const SCREENSHOT = new URL('../../../docs/images/chat.png', import.meta.url);
const LOBBY = 'chat:lobby';

/** What a chat page shows of a room: its log lines, its member list, and why it was left (if it was). */
const room = (page: Page, channel: string) => page.evaluate((c) => {
  const r = (globalThis as any).chat.rooms.get(c);
  return { lines: r.log.map((l: any) => l.parts.map((p: any) => p[0]).join(' ')), people: [...r.people].sort() as string[], gone: r.gone as string | null };
}, channel);

type RoomView = Awaited<ReturnType<typeof room>>;

/** Polls the room's state on the page until `pred` holds (the check runs here, not in the page). */
function until(page: Page, channel: string, pred: (s: RoomView) => boolean, what = pred.toString()) {
  return waitFor(what, 15_000, async () => pred(await room(page, channel)), 50);
}

describe('the chat demo in Chromium', () => {
  let d: Demo;
  let browser: Browser;
  before(async () => {
    d = await demo(2);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await d?.stop();
  });

  test('presence both ways, translation per reader, history on join, private room, kick and no rejoin', async () => {
    const [first, second] = d.urls;
    const ana = await browser.open(`${first}/demo/chat`);
    await login(ana, { name: 'ana', lang: 'en', role: 'user' }, '#app');
    await ana.fill('#text', 'good morning friends');
    await ana.click('#say button');

    // bea joins later, on the other node, reading Spanish: the message from before is there, translated.
    const bea = await browser.open(`${second}/demo/chat`);
    await login(bea, { name: 'bea', lang: 'es', role: 'user' }, '#app');
    await until(bea, LOBBY, (s) => s.lines.includes('ana bueno mañana amigos translated to es'));
    await until(ana, LOBBY, (s) => s.people.join() === 'ana,bea');
    await until(bea, LOBBY, (s) => s.people.join() === 'ana,bea');

    await ana.fill('#text', 'hello world, thank you');
    await ana.click('#say button');
    await until(bea, LOBBY, (s) => s.lines.includes('ana hola mundo, gracias tú translated to es'));
    await until(ana, LOBBY, (s) => s.lines.includes('ana hello world, thank you'));
    await bea.fill('#text', 'hi ana');
    await bea.click('#say button');
    await until(ana, LOBBY, (s) => s.lines.includes('bea hi ana'));
    await until(bea, 'chat:mods', (s) => s.gone === 'This room is private (moderators only).');
    await bea.screenshot({ path: SCREENSHOT.pathname });

    // A moderator on the first node kicks bea: she is removed, the others' presence drops her, and a rejoin is refused.
    const mod = await browser.open(`${first}/demo/chat`);
    await login(mod, { name: 'mo', lang: 'fr', role: 'moderator' }, '#app');
    await until(mod, LOBBY, (s) => s.people.join() === 'ana,bea,mo');
    await until(ana, LOBBY, (s) => s.people.join() === 'ana,bea,mo');
    assert.equal((await room(mod, 'chat:mods')).gone, null, 'a moderator gets the private room');
    await ana.fill('#text', '/kick bea');
    await ana.click('#say button');
    await until(ana, LOBBY, (s) => s.lines.includes('not sent: not_moderator'));
    await mod.fill('#text', '/kick bea');
    await mod.click('#say button');
    await until(mod, LOBBY, (s) => s.lines.includes('✓ kicked bea'));
    await until(bea, LOBBY, (s) => s.gone === 'You were removed from this room by a moderator.');
    await until(ana, LOBBY, (s) => s.people.join() === 'ana,mo');
    await until(mod, LOBBY, (s) => s.people.join() === 'ana,mo');
    await bea.click(`#rooms button[data-channel="${LOBBY}"]`);
    await until(bea, LOBBY, (s) => s.gone === 'You are banned from this room for now.');
    assert.deepEqual((await room(ana, LOBBY)).people, ['ana', 'mo'], 'the refused rejoin never showed in presence');
    assert.ok((await room(bea, 'chat:random')).gone === null, 'bea is only out of the lobby');
    assert.deepEqual(browser.log.filter((l) => l.startsWith('pageerror')), []);
  });
});
