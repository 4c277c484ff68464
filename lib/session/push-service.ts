import type { Logger } from 'pino';
import { LogThrottle } from '../log.js';
import { CLOSE_CODES, HashpubError } from '../errors.js';
import type { HookRunner } from '../hooks/hook-runner.js';
import type { Limits } from '../limits/limits.js';
import type { DeliverOptions, PresenceDiff, PublishResult, PushTarget, Router, SubscribeResult } from '../owner/owner-api.js';
import { userChannel } from '../protocol/names.js';
import { messageFrame, Prepared } from '../protocol/prepared.js';
import type { Claims, Message, StreamPosition, UserId } from '../protocol/types.js';
import { Delivery, skipped } from './delivery.js';
import { Hub } from './hub.js';
import { PresenceMirrors } from './presence-mirror.js';
import { limitConcurrency, REREGISTER_CONCURRENCY, reregisterAll, reregisterOne, sendHeld, unregister, type Announce, type Subscribe } from './owner-registration.js';
import { newSessionId, Session, type Connection, type Sub } from './session.js';

export type { Announce } from './owner-registration.js';


export interface PushServiceDeps {
  router: Router;
  hooks: HookRunner | null;
  log: Logger;
  /** Subscriptions per connection and sessions per user are checked here, before any round trip. */
  limits?: Limits;
  /** A detached session is ended after this long. */
  sessionTtlMs: number;
  /** A detached session leaves its channels (presence `leave`, positions kept) after this long. @default sessionTtlMs */
  presenceGraceMs?: number;
  now?: () => number;
  /** Called with the number of messages each fan-out slice wrote to subscribers (metrics). */
  onDeliver?: (messages: number) => void;
}

/**
 * The push-node role: sessions and their subscriptions, registered at each channel's owner, and the
 * PushTarget that owners deliver to. Sessions outlive connections for `sessionTtlMs`; after
 * `presenceGraceMs` without a connection a session is "away": its subscriptions are unregistered at their
 * owners (presence says leave) but it keeps its positions, so a resume re-registers them and replays what
 * it missed from history. A goodbye (end with reason `goodbye`) ends a session at once. Deliveries go through
 * Delivery (stale-owner fencing, deliver hook) to the FanOut, which batches and paces the writes.
 */
export class PushService implements PushTarget {
  readonly hub = new Hub();
  private readonly sessions = new Map<string, Session>();
  private readonly byUser = new Map<string, Set<Session>>();
  private readonly detached = new Set<Session>();
  private readonly delivery: Delivery;
  /** Member lists of channels with presence events, kept from the owner's batched diffs. */
  private readonly mirrors = new PresenceMirrors(this.hub);
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly unsubscribeWarnings = new LogThrottle();
  /** subscribe(), as re-registrations call it: at most REREGISTER_CONCURRENCY at a time (their retry waits hold no slot). */
  private readonly reregisterSubscribe: Subscribe = limitConcurrency(REREGISTER_CONCURRENCY, this.subscribe.bind(this));

  constructor(private readonly deps: PushServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.delivery = new Delivery(this.hub, deps.hooks, deps.log, deps.onDeliver, (s, channel) => this.missed(s, channel));
  }

