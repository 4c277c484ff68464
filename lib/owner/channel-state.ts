import type { ReplicatedChannel } from '../replication/replication.js';
import { newEpoch } from '../protocol/epoch.js';
import type { ChannelRecord, StoreOp } from '../store/store.js';
import { defaultChannelConfig, type ChannelConfig, type Message, type StreamPosition, type UserId } from '../protocol/types.js';

/** Most idempotency keys remembered per channel (stored and replicated with the history). */
export const MAX_RECENT_IDS = 10_000;

/** A write batch on its way to the required copies; it commits (becomes visible) in order. */
export interface PendingWrite {
  seq: number;
  /** The message it adds, if any (config and ban changes add none). */
  message: Message | null;
  /** Durable on every required copy. */
  done: boolean;
  /** Resolves when done (rejects if the write failed). */
  durable: Promise<void>;
}

/** One write batch: the store ops, its sequence number and the offset it follows. */
export interface Batch {
  seq: number;
  ops: StoreOp[];
  prev: number;
}

/**
 * What the owner holds for one channel: settings, bans, stream position, retained history and the
 * subscriber set grouped by push node. Changes are applied here when they are made (so a replica catch-up sees
 * them) and become visible to readers when they commit. No I/O: ChannelOwner does the storing and the sending.
 */
export class ChannelState implements ReplicatedChannel {
  config: ChannelConfig;
  readonly bans: Map<string, number>;
  epoch: string;
  /** Last offset handed out (may still be on its way to the copies). */
  assigned: number;
  /** Last offset that is durable on every required copy and was fanned out. */
  committed: number;
  /** Retained messages up to `assigned`, oldest first (readers see those up to `committed`). */
  history: Message[];
  /** Lowest offset that may still be stored on disk (for trimming). */
  storedFrom: number;
  /** Ownership term this node writes under (replication raises it when the replica changes). */
  term: number;
  /** Write batches created so far. */
  seq = 0;
  /** Writes not yet committed, oldest first. */
  readonly pending: PendingWrite[] = [];
  /** Handed to another node: every operation on this object must stop. */
  released = false;
  /** push node id -> session -> user. */
  readonly subscribers = new Map<string, Map<string, UserId>>();
  /** Number of subscriptions (sessions) over all push nodes. */
  count = 0;
  /** user -> number of its subscribed sessions (for presence). */
  readonly users = new Map<string, number>();
  /** Idempotency key -> offset, oldest first. */
  readonly recentIds = new Map<string, number>();
  /** `users` keys sorted (presence pages), rebuilt after a change. */
  private sorted: string[] | null = null;

