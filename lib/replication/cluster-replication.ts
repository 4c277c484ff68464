// Two copies over the cluster links: the owner side (OwnerLinks), the replica side (Follower), take-overs
// (Claims) and the quorum (KnownMembers), wired together. lib/cluster/cluster.ts creates it, feeds it membership
// events and routes `repl.*` requests to handle().
import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { ChannelRecord, Store } from '../store/store.js';
import { Claims } from './claims.js';
import { Follower, type AppendEntry } from './follower.js';
import { OwnerLinks } from './owner-links.js';
import { KnownMembers } from './quorum.js';
import type { LocalOwner, NodeLink, ReplicaStatus, ReplicatedChannel, Replication, ReplicationMode } from './replication.js';
import { takeLocally } from './single-copy.js';
import type { Refusal } from './terms.js';

/** Counters the replication layer reports (lib/metrics.ts turns them into Prometheus metrics). */
export interface ReplicationCounters {
  /** One `repl.append` frame sent with this many write batches. */
  appendFrame(entries: number): void;
  /** A replica catch-up finished after this many chunks. */
  sync(chunks: number): void;
  /** This node, as a replica, refused a request. */
  refused(reason: Refusal): void;
}

export interface ClusterReplicationDeps {
  link: NodeLink;
  store: Store;
  /** The node's group commit (shared with the owner, so every local write of a turn is one batch). */
  commit: GroupCommit;
  log: Logger;
  owner: () => LocalOwner;
  /** The owner of `channel` in the current view. */
  ownerOf(channel: string): string;
  /** The first `n` nodes of `channel`'s rendezvous ranking over `members`. */
  ranked(channel: string, members: string[], n: number): string[];
  /** 2: acknowledge after two durable copies; 1: after the owner's own (the replica follows, best effort). */
  minCopies: 1 | 2;
  /** Longest wait of a take-over for its claims and its replica. */
  timeoutMs: number;
  counters?: ReplicationCounters;
}

/** Replication across the cluster (see the file comment). */
export class ClusterReplication implements Replication {
  readonly known: KnownMembers;
  private readonly follower: Follower;
  private readonly links: OwnerLinks;
  private readonly claims: Claims;
  private hadQuorum = false;

  constructor(private readonly deps: ClusterReplicationDeps) {
    const { link, store, commit, log } = deps;
    this.known = new KnownMembers(store, link.self);
    this.follower = new Follower({
      self: link.self, store, commit, owner: deps.owner, viewOwner: deps.ownerOf,
      onRefused: (r) => deps.counters?.refused(r),
    });
    this.claims = new Claims({
      link, store, commit, log, timeoutMs: deps.timeoutMs,
      candidates: (c) => deps.ranked(c, link.members().filter((m) => m !== link.self), 3),
      tolerant: () => this.mode().copies === 1,
      quorum: () => this.mode().writable,
    });
    this.links = new OwnerLinks({
      link, log, timeoutMs: deps.timeoutMs,
      replicaOf: (c) => this.replicaOf(c),
      reclaim: async (ch) => {
        const snap = ch.snapshot();
        ch.term = await this.claims.reclaim(ch.name, ch.term, { epoch: snap.epoch, offset: snap.offset });
        this.follower.invalidate(ch.name);
      },
      activate: (ch, replica) => this.claims.activate(ch.name, ch.term, replica),
      fenced: (c) => deps.owner().fenced(c),
      onAppendFrame: (n) => deps.counters?.appendFrame(n),
      onSync: (n) => deps.counters?.sync(n),
    });
  }

  /** Loads the known members; call before the node joins. */
  async start(): Promise<void> {
    await this.known.load();
  }

  // ---- membership events (from lib/cluster/cluster.ts) ----

  /** A node was admitted: it counts for the quorum from now on. */
  joined(id: string): Promise<void> {
    return this.known.add([id]);
  }

  /** A peer told which nodes it knows: they count too. */
  learned(ids: unknown): Promise<void> {
    return Array.isArray(ids) ? this.known.add(ids as string[]) : Promise.resolve();
  }

  /** A node announced a graceful leave: it no longer counts for the quorum. */
  leftGracefully(id: string): Promise<void> {
    return this.known.remove(id);
  }

  /**
   * Call first when the view changed: true if this node's quorum changed with it (the owner must then drop every
   * channel: ones taken over with a quorum may be stale without one, read-only ones must now be taken over).
   */
  quorumChanged(): boolean {
    const quorum = this.mode().quorum;
    const changed = quorum !== this.hadQuorum;
    this.hadQuorum = quorum;
    return changed;
  }

  /** The view changed (after the owner dropped what moved): replicas that changed are caught up. */
  viewChanged(): void {
    if (this.mode().copies === 2 || this.deps.link.members().length > 1) this.links.adopt(this.deps.owner().held());
    this.links.viewChanged();
  }