  /** The fan-out (its counters; settled() for tests). */
  get fanout(): Delivery['fanout'] {
    return this.delivery.fanout;
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), 1000).unref();
  }

  /** Ends every session (owners see them unsubscribe) and closes their connections. */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.all([...this.sessions.values()].map((s) => this.end(s, 'shutdown', CLOSE_CODES.shutdown)));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Attached connections by transport (GET /v1/stats; counted on demand, about once a second). */
  connectionCounts(): { ws: number; sse: number; poll: number } {
    const n = { ws: 0, sse: 0, poll: 0 };
    for (const s of this.sessions.values()) if (s.conn) n[s.conn.kind]++;
    return n;
  }

  /** Creates a session for a verified identity; an authenticated user is subscribed to `$user:U`. */
  async open(user: UserId, claims: Claims, info: Record<string, unknown>): Promise<Session> {
    if (user !== null) this.deps.limits?.userConnection(this.byUser.get(user)?.size ?? 0);
    const s = new Session(newSessionId(), user, claims, info);
    this.sessions.set(s.id, s);
    if (user !== null) {
      let set = this.byUser.get(user);
      if (!set) this.byUser.set(user, (set = new Set()));
      set.add(s);
      try {
        await this.subscribe(s, userChannel(user), undefined, { system: true });
      } catch (err) {
        await this.end(s, 'refused');
        throw err;
      }
    }
    return s;
  }

  find(id: string): Session | undefined {
    const s = this.sessions.get(id);
    return s && !s.ended ? s : undefined;
  }

  /**
   * Binds a connection to a session (replacing an older one, which is closed: its disconnect hook fires).
   * The caller then re-subscribes the session's channels (resume(), or the stream's channel list): an away
   * session is registered again at its owners that way.
   */
  attach(s: Session, conn: Connection): void {
    const old = s.conn;
    s.conn = conn;
    s.detachedAt = 0;
    s.away = false;
    this.detached.delete(s);
    if (old && old !== conn) {
      // detach() ignores the old connection's close (it is no longer s.conn): report that connection here, once.
      this.fireDisconnect(s, 'replaced');
      old.close(CLOSE_CODES.disconnected, 'session taken over by a new connection');
    }
  }

  /** The connection went away: keep the session for a resume; fires the disconnect hook once. */
  detach(s: Session, conn: Connection, reason: string): void {
    if (s.conn !== conn) return;
    s.conn = null;
    if (s.ended) return;
    s.detachedAt = this.now();
    this.detached.add(s);
    this.fireDisconnect(s, reason);
  }

  /**
   * The session's client is away (no connection for the presence grace, or a long-poll client that stopped
   * polling): every channel but `$user:U` is unregistered at its owner with reason `away` (presence leave,
   * unsubscribe hook) while the session keeps its positions for a resume.
   */
  away(s: Session): void {
    if (s.ended || s.away) return;
    s.away = true;
    for (const [channel, sub] of s.positions()) {
      if (channel.startsWith('$') || sub.pending) continue;
      this.hub.remove(channel, s);
      if (!this.hub.has(channel)) this.channelGone(channel);
      void this.unregister(channel, s, 'away');
    }
  }

  private fireDisconnect(s: Session, reason: string): void {
    if (this.deps.hooks?.has('disconnect')) void this.deps.hooks.disconnect({ user: s.user, session: s.id, reason });
  }

  /** Ends a session: every subscription ends at its owner (with `reason`), the connection is closed. */
  async end(s: Session, reason: string, closeCode: number = CLOSE_CODES.disconnected, closeText = reason): Promise<void> {
    if (s.ended) return;
    s.ended = true;
    this.sessions.delete(s.id);
    this.detached.delete(s);
    if (s.user !== null) {
      const set = this.byUser.get(s.user);
      set?.delete(s);
      if (set?.size === 0) this.byUser.delete(s.user);
    }
    const channels = [...s.subs.keys()];
    s.subs.clear();
    for (const c of channels) {
      this.hub.remove(c, s);
      if (!this.hub.has(c)) this.channelGone(c);
    }
    const conn = s.conn;
    if (conn) {
      s.conn = null;
      this.fireDisconnect(s, reason);
      conn.close(closeCode, closeText);
    }
    await Promise.all(channels.map((c) => this.unregister(c, s, reason)));
  }

  /**
   * Subscribes `s` to `channel` at the owner. Deliveries that arrive during the round trip are held and
   * sent after the owner's replay, so the client sees offsets in order, without gaps or repeats.
   */
  async subscribe(s: Session, channel: string, since: StreamPosition | undefined,
    opts: { system?: boolean; announce?: Announce; resume?: boolean } = {}): Promise<SubscribeResult> {
    if (s.ended) throw new HashpubError('forbidden', 'the session has ended');
    const existing = s.subs.get(channel);
    if (existing && !opts.resume) {
      if (existing.pending) throw new HashpubError('bad_request', 'a subscribe to this channel is already in progress');
      const r: SubscribeResult = { epoch: existing.epoch, offset: existing.offset, recovered: true, messages: [] };
      opts.announce?.(channel, r);
      return r;
    }
    if (!existing && !opts.system) this.deps.limits?.subscription(s.subs.size - (s.user !== null && s.subs.has(userChannel(s.user)) ? 1 : 0));
    // One round trip per (session, channel) at a time: a resume and a re-registration after a view change must
    // not both replay to the client. Deliveries are held from now on (not only once the earlier one is done).
    if (existing) existing.pending ??= [];
    const flows = (s.flows ??= new Map());
    const before = flows.get(channel);
    let done!: () => void;
    const mine = new Promise<void>((r) => { done = r; });
    flows.set(channel, mine);
    try {
      if (before) await before;
      return await this.subscribeNow(s, channel, since, opts);
    } finally {
      done();
      if (flows.get(channel) === mine) flows.delete(channel);
      if (flows.size === 0 && s.flows === flows) s.flows = null;
    }
  }

  private async subscribeNow(s: Session, channel: string, since: StreamPosition | undefined,
    opts: { system?: boolean; announce?: Announce; resume?: boolean }): Promise<SubscribeResult> {
    const existing = s.subs.get(channel);
    const sub: Sub = existing ?? { epoch: '', offset: 0, pending: null };
    sub.pending ??= [];
    // The connection this round trip answers to: if the client reconnects meanwhile, its resume replays instead.
    const conn = s.conn;
    s.subs.set(channel, sub);
    this.hub.add(channel, s);
    const owner = this.deps.router.owner(channel);
    let res: SubscribeResult;
    try {
      res = await owner.subscribe({ channel, pushNode: this.deps.router.self, session: s.id, user: s.user,
        claims: s.claims, since, system: opts.system });
    } catch (err) {
      if (s.subs.get(channel) === sub) this.forget(s, channel);
      if (existing) void this.unregister(channel, s, 'refused');
      throw err;
    }
    if (s.ended || s.subs.get(channel) !== sub) {
      if (s.subs.get(channel) === sub) this.forget(s, channel); // the session ended during the round trip
      void this.unregister(channel, s, 'ended');
      throw new HashpubError('forbidden', 'subscription ended while it was being set up');
    }
    // On deliver-hook channels, replayed and held messages go through the hook for this reader too,
    // while live ones keep collecting in `pending`, so the order holds.
    let replay = res.messages;
    const held: Message[] = [];
    if (res.deliverHook && this.deps.hooks?.has('deliver') && s.conn) {
      replay = await this.delivery.personalize(s, channel, replay);
      while (sub.pending!.length > 0) held.push(...await this.delivery.personalize(s, channel, sub.pending!.splice(0)));
      if (s.ended || s.subs.get(channel) !== sub) {
        void this.unregister(channel, s, 'ended');
        throw new HashpubError('forbidden', 'subscription ended while it was being set up');
      }
    }
    const pending = held.length > 0 ? held : sub.pending!;
    sub.pending = null;
    this.delivery.sawTerm(channel, res.term);
    sub.epoch = res.epoch;
    if (!s.conn || s.conn !== conn) {
      // Nobody to send to: keep the resume point where the client is.
      sub.offset = since && since.epoch === res.epoch && res.recovered ? since.offset : res.offset;
      return res;
    }
    sub.offset = since && since.epoch === res.epoch ? since.offset : res.offset;
    opts.announce?.(channel, res);
    for (const m of replay) { // advance per message: SSE ids carry the position after each one
      sub.offset = m.offset;
      if (!skipped(m)) s.conn.send(messageFrame(m), s);
    }
    sub.offset = res.offset;
    sendHeld(s, sub, pending, () => this.missed(s, channel));
    if (res.presenceEvents) this.mirrors.joined(channel, s);
    return res;
  }

  /**
   * After a reconnect with a session id: resubscribe every channel from the client's position in `since`,
   * else from the last offset written to its old connection.
   */
  async resume(s: Session, announce: Announce, refused: (channel: string, err: unknown) => void,
    since: ReadonlyMap<string, StreamPosition> = new Map()): Promise<void> {
    const away = s.awayFrames;
    s.awayFrames = null;
    for (const f of away ?? []) s.conn?.send(f, s);
    await Promise.all([...s.subs].map(async ([channel, sub]) => {
      try {
        // The client's own position when it sent one: frames written to a socket that then dropped never arrived.
        await this.subscribe(s, channel, since.get(channel) ?? { epoch: sub.epoch, offset: sub.offset },
          { resume: true, announce, system: channel.startsWith('$') });
      } catch (err) {
        refused(channel, err);
      }
    }));
  }

  /**
   * The owner of some channels moved (cluster view changed): registers every local subscription on a channel
   * that `filter` selects again at its current owner, from the last delivered position. A client whose
   * stream could not be recovered gets a `subscribed` frame with recovered:false; one that cannot be
   * re-registered after a few tries gets `kicked` (reason `unavailable`).
   */
  reregister(filter: (channel: string) => boolean): Promise<void> {
    return reregisterAll(this.sessions.values(), this.reregisterSubscribe, this.deps.log, filter);
  }

  async unsubscribe(s: Session, channel: string, reason = 'unsubscribe'): Promise<void> {
    if (!s.subs.has(channel)) throw new HashpubError('bad_request', 'not subscribed to this channel');
    this.forget(s, channel);
    await this.unregister(channel, s, reason);
  }

  /** A client publish: every client rule applies at the owner. `key` makes retries apply it once. */
  publish(s: Session, channel: string, data: unknown, key?: string): Promise<PublishResult> {
    return this.deps.router.owner(channel).publish({ channel, data, user: s.user, claims: s.claims, client: true, id: key });
  }

  /**
   * A node took `channel` over (or took it again after dropping it) under `term`: the registrations of the
   * previous holder are gone, so local subscribers registered under an older term register again (they would
   * otherwise wait for a next message to notice the gap, and after the last one, forever).
   */
  owned(channel: string, term: number): void {
    if (!this.hub.has(channel) || term <= this.delivery.termOf(channel)) return;
    void this.reregister((c) => c === channel).catch((err) => this.deps.log.warn({ err, channel }, 're-registering after a take-over failed'));
  }

  // ---- PushTarget: what owners call ----

  deliver(message: Message, opts: DeliverOptions): void {
    this.delivery.deliver(message, opts);
  }

  presence(channel: string, diff: PresenceDiff): void {
    this.fanout.after(channel, () => this.mirrors.apply(channel, diff));
  }

  /** In order with the channel's deliveries: messages committed before the kick still reach the kicked sessions. */
  kicked(channel: string, sessions: string[], reason: string): void {
    this.fanout.after(channel, () => this.kickNow(channel, sessions, reason));
  }

  private kickNow(channel: string, sessions: string[], reason: string): void {
    const frame = new Prepared('kicked', { type: 'kicked', channel, reason });
    for (const id of sessions) {
      const s = this.sessions.get(id);
      if (!s || !s.subs.has(channel)) continue;
      this.forget(s, channel);
      if (s.conn) s.conn.send(frame, s);
      else (s.awayFrames ??= []).push(frame); // told on resume
    }
  }

  async disconnectUser(user: string, reason: string): Promise<number> {
    const set = [...(this.byUser.get(user) ?? [])];
    await Promise.all(set.map((s) => this.end(s, 'disconnect', CLOSE_CODES.disconnected, reason)));
    this.deps.log.info({ user, reason, sessions: set.length }, 'user disconnected');
    return set.length;
  }

  // ---- internals ----

  /** A delivery showed that `s` missed messages of `channel` (see FanOut): register it again from its position. */
  private missed(s: Session, channel: string): void {
    const sub = s.subs.get(channel);
    if (!sub || s.ended) return;
    this.deps.log.debug({ channel, session: s.id, offset: sub.offset }, 'a delivery skipped offsets: catching the subscriber up from history');
    void reregisterOne(this.subscribe.bind(this), this.deps.log, s, channel, sub);
  }

  private forget(s: Session, channel: string): void {
    s.subs.delete(channel);
    this.hub.remove(channel, s);
    if (!this.hub.has(channel)) this.channelGone(channel);
  }

  /** The last local subscriber of `channel` is gone. */
  private channelGone(channel: string): void {
    this.delivery.forget(channel);
    this.mirrors.forget(channel);
  }

  private unregister(channel: string, s: Session, reason: string): Promise<void> {
    return unregister(this.deps.router, this.deps.log, this.unsubscribeWarnings, channel, s.id, reason);
  }

  private sweep(): void {
    const now = this.now();
    const cutoff = now - this.deps.sessionTtlMs;
    const graceCutoff = now - (this.deps.presenceGraceMs ?? this.deps.sessionTtlMs);
    for (const s of this.detached) {
      if (s.detachedAt <= cutoff) void this.end(s, 'expired');
      else if (s.detachedAt <= graceCutoff) this.away(s);
    }
  }
}