  constructor(readonly name: string, rec: ChannelRecord, now: number) {
    this.config = { ...defaultChannelConfig(), ...(rec.config ?? {}) };
    this.bans = new Map(Object.entries(rec.bans).filter(([, until]) => until > now));
    this.term = rec.term;
    this.epoch = rec.epoch ?? newEpoch();
    this.assigned = this.committed = rec.offset;
    this.history = rec.history.filter((m) => m.offset <= rec.offset);
    this.storedFrom = this.history[0]?.offset ?? rec.offset + 1;
    for (const [id, offset] of rec.ids) this.recentIds.set(id, offset);
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

  /** Drops committed messages older than the history TTL or beyond its size. */
  expire(now: number): void {
    const { size, ttlSeconds } = this.config.history;
    const minTime = now - ttlSeconds * 1000;
    const committedCount = this.history.length - (this.assigned - this.committed);
    let drop = Math.max(0, this.history.length - size);
    while (drop < committedCount && this.history[drop]!.time < minTime) drop++;
    drop = Math.min(drop, Math.max(0, committedCount));
    if (drop > 0) this.history.splice(0, drop);
  }

  /** Committed messages with offset > `since`, oldest first. */
  committedAfter(since: number): Message[] {
    const out: Message[] = [];
    for (const m of this.history) if (m.offset > since && m.offset <= this.committed) out.push(m);
    return out;
  }

  /** Assigns the next offset; returns the message and the batch that makes it durable (and remembers `id`). */
  next(data: unknown, from: UserId, now: number, id?: string): { message: Message; batch: Batch } {
    const prev = this.assigned;
    const offset = ++this.assigned;
    const message: Message = { channel: this.name, epoch: this.epoch, offset, data, time: now, term: this.term };
    if (from !== null) message.from = from;
    const ops: StoreOp[] = [{ type: 'position', channel: this.name, epoch: this.epoch, offset, term: this.term }];
    const keepFrom = offset - this.config.history.size + 1;
    for (; this.storedFrom < keepFrom; this.storedFrom++) ops.push({ type: 'drop', channel: this.name, offset: this.storedFrom });
    if (this.config.history.size > 0) {
      ops.push({ type: 'append', message });
      this.history.push(message);
    }
    if (id !== undefined) this.rememberId(id, offset, ops);
    return { message, batch: { seq: ++this.seq, ops, prev } };
  }

  /** Applies a new config and returns the batch that stores it. */
  setConfig(config: ChannelConfig, now: number): Batch {
    this.config = config;
    this.expire(now);
    return this.batch([{ type: 'config', channel: this.name, config }]);
  }

  /** Bans `user` until `until` (ms) and returns the batch that stores it. */
  ban(user: string, until: number): Batch {
    this.bans.set(user, until);
    return this.batch([{ type: 'ban', channel: this.name, user, until }]);
  }

  /** Marks committed every pending write from the front that is durable; returns their messages, in order. */
  advance(now: number): Message[] {
    const out: Message[] = [];
    while (this.pending.length > 0 && this.pending[0]!.done) {
      const p = this.pending.shift()!;
      if (p.message) {
        this.committed = p.message.offset;
        out.push(p.message);
      }
    }
    if (out.length > 0) this.expire(now);
    return out;
  }

  /**
   * What a subscriber resuming from `since` gets: the retained messages after it, and whether they are
   * all it missed (same epoch, nothing trimmed in between, not ahead of the stream).
   */
  resume(since: StreamPosition | undefined, now: number): { recovered: boolean; messages: Message[] } {
    if (!since) return { recovered: false, messages: [] };
    if (since.epoch !== this.epoch || since.offset > this.committed) return { recovered: false, messages: [] };
    this.expire(now);
    const messages = this.committedAfter(since.offset);
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
    if (n === 0) this.sorted = null;
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
    if (n === 0) {
      this.users.delete(user);
      this.sorted = null;
    } else this.users.set(user, n);
    return { user, left: n === 0 };
  }

  /** The members, sorted (cached until the member set changes). */
  sortedUsers(): string[] {
    return (this.sorted ??= [...this.users.keys()].sort());
  }

  /** Every (push node, session) subscribed as `user`. */
  sessionsOf(user: string): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [node, sessions] of this.subscribers) {
      for (const [session, u] of sessions) if (u === user) out.push([node, session]);
    }
    return out;
  }

  /** Everything a copy needs: the state as written so far (through `assigned` and batch `seq`). */
  snapshot(): ChannelRecord {
    return {
      config: this.config, bans: Object.fromEntries(this.bans), epoch: this.epoch, offset: this.assigned,
      term: this.term, promised: this.term, owner: '', complete: true, active: this.term, history: this.history.slice(), ids: [...this.recentIds],
    };
  }

  /** No subscriber and nothing in flight: the state may be dropped from memory. */
  idle(): boolean {
    return this.count === 0 && this.pending.length === 0;
  }

  private batch(ops: StoreOp[]): Batch {
    return { seq: ++this.seq, ops, prev: this.assigned };
  }

  /** Remembers an idempotency key; the oldest beyond MAX_RECENT_IDS is forgotten (ops store both). */
  private rememberId(id: string, offset: number, ops: StoreOp[]): void {
    this.recentIds.set(id, offset);
    ops.push({ type: 'id', channel: this.name, id, offset });
    if (this.recentIds.size > MAX_RECENT_IDS) {
      const [oldest, at] = this.recentIds.entries().next().value!;
      this.recentIds.delete(oldest);
      ops.push({ type: 'dropId', channel: this.name, offset: at });
    }
  }
}
