// The official client running inside a Chromium page: the page import()s /v1/client.js from a node (another
// origin) and records everything the client reports in `globalThis.h`, which the test reads back.
import type { Page } from 'playwright-core';
import type { Browser } from './chromium.js';

/** What the page recorded (see setUp below). */
export interface PageRecord {
  states: Array<[state: string, transport: string | null, url: string | null, reason: string | null]>;
  subStates: Array<[state: string, recovered: boolean | null, reason: string | null]>;
  got: Array<{ offset: number; epoch: string; data: any }>;
  gaps: Array<{ from: { epoch: string; offset: number } | null; to: { epoch: string; offset: number } }>;
  acks: Array<{ data: any; offset: number; epoch: string }>;
  failed: Array<{ data: any; code: string }>;
  client: string;
  sub: string;
  transport: string | null;
  url: string | null;
}

export interface PageClient {
  page: Page;
  record(): Promise<PageRecord>;
  /** Waits until `pred` (run in the page against the record `h`) is true. */
  until(pred: string, ms?: number): Promise<void>;
  /** client.publish(channel, data) in the page; resolves with the ack (or the error code). */
  publish(data: unknown): Promise<{ offset?: number; code?: string }>;
  /** Publishes {seq: from..to} one after another from the page, in the background; acks and failures land in the record. */
  publishLoop(from: number, to: number, gapMs: number): Promise<void>;
}

/** Opens `pageUrl`, imports the client from `nodeUrls[0]`, connects to all of `nodeUrls` and subscribes `channel`. */
export async function clientPage(browser: Browser, pageUrl: string, nodeUrls: string[],
  opts: { token: string; transports?: string[]; channel: string }): Promise<PageClient> {
  const page = await browser.open(pageUrl);
  await page.evaluate(async ({ urls, token, transports, channel }) => {
    const { connect } = await import(`${urls[0]}/v1/client.js`);
    const h: any = { states: [], subStates: [], got: [], gaps: [], acks: [], failed: [] };
    h.c = connect(urls, { token, ...(transports ? { transports } : {}) });
    h.c.on('state', (s: string, i: any) => h.states.push([s, i.transport ?? null, i.url ?? null, i.reason ?? null]));
    h.sub = h.c.subscribe(channel, (m: any) => h.got.push({ offset: m.offset, epoch: m.epoch, data: m.data }));
    h.sub.on('state', (s: string, i: any) => h.subStates.push([s, i.recovered ?? null, i.reason ?? null]));
    h.sub.on('gap', (g: any) => h.gaps.push({ from: g.from, to: g.to }));
    h.publish = async (data: unknown) => {
      try {
        const ack = await h.c.publish(channel, data);
        h.acks.push({ data, offset: ack.offset, epoch: ack.epoch });
        return { offset: ack.offset };
      } catch (e: any) {
        h.failed.push({ data, code: e.code });
        return { code: e.code };
      }
    };
    (globalThis as any).h = h;
  }, { urls: nodeUrls, token: opts.token, transports: opts.transports ?? null, channel: opts.channel });
  return {
    page,
    record: () => page.evaluate(() => {
      const h = (globalThis as any).h;
      return { states: h.states, subStates: h.subStates, got: h.got, gaps: h.gaps, acks: h.acks, failed: h.failed,
        client: h.c.state, sub: h.sub.state, transport: h.c.transport, url: h.c.url } as PageRecord;
    }),
    until: async (pred, ms = 15_000) => {
      await page.waitForFunction(`(() => { const h = globalThis.h; return ${pred}; })()`, undefined, { timeout: ms, polling: 50 });
    },
    publish: (data) => page.evaluate((d) => (globalThis as any).h.publish(d), data),
    publishLoop: (from, to, gapMs) => page.evaluate(({ from, to, gapMs }) => {
      const h = (globalThis as any).h;
      h.looped = false;
      void (async () => {
        for (let seq = from; seq <= to; seq++) {
          await h.publish({ seq });
          await new Promise((r) => setTimeout(r, gapMs));
        }
        h.looped = true;
      })();
    }, { from, to, gapMs }),
  };
}
