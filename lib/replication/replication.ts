// Two copies of every channel (DESIGN.md "Replication and failover"): the interfaces between the channel owner,
// the replication layer and the node links. Implementations: cluster-replication.ts (owner + replica over the
// cluster links), single-copy.ts (a node alone from the start, or no cluster at all).
import type { ChannelRecord, StoreOp } from '../store/store.js';

/** A channel as the owner holds it, seen by replication (ChannelState implements it). */
export interface ReplicatedChannel {
  /** Channel name. */
  readonly name: string;
  /** Ownership term this node writes under; replication raises it when the replica changes. */
  term: number;
  /** Write batches created so far (each config change, ban or message is one). */
  readonly seq: number;
  /** Handed to another node or dropped: replication stops for it. */
  readonly released: boolean;
  /** Everything a replica needs to hold the channel as it is now (through batch `seq`). */
  snapshot(): ChannelRecord;
}

/** Where a channel's second copy stands, for GET /v1/channels/{c}/owner and the dashboard. */
export interface ReplicaStatus {
  /** The node holding the second copy, or null when there is none (one copy, or no replica reachable). */
  node: string | null;
  /** The replica holds everything acknowledged so far (false while it catches up or after a failure). */
  caughtUp: boolean;
  /** Write batches created but not yet durable on the replica. */
  lag: number;
}

/** What this node's replication allows right now, for GET /v1/cluster. */
export interface ReplicationMode {
  /** Copies an acknowledgement waits for: 2, or 1 for a node alone from the start or with --min-copies 1. */
  copies: 1 | 2;
  /** The --min-copies setting. */
  minCopies: 1 | 2;
  /** Node ids that count for the quorum (every node seen that did not leave on purpose), this one included. */
  known: string[];
  /** This node sees a majority of the known nodes (always true with one copy). */
  quorum: boolean;
  /** Writes can be acknowledged here now. */
  writable: boolean;
}

/** The replication layer as the channel owner uses it. */
export interface Replication {
  /**
   * Takes `channel` over for this node: claims a new ownership term from the nodes that may hold it (fencing
   * the old owner), continues from the newest surviving copy (a new epoch when acknowledged data may be lost)
   * and brings the replica up to date. Throws `unavailable` without a quorum: a node's own copy may end in
   * writes that were never acknowledged, so it is not served on its own.
   */
  acquire(channel: string): Promise<ChannelRecord>;
  /** The owner now holds `ch`, made from the record `acquire` answered: replication follows this object. */
  attach(ch: ReplicatedChannel): void;
  /** Resolves once write batch `seq` (`ops`, written after offset `prevOffset`) is durable on the replica. */
  replicate(ch: ReplicatedChannel, seq: number, ops: StoreOp[], prevOffset: number): Promise<void>;
  /** Throws `unavailable` when no write can be acknowledged now (no quorum, no replica). */
  checkWritable(): void;
  /** Where the channel's replica stands (channels this node holds). */
  status(channel: string): ReplicaStatus;
  /** This node's replication mode. */
  mode(): ReplicationMode;
  /** The owner stopped holding `channel` (moved, dropped, released): forget its replica state. */
  forget(channel: string): void;
}

/** What the replication layer needs from the local owner role (ChannelOwner implements it). */
export interface LocalOwner {
  /** Stops owning `channel` here (another node claimed it); resolves when local writes in flight are durable. */
  release(channel: string): Promise<void>;
  /** Whether `channel` is held (or being taken over) here. */
  holds(channel: string): boolean;
  /** A replica answered that another node holds a newer term: stop owning `channel` at once. */
  fenced(channel: string): void;
  /** Channels held here as owner (not read-only ones). */
  held(): Iterable<ReplicatedChannel>;
}

/** Request/response to other cluster nodes (the cluster's Rpc implements it). */
export interface NodeLink {
  /** This node's id. */
  readonly self: string;
  /** The current membership view, this node included. */
  members(): string[];
  /** Sends request `op` to `to`; rejects with a HashpubError (unavailable, timeout, or the remote's error). */
  request<T>(to: string, op: string, args: unknown): Promise<T>;
}
