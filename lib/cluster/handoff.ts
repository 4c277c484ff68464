import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import { newEpoch } from '../owner/channel-state.js';
import type { ChannelRecord, Store } from '../store/store.js';
import { ownerOf } from './router.js';
import type { Rpc } from './rpc.js';

/** What the local owner role offers the handoff: giving a channel away and taking one in. */
export interface HandoffOwner {
  /** Stops owning `channel` (in-flight writes finish first) and returns its committed state, or null. */
  release(channel: string, to: string): Promise<ChannelRecord | null>;
  /** Stores a channel handed over by a node that is leaving (kept only if newer than ours). */
  adopt(channel: string, record: ChannelRecord): Promise<void>;
  /** Whether `channel` is loaded here as owner. */
  holds(channel: string): boolean;
}

export interface HandoffDeps {
  self: string;
  /** The current membership view (admitted live nodes, this one included). */
  members: () => string[];
  rpc: Rpc;
  store: Store;
  owner: HandoffOwner;
  log: Logger;
  now?: () => number;
}

/** a is newer than b: higher ownership term, then further offset. */
const newer = (a: ChannelRecord, b: ChannelRecord) => a.term > b.term || (a.term === b.term && a.offset > b.offset);

/**
 * Moves channel state between owners when the membership view changes.
 *
 * - Taking over (first load of a channel this node now owns): the node that would own the channel if this
 *   one did not exist is exactly the previous owner when this node joined (rendezvous hashing), so it is
 *   asked to release the channel; the newer of its state and our stored copy wins, same epoch and offset.
 * - If the channel's owner vanished without handing off (crash), its last writes may be lost: the new owner
 *   starts a new epoch, so every resume across the loss answers recovered:false (never a silent gap).
 * - A node leaving on purpose first hands each channel it owns to its next owner (`leaveGracefully`).
 * Every takeover bumps the channel's ownership term, stored with its position.
 */
export class Handoff {
  /** Nodes that vanished without handing off, with the time they were seen gone. */
  private readonly lost = new Map<string, number>();
  /** Nodes that announced a graceful leave. */
  private readonly leaving = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly deps: HandoffDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** A node was admitted: whatever it owns it will take over itself. */
  joined(id: string): void {
    this.lost.delete(id);
    this.leaving.delete(id);
  }

  /** A node is gone: a crash unless it announced leaving. */
  left(id: string): void {
    if (this.leaving.delete(id)) return;
    this.lost.set(id, this.now());
  }

  /** A peer announced it is leaving and handing its channels over. */
  announcedLeaving(id: string): void {
    this.leaving.add(id);
  }

  /** The state to load for a channel this node now owns; persisted (with the next term) before it is used. */
  async acquire(channel: string): Promise<ChannelRecord> {
    const { self, store, rpc } = this.deps;
    const members = this.deps.members();
    const others = members.filter((m) => m !== self);
    let best = await store.load(channel);
    const ownTerm = best.term;
    if (others.length > 0) {
      const previous = ownerOf(channel, others);
      try {
        const theirs = await rpc.request<ChannelRecord | null>(previous, 'owner.release', { c: channel });
        if (theirs && newer(theirs, best)) best = theirs;
      } catch (err) {
        if (this.deps.members().includes(previous)) {
          throw new HashpubError('unavailable', 'the previous owner has not handed this channel over yet; retry', { cause: err, retryAfter: 1 });
        }
      }
    }
    const record: ChannelRecord = { ...best, history: best.history.slice() };
    const lostAt = this.lostOwnerAt(channel, members);
    if (lostAt !== undefined && best.termStart <= lostAt) {
      // The owner died holding writes nobody else has: a new epoch tells every resuming client.
      this.deps.log.warn({ channel, lastKnownOffset: best.offset }, 'channel owner was lost: starting a new epoch');
      record.epoch = newEpoch();
      record.offset = 0;
      record.history = [];
    }
    record.epoch ??= newEpoch();
    record.term = Math.max(ownTerm, best.term) + 1;
    record.termStart = this.now();
    await store.replace(channel, record);
    return record;
  }

  /** Before a graceful stop: tell the peers, then hand every channel this node owns to its next owner. */
  async leaveGracefully(): Promise<number> {
    const { self, rpc, store, owner } = this.deps;
    const members = this.deps.members();
    const others = members.filter((m) => m !== self);
    if (others.length === 0) return 0;
    for (const id of others) rpc.notify(id, 'cluster.leaving', {});
    let moved = 0;
    for await (const channel of store.channels()) {
      if (!owner.holds(channel) && ownerOf(channel, members) !== self) continue;
      const to = ownerOf(channel, others);
      try {
        const record = await owner.release(channel, to);
        if (record && record.epoch !== null) {
          await rpc.request(to, 'owner.adopt', { c: channel, r: record });
          moved++;
        }
      } catch (err) {
        this.deps.log.warn({ err, channel, to }, 'handing a channel over failed');
      }
    }
    return moved;
  }

  /** When a lost node would own `channel` (it owned it before vanishing), the time it was lost. */
  private lostOwnerAt(channel: string, members: string[]): number | undefined {
    let at: number | undefined;
    for (const [id, when] of this.lost) {
      if (!members.includes(id) && ownerOf(channel, [...members, id]) === id) at = Math.max(at ?? 0, when);
    }
    return at;
  }
}