  /** Answers a `repl.*` request from node `from`. */
  handle(from: string, op: string, args: Record<string, unknown>): Promise<unknown> {
    const c = typeof args?.c === 'string' ? args.c : '';
    const t = Number(args?.t);
    switch (op) {
      case 'repl.claim': return this.follower.claim(from, need(c), need(t));
      case 'repl.probe': return this.follower.probe(need(c));
      case 'repl.activate': return this.follower.activate(from, need(c), need(t));
      case 'repl.sync': return this.follower.sync(from, need(c), need(t), args.k as never);
      case 'repl.append': return this.follower.append(from, Array.isArray(args.e) ? args.e as AppendEntry[] : []);
      case 'repl.pull': return this.follower.pull(need(c), Number(args.i) || 0, args.s === true);
      default: return Promise.reject(new HashpubError('bad_request', `unknown replication op ${op}`));
    }
  }

  // ---- Replication ----

  async acquire(channel: string): Promise<ChannelRecord> {
    const { link, store, commit } = this.deps;
    const mode = this.mode();
    this.follower.invalidate(channel);
    if (mode.copies === 1 && link.members().length === 1) return takeLocally(store, commit, channel, link.self);
    if (!mode.quorum) this.checkWritable();
    const { record, copies } = await this.claims.acquire(channel);
    this.follower.invalidate(channel);
    const ch: ReplicatedChannel = { name: channel, term: record.term, seq: 0, released: false, snapshot: () => record };
    const replica = this.replicaOf(channel);
    if (mode.copies === 2) {
      try {
        await this.links.syncNow(ch, replica ? copies.get(replica) ?? null : null);
      } catch (err) {
        // Nobody will own this stand-in: its link must not live on (a later view change would restart its
        // catch-up, which re-claims and activates a higher term for a channel this node does not hold, fencing
        // the real owner and forcing a new epoch at the next take-over).
        this.links.forget(channel);
        throw err;
      }
    } else if (replica) void this.links.syncNow(ch, copies.get(replica) ?? null).catch(() => {});
    // A replica that changed during the catch-up made it re-claim a higher term: the owner writes under that one.
    record.term = Math.max(record.term, ch.term);
    record.promised = Math.max(record.promised, ch.term);
    return record;
  }

  attach(ch: ReplicatedChannel): void {
    this.links.attach(ch);
  }

  replicate(ch: ReplicatedChannel, seq: number, ops: Parameters<Replication['replicate']>[2], prev: number): Promise<void> {
    if (this.mode().copies === 1) {
      if (this.replicaOf(ch.name)) void this.links.replicate(ch, seq, ops, prev).catch(() => {});
      return Promise.resolve();
    }
    return this.links.replicate(ch, seq, ops, prev);
  }

  checkWritable(): void {
    const m = this.mode();
    if (m.writable) return;
    const seen = this.deps.link.members().filter((id) => this.known.has(id)).length;
    throw new HashpubError('unavailable', `this node sees ${seen} of the ${m.known.length} cluster nodes it knows, not a majority, ` +
      'so it cannot own channels safely: retry on another node, or start nodes with --min-copies 1 to accept one copy', { retryAfter: 1 });
  }

  status(channel: string): ReplicaStatus {
    return this.links.status(channel);
  }

  mode(): ReplicationMode {
    const minCopies = this.deps.minCopies;
    const view = this.deps.link.members();
    const copies: 1 | 2 = minCopies === 1 || this.known.size <= 1 ? 1 : 2;
    const quorum = copies === 1 || this.known.quorum(view);
    return { copies, minCopies, known: this.known.ids(), quorum, writable: copies === 1 || (quorum && view.length >= 2) };
  }

  /** Write batches not yet on their replica, and channels whose replica is catching up. */
  lag(): { batches: number; behind: number } {
    return this.links.lag();
  }

  forget(channel: string): void {
    this.links.forget(channel);
    // The owner wrote this channel's copy directly: the replica side must read it from the store again.
    this.follower.invalidate(channel);
  }

  /** Stops replicating (shutdown); resolves once the known-members writes already queued are stored. */
  close(): Promise<void> {
    this.links.close();
    return this.known.close();
  }

  /**
   * Before a graceful leave: waits (up to `ms`) until every channel held here has a caught-up replica, so the
   * replica that takes over after this node is gone continues with the same epoch.
   */
  async flush(ms: number): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const behind = [...this.deps.owner().held()].filter((ch) => !this.links.status(ch.name).caughtUp).length;
      if (behind === 0 || Date.now() > deadline) return behind;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The node that holds (or should hold) the second copy of `channel` in the current view. */
  private replicaOf(channel: string): string | null {
    const view = this.deps.link.members();
    if (view.length < 2) return null;
    return this.deps.ranked(channel, view, 2)[1] ?? null;
  }

}

function need<T extends string | number>(v: T): T {
  if (v === '' || (typeof v === 'number' && !Number.isFinite(v))) throw new HashpubError('bad_request', 'malformed replication request');
  return v;
}
