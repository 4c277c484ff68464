/**
 * This node's subscriptions as registered at their channels' owners, the part of PushService that is not about
 * sessions: registering a subscription again when its owner moved (reregisterOne, reregisterAll, at most
 * REREGISTER_CONCURRENCY at a time), sending what arrived during a registration's round trip (sendHeld), and
 * unregistering (unregister).
 */
import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import type { LogThrottle } from '../log.js';
import type { Router, SubscribeResult } from '../owner/owner-api.js';
import { messageFrame, Prepared } from '../protocol/prepared.js';
import type { Message, StreamPosition } from '../protocol/types.js';
import { skipped } from './delivery.js';
import type { Session, Sub } from './session.js';

/** How long a subscription whose owner moved is registered again before the client is told (`kicked`, unavailable). */
const REREGISTER_FOR_MS = 30_000;

/**
 * Re-registrations in flight at once (each a round trip to an owner): 20,000 sent together when this node
 * stalled or an owner moved would queue at one owner until they time out and are all sent again.
 */
export const REREGISTER_CONCURRENCY = 64;

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

/**
 * Registers again every subscription (of sessions not away) whose channel passes `filter`, each with reregisterOne;
 * `subscribe` is expected to be limited (limitConcurrency) so they do not all go at once.
 */
export async function reregisterAll(sessions: Iterable<Session>, subscribe: Subscribe, log: Logger, filter: (channel: string) => boolean): Promise<void> {
  const work: Array<Promise<void>> = [];
  for (const s of sessions) {
    if (s.away) continue; // registered nowhere until it resumes (at the owner of that time)
    for (const [channel, sub] of s.subs) {
      if (sub.pending === null && filter(channel)) work.push(reregisterOne(subscribe, log, s, channel, sub));
    }
  }
  await Promise.all(work);
}

/**
 * Sends the deliveries held during a subscribe round trip. One that skips offsets (it came from an owner
 * incarnation the answer did not know) starts another catch-up instead (`missed`): the owner's history has what
 * is legit.
 */
export function sendHeld(s: Session, sub: Sub, held: Message[], missed: () => void): void {
  for (const m of held) {
    if (m.epoch !== sub.epoch || m.offset <= sub.offset) continue;
    if (m.offset > sub.offset + 1) {
      sub.pending = [];
      queueMicrotask(missed);
      return;
    }
    sub.offset = m.offset;
    if (!skipped(m)) s.conn!.send(messageFrame(m), s);
  }
}

/**
 * Tells `channel`'s owner that a session left it. Never throws: an owner that left or cannot be reached has dropped
 * this node's members with it (its successor learns them from re-registration), which is expected when many clients
 * leave while nodes stop (debug); any other failure is a warning, at most one a second (`warnings`), since a swamped
 * owner times out thousands at once.
 */
export async function unregister(router: Router, log: Logger, warnings: LogThrottle, channel: string, session: string, reason: string): Promise<void> {
  try {
    await router.owner(channel).unsubscribe(channel, router.self, session, reason);
  } catch (err) {
    if ((err as { code?: string })?.code === 'unavailable') return void log.debug({ err, channel }, 'unsubscribe at owner failed');
    const suppressed = warnings.take();
    if (suppressed !== null) log.warn({ err, channel, suppressed }, 'unsubscribe at owner failed');
  }
}
