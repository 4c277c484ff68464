import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import type { SubscribeResult } from '../owner/owner-api.js';
import { Prepared } from '../protocol/prepared.js';
import type { StreamPosition } from '../protocol/types.js';
import type { Session, Sub } from './session.js';

/** How long a subscription whose owner moved is registered again before the client is told (`kicked`, unavailable). */
const REREGISTER_FOR_MS = 30_000;

/** Called with the owner's answer before replayed messages are sent (WebSocket sends `subscribed`). */
export type Announce = (channel: string, result: SubscribeResult) => void;

/** PushService.subscribe, as a re-registration uses it. */
export type Subscribe = (s: Session, channel: string, since: StreamPosition | undefined,
  opts: { system?: boolean; announce?: Announce; resume?: boolean }) => Promise<SubscribeResult>;

/**
 * Registers one local subscription again at its channel's current owner (the owner moved), from the last delivered
 * position. A client whose stream could not be recovered gets a `subscribed` frame with recovered:false; one that
 * cannot be re-registered for REREGISTER_FOR_MS gets `kicked` (reason `unavailable`); a system channel (such as
 * $user:U, which the client cannot subscribe to itself) is retried for as long as the session lives.
 */
export async function reregisterOne(subscribe: Subscribe, log: Logger, s: Session, channel: string, sub: Sub): Promise<void> {
  const since = { epoch: sub.epoch, offset: sub.offset };
  const system = channel.startsWith('$');
  const announce: Announce = (c, r) => {
    if (system || (r.recovered && r.epoch === since.epoch)) return;
    s.conn?.send(new Prepared('subscribed', { type: 'subscribed', channel: c, epoch: r.epoch, offset: r.offset,
      recovered: r.recovered, resumed: true }), s);
  };
  // The new owner may need a failure detection and a take-over first: keep trying for a while.
  const deadline = Date.now() + REREGISTER_FOR_MS;
  for (let attempt = 0; system || Date.now() < deadline; attempt++) {
    if (s.ended) return;
    const current = s.subs.get(channel);
    if (attempt > 0 && current) return; // re-subscribed meanwhile (by the client or another change)
    try {
      await subscribe(s, channel, since, attempt === 0 ? { resume: true, system, announce } : { system, announce });
      return;
    } catch (err) {
      if (err instanceof HashpubError && err.code !== 'unavailable' && err.code !== 'timeout') {
        if (!system) s.conn?.send(new Prepared('kicked', { type: 'kicked', channel, reason: err.code }), s);
        return;
      }
      if (attempt === 0) log.warn({ err, channel }, 're-registering a subscription failed; retrying');
      await new Promise((r) => setTimeout(r, Math.min(2000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2)));
    }
  }
  if (!s.ended && !s.subs.has(channel)) s.conn?.send(new Prepared('kicked', { type: 'kicked', channel, reason: 'unavailable' }), s);
}

/** `fn` with at most `n` calls running at once; the rest wait their turn in call order. */
export function limitConcurrency<A extends unknown[], R>(n: number, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let running = 0;
  let waiting: Array<() => void> = [];
  let head = 0; // waiting[head] is next: shift() would copy the whole queue each time
  return async (...args: A): Promise<R> => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    else running++;
    try {
      return await fn(...args);
    } finally {
      if (head < waiting.length) {
        const next = waiting[head++]!;
        if (head === waiting.length) { waiting = []; head = 0; }
        next(); // the slot passes on: `running` stays
      } else running--;
    }
  };
}
