// The game demo in Chromium on a 2-node demo: two players on different nodes see each other's ship, and when one
// holds thrust the other sees it move (server-authoritative: the ship moves because the server's world did).
// Saves docs/images/game.png.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Demo } from '../../lib/demo/demo-app.js';
import { until } from '../../lib/testing/index.js';
import { launchChromium, type Browser } from './chromium.js';
import { demo, login } from './demo-support.js';

const SCREENSHOT = new URL('../../../docs/images/game.png', import.meta.url);

interface Ship { x: number; y: number; vx: number; vy: number }
interface Seen { updates: number; me: Ship | null; others: Record<string, Ship>; players: number }
const seen = (page: Page): Promise<Seen> => page.evaluate(() => {
  const g = (globalThis as any).game;
  const v = g.view;
  return { updates: g.updates, me: v?.me ?? null, others: Object.fromEntries((v?.ships ?? []).map((s: any) => [s.id, { x: s.x, y: s.y, vx: s.vx, vy: s.vy }])), players: v?.players ?? 0 };
});

describe('the game demo in Chromium', () => {
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

  test('two players see each other, and one sees the other move', async () => {
    const [first, second] = d.urls;
    const ace = await browser.open(`${first}/demo/game`);
    await login(ace, { name: 'ace' }, '#game-box');
    const bob = await browser.open(`${second}/demo/game`);
    await login(bob, { name: 'bob' }, '#game-box');
    await until('each sees the other', 15_000, async () => {
      const [a, b] = await Promise.all([seen(ace), seen(bob)]);
      return a.others.bob && b.others.ace && a.players === 2;
    }, 50);
    const before = (await seen(bob)).others.ace!;
    // Held keys go to the server as client publishes on game:input; bob sees ace's ship move.
    await ace.bringToFront();
    await ace.keyboard.down('ArrowUp');
    await until('bob sees ace move', 15_000, async () => {
      const now = (await seen(bob)).others.ace;
      // Moving under thrust (a crash would put it elsewhere standing still).
      return now && Math.hypot(now.vx, now.vy) > 0 && Math.hypot(now.x - before.x, now.y - before.y) > 30;
    }, 50);
    await ace.keyboard.up('ArrowUp');
    await ace.keyboard.down(' '); // fire, for the picture
    // Updates keep coming (20 ticks a second): more than 20 by now, or soon (bob may have seen the move within a second).
    await until('ace gets more than 20 updates', 15_000, async () => (await seen(ace)).updates > 20, 50);
    const a = await seen(ace);
    assert.ok(a.me, 'ace has a ship');
    await ace.waitForTimeout(300); // let a few frames draw for the picture
    await ace.screenshot({ path: SCREENSHOT.pathname, fullPage: true });
    await ace.keyboard.up(' ');
    assert.deepEqual(browser.log.filter((l) => l.startsWith('pageerror')), []);
  });
});
