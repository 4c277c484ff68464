import type { PresenceDiff, PushTarget } from './owner-api.js';

/** The part of a channel's state presence batching reads. */
export interface PresenceChannel {
  readonly name: string;
  readonly released: boolean;
  readonly config: { presence: boolean | 'count'; presenceEvents: boolean };
  /** Distinct subscribed users (the members). */
  readonly users: ReadonlyMap<string, number>;
  /** Push node id -> its sessions on the channel. */
  readonly subscribers: ReadonlyMap<string, ReadonlyMap<string, unknown>>;
}

interface Pending {
  joins: Set<string>;
  leaves: Set<string>;
  /** Push nodes that have not had the member list yet: they get it whole. */
  fresh: Set<string>;
}

/**
 * Join/leave events of channels with `presenceEvents` on, batched: changes of one interval become at most one
 * diff per push node ({joins, leaves, count}), encoded once there for all its subscribers, never one frame per join
 * per subscriber. A push node new to the channel gets the whole member list instead, so it can hand a snapshot to
 * every local subscriber that joins later.
 */
export class PresenceBatcher {
  private readonly pending = new Map<PresenceChannel, Pending>();
  private timer: NodeJS.Timeout | null = null;
  /** Diffs sent to push nodes so far (metrics, benchmarks). */
  sent = 0;

  constructor(private readonly deps: { intervalMs: number; push(node: string): PushTarget | undefined }) {}

  /** `user` became a member. */
  joined(ch: PresenceChannel, user: string): void {
    const p = this.entry(ch);
    if (!p) return;
    if (!p.leaves.delete(user)) p.joins.add(user);
  }

  /** `user` stopped being a member. */
  left(ch: PresenceChannel, user: string): void {
    const p = this.entry(ch);
    if (!p) return;
    if (!p.joins.delete(user)) p.leaves.add(user);
  }

  /** Push node `node` got its first subscriber of the channel: it needs the whole list. */
  pushNodeAdded(ch: PresenceChannel, node: string): void {
    this.entry(ch)?.fresh.add(node);
  }

  /** Sends what is pending now (tests; the timer does it every interval). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = [...this.pending];
    this.pending.clear();
    for (const [ch, p] of batch) {
      if (ch.released || !ch.config.presenceEvents) continue;
      const names = ch.config.presence === true;
      const count = ch.users.size;
      // Only net changes: a user who left and came back within the interval is no change at all.
      const joins = names ? [...p.joins].filter((u) => ch.users.has(u)) : [];
      const leaves = names ? [...p.leaves].filter((u) => !ch.users.has(u)) : [];
      const changed = joins.length > 0 || leaves.length > 0 || (!names && (p.joins.size > 0 || p.leaves.size > 0));
      let whole: PresenceDiff | undefined;
      const diff: PresenceDiff = names ? { joins, leaves, count } : { joins, leaves, count, countOnly: true };
      for (const node of ch.subscribers.keys()) {
        if (p.fresh.has(node)) {
          whole ??= { ...diff, joins: [], leaves: [], members: names ? [...ch.users.keys()] : [] };
          this.deps.push(node)?.presence(ch.name, whole);
        } else if (changed) this.deps.push(node)?.presence(ch.name, diff);
        else continue;
        this.sent++;
      }
    }
  }

  /** Stops the timer (shutdown). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
  }

  private entry(ch: PresenceChannel): Pending | null {
    if (!ch.config.presenceEvents || ch.config.presence === false) return null;
    let p = this.pending.get(ch);
    if (!p) this.pending.set(ch, (p = { joins: new Set(), leaves: new Set(), fresh: new Set() }));
    this.timer ??= setTimeout(() => this.flush(), this.deps.intervalMs).unref();
    return p;
  }
}
