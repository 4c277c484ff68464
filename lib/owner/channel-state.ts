import { randomBytes } from 'node:crypto';
import type { ChannelRecord, StoreOp } from '../store/store.js';
import { defaultChannelConfig, type ChannelConfig, type Message, type StreamPosition, type UserId } from '../protocol/types.js';

/** Most idempotency keys remembered per channel. */
const MAX_RECENT_IDS = 1000;

export const newEpoch = (): string => randomBytes(4).toString('hex');

/**
 * What the owner holds for one channel: settings, bans, stream position, retained history and the
 * subscriber set grouped by push node. No I/O: ChannelOwner does the storing and the sending.
 */
export class ChannelState {
  config: ChannelConfig;
  readonly bans: Map<string, number>;
  epoch: string;
  /** Last offset handed out (may still be on its way to the disk). */
  assigned: number;
  /** Last offset that is durable and was fanned out. */
  committed: number;
  /** Committed messages still retained, oldest first. */
  history: Message[];
  /** Lowest offset that may still be stored on disk (for trimming). */
  storedFrom: number;
  /** Ownership term (see Store): written with every position. */
  readonly term: number;
  readonly termStart: number;
  /** Handed to another node: every operation on this object must stop. */
  released = false;
  /** push node id -> session -> user. */
  readonly subscribers = new Map<string, Map<string, UserId>>();
  /** Number of subscriptions (sessions) over all push nodes. */
  count = 0;
  /** user -> number of its subscribed sessions (for presence). */
  readonly users = new Map<string, number>();
  /** Idempotency key -> offset, most recent last. */
  readonly recentIds = new Map<string, number>();

  constructor(readonly name: string, rec: ChannelRecord, now: number) {
    this.config = { ...defaultChannelConfig(), ...(rec.config ?? {}) };
    this.bans = new Map(Object.entries(rec.bans).filter(([, until]) => until > now));
    this.term = rec.term;
    this.termStart = rec.termStart;
    this.epoch = rec.epoch ?? newEpoch();
    this.assigned = this.committed = rec.offset;
    this.history = rec.history.filter((m) => m.offset <= rec.offset);
    this.storedFrom = this.history[0]?.offset ?? rec.offset + 1;
    this.expire(now);
  }

  position(): StreamPosition {
    return { epoch: this.epoch, offset: this.committed };
  }

  /** Ban end (ms) if `user` is banned now, else 0. */
  bannedUntil(user: UserId, now: number): number {
    if (user === null) return 0;
    const until = this.bans.get(user) ?? 0;
    if (until && until <= now) this.bans.delete(user);
    return until > now ? until : 0;
  }

  /** Drops retained messages older than the history TTL or beyond its size. */
  expire(now: number): void {
    const { size, ttlSeconds } = this.config.history;
    const minTime = now - ttlSeconds * 1000;
    let drop = Math.max(0, this.history.length - size);
    while (drop < this.history.length && this.history[drop]!.time < minTime) drop++;
    if (drop > 0) this.history.splice(0, drop);
  }

  /** Assigns the next offset; returns the message and the store ops that make it durable. */
  next(data: unknown, from: UserId, now: number): { message: Message; ops: StoreOp[] } {
    const offset = ++this.assigned;
    const message: Message = { channel: this.name, epoch: this.epoch, offset, data, time: now };
    if (from !== null) message.from = from;
    const ops: StoreOp[] = [{ type: 'position', channel: this.name, epoch: this.epoch, offset, term: this.term, termStart: this.termStart }];
    const keepFrom = offset - this.config.history.size + 1;
    for (; this.storedFrom < keepFrom; this.storedFrom++) ops.push({ type: 'drop', channel: this.name, offset: this.storedFrom });
    if (this.config.history.size > 0) ops.push({ type: 'append', message });
    return { message, ops };
  }

  /** Records a durable message as committed and retained. */
  commit(message: Message, now: number): void {
    this.committed = message.offset;
    if (this.config.history.size > 0) this.history.push(message);
    this.expire(now);
  }

  /** Remembers an idempotency key (bounded). */
  rememberId(id: string, offset: number): void {
    this.recentIds.set(id, offset);
    if (this.recentIds.size > MAX_RECENT_IDS) this.recentIds.delete(this.recentIds.keys().next().value!);
  }

  /**
   * What a subscriber resuming from `since` gets: the retained messages after it, and whether they are
   * all it missed (same epoch, nothing trimmed in between, not ahead of the stream).
   */
  resume(since: StreamPosition | undefined, now: number): { recovered: boolean; messages: Message[] } {
    if (!since) return { recovered: false, messages: [] };
    if (since.epoch !== this.epoch || since.offset > this.committed) return { recovered: false, messages: [] };
    this.expire(now);
    const messages = this.history.filter((m) => m.offset > since.offset);
    // Recovered only if the retained messages are exactly since+1 .. committed, with no hole.
    const recovered = messages.length === this.committed - since.offset &&
      messages.every((m, i) => m.offset === since.offset + 1 + i);
    return { recovered, messages };
  }

  /** Adds a subscription; `joined` when it is the user's first on this channel. */
  add(pushNode: string, session: string, user: UserId): { added: boolean; joined: boolean } {
    let sessions = this.subscribers.get(pushNode);
    if (!sessions) this.subscribers.set(pushNode, (sessions = new Map()));
    if (sessions.has(session)) return { added: false, joined: false };
    sessions.set(session, user);
    this.count++;
    if (user === null) return { added: true, joined: false };
    const n = this.users.get(user) ?? 0;
    this.users.set(user, n + 1);
    return { added: true, joined: n === 0 };
  }

  /** Removes a subscription; returns its user and whether that was the user's last, or null if absent. */
  remove(pushNode: string, session: string): { user: UserId; left: boolean } | null {
    const sessions = this.subscribers.get(pushNode);
    if (!sessions || !sessions.has(session)) return null;
    const user = sessions.get(session)!;
    sessions.delete(session);
    if (sessions.size === 0) this.subscribers.delete(pushNode);
    this.count--;
    if (user === null) return { user, left: false };
    const n = (this.users.get(user) ?? 1) - 1;
    if (n === 0) this.users.delete(user);
    else this.users.set(user, n);
    return { user, left: n === 0 };
  }

  /** Every (push node, session) subscribed as `user`. */
  sessionsOf(user: string): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [node, sessions] of this.subscribers) {
      for (const [session, u] of sessions) if (u === user) out.push([node, session]);
    }
    return out;
  }

  /** Everything a new owner needs (committed state only). */
  snapshot(): ChannelRecord {
    return {
      config: this.config, bans: Object.fromEntries(this.bans), epoch: this.epoch, offset: this.committed,
      term: this.term, termStart: this.termStart, history: this.history.slice(),
    };
  }

  /** No subscriber and nothing in flight: the state may be dropped from memory. */
  idle(): boolean {
    return this.count === 0 && this.assigned === this.committed;
  }
}
