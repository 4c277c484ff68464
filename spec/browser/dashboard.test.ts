// The dashboard in Chromium against a 3-node cluster: the API key typed into the page (kept in sessionStorage),
// every member listed with its URL, a publish from the channel view reaching a subscriber on another node and
// showing as non-zero rates, subscribers per node, a config change and a kick. Saves docs/images/dashboard.png.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestCluster, TestClient, type TestCluster } from '../../lib/testing/index.js';
import { launchChromium, type Browser } from './chromium.js';

const SCREENSHOT = new URL('../../../docs/images/dashboard.png', import.meta.url);

describe('the dashboard in Chromium', () => {
  let cluster: TestCluster;
  let browser: Browser;
  const clients: TestClient[] = [];
  before(async () => {
    cluster = await createTestCluster(3);
    browser = await launchChromium();
  });
  after(async () => {
    for (const c of clients) c.close();
    await browser?.close();
    await cluster?.stop();
  });

  test('shows every member, publishes, counts the rates, changes the config and kicks', async () => {
    const [a, b, c] = cluster.nodes;
    for (const [node, user] of [[b!, 'bea'], [c!, 'cid']] as const) {
      const { client } = await TestClient.connect(node.url, { token: await node.token(user) });
      clients.push(client);
      await client.subscribe('dash-room');
    }
    const page = await browser.open(`${a!.url}/`);
    // Predicates are functions, not strings: the page's Content-Security-Policy forbids eval.
    const textMatches = (sel: string, re: RegExp) => page.waitForFunction(([s, src]) =>
      new RegExp(src!).test((globalThis as any).document.querySelector(s)?.textContent ?? ''), [sel, re.source], { timeout: 20_000, polling: 50 });
    const count = (sel: string, n: number) => page.waitForFunction(([s, k]) =>
      (globalThis as any).document.querySelectorAll(s).length === k, [sel, n] as const, { timeout: 20_000, polling: 50 });
    const positive = /^(?!0(\.0)?$)[\d.,]+$/;
    assert.equal(new URL(page.url()).pathname, '/dashboard', '/ leads to the dashboard');
    await page.fill('#key', 'wrong');
    await page.click('#use-key');
    await textMatches('#status', /^wrong API key$/);
    await page.fill('#key', a!.apiKey);
    await page.click('#use-key');
    await count('#members tbody tr', 3);
    assert.equal(await page.evaluate(`sessionStorage.getItem('hashpub.apiKey')`), a!.apiKey);
    const urls = await page.$$eval('#members tbody tr a', (links) => links.map((l) => l.textContent).sort());
    assert.deepEqual(urls, [a!.url, b!.url, c!.url].sort());
    assert.equal(await page.textContent('.card[data-name="members"] b'), '3');

    await page.fill('#channel', 'dash-room');
    await page.click('#lookup button');
    await page.waitForSelector('#channel-view:not([hidden])');
    await count('#presence .pill', 2);
    assert.deepEqual(await page.$$eval('#presence .pill', (p) => p.map((x) => x.textContent)), ['bea', 'cid']);
    await count('#per-node tbody tr', 3); // two push nodes and the total

    for (let i = 0; i < 3; i++) {
      await page.fill('#data', JSON.stringify({ text: `hello ${i}` }));
      await page.click('#publish button');
      await textMatches('#publish-result', new RegExp(`^published at offset ${i + 1}$`));
    }
    const got = await clients[0]!.waitMessages('dash-room', 3);
    assert.deepEqual(got.map((m) => m.data), [{ text: 'hello 0' }, { text: 'hello 1' }, { text: 'hello 2' }]);
    await textMatches('.card[data-name="messages out/s"] b', positive);
    await textMatches('.card[data-name="messages in/s"] b', positive);
    assert.match((await page.textContent('#history tbody'))!, /hello 2/);
    await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });

    const config = JSON.parse(await page.inputValue('#config'));
    await page.fill('#config', JSON.stringify({ ...config, history: { size: 7, ttlSeconds: 120 } }));
    await page.click('#config-form button');
    await textMatches('#config-result', /^saved$/);
    assert.deepEqual((await b!.api('GET', '/v1/channels/dash-room/config')).body.history, { size: 7, ttlSeconds: 120 }, 'the change reached the owner');

    await page.fill('#kick-user', 'cid');
    await page.fill('#kick-ban', '60');
    await page.click('#kick button');
    await textMatches('#kick-result', /^1 subscription/);
    const kicked = await clients[1]!.next((f) => f.type === 'kicked');
    assert.equal(kicked.channel, 'dash-room');
    assert.deepEqual(browser.log.filter((l) => l.startsWith('pageerror')), []);
  });
});
