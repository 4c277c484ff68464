/**
 * Reading the cluster's final state back for the checker, the way an operator or a user would see it: every
 * channel's full history (GET history?since=0, paged), its config (GET config), and whether its banned user is
 * still refused (an SSE subscribe with that user's token answers 403 `banned`). Each read is retried through
 * random up nodes until a deadline. Also used at the start to verify the setup took.
 */
import { request } from 'undici';
import { signToken } from '../../lib/auth/tokens.js';
import { sleep } from '../support/proc.js';
import { upNodes, type ClusterControl } from './cluster.js';
import type { ChannelReadBack, Frame, ReadBack } from './history.js';
import { call, describe } from './http.js';
import type { Rng } from './rng.js';

const PAGE = 10_000;

/** Retries `once` through random up nodes until it gives a value or `ms` passed; the last failure is thrown. */
async function retry<T>(control: ClusterControl, rng: Rng, ms: number, once: (url: string) => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const node = rng.pick(upNodes(control));
    try {
      if (!node) throw new Error('no node is up');
      return await once(node.url);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** The whole retained history of `channel` (pages of 10,000 from offset 0), read through one node. */
async function history(url: string, apiKey: string, channel: string): Promise<{ epoch: string; offset: number; messages: Frame[] }> {
  const messages: Frame[] = [];
  let epoch: string | null = null;
  let offset = 0;
  for (let since = 0; ;) {
    const r = await call(url, 'GET', `/v1/channels/${encodeURIComponent(channel)}/history?since=${since}&limit=${PAGE}`, apiKey, undefined, 10_000);
    if (r.kind !== 'http' || r.status !== 200) throw new Error(`history: ${describe(r)}`);
    const b = r.body as { epoch: string; offset: number; messages: Frame[] };
    if (epoch !== null && b.epoch !== epoch) throw new Error(`history: epoch changed while paging (${epoch} -> ${b.epoch})`);
    epoch = b.epoch;
    offset = b.offset;
    messages.push(...b.messages);
    if (b.messages.length < PAGE) return { epoch, offset, messages };
    since = b.messages.at(-1)!.offset as number;
  }
}

/** true when `user` is refused with `banned` on `channel` (an SSE subscribe through `url`), false when let in. */
export async function banHolds(url: string, jwtSecret: string, channel: string, user: string): Promise<boolean> {
  const token = await signToken(jwtSecret, user, { ttlSeconds: 600 });
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  try {
    const res = await request(`${url}/v1/sse?channel=${encodeURIComponent(channel)}&token=${encodeURIComponent(token)}`, { signal: ac.signal });
    if (res.statusCode === 200) {
      ac.abort();
      await res.body.text().catch(() => {});
      return false;
    }
    const text = await res.body.text();
    if (res.statusCode === 403 && text.includes('"banned"')) return true;
    throw new Error(`ban check: ${res.statusCode} ${text.slice(0, 120)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The config of `channel` through `url`. */
export async function readConfig(url: string, apiKey: string, channel: string): Promise<Record<string, unknown>> {
  const r = await call(url, 'GET', `/v1/channels/${encodeURIComponent(channel)}/config`, apiKey, undefined, 5000);
  if (r.kind !== 'http' || r.status !== 200) throw new Error(`config: ${describe(r)}`);
  return r.body as Record<string, unknown>;
}

/** Reads back every channel (4 at a time); a channel that cannot be read within `ms` gets `error`. */
export async function readBack(control: ClusterControl, rng: Rng, bans: Array<{ channel: string; user: string }>, ms = 30_000): Promise<ReadBack> {
  const channels: ReadBack['channels'] = {};
  const queue = [...bans];
  const worker = async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const c: ChannelReadBack = { epoch: null, offset: 0, messages: [], config: null, banHeld: null };
      const errors: string[] = [];
      try {
        Object.assign(c, await retry(control, rng, ms, (url) => history(url, control.apiKey, b.channel)));
      } catch (err) { errors.push((err as Error).message); }
      try {
        c.config = await retry(control, rng, ms, (url) => readConfig(url, control.apiKey, b.channel));
      } catch (err) { errors.push((err as Error).message); }
      try {
        c.banHeld = await retry(control, rng, ms, (url) => banHolds(url, control.jwtSecret, b.channel, b.user));
      } catch (err) { errors.push((err as Error).message); }
      if (errors.length > 0) c.error = errors.join('; ');
      channels[b.channel] = c;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { channels };
}
