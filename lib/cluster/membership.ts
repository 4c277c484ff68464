import type { EventEmitter } from 'node:events';
import type { FailureStats } from './failure/failure-detector.js';

export type { FailureStats } from './failure/failure-detector.js';

/** Events of a membership view: `join`/`leave` per node, then `change` once the view has been updated. */
export interface MembershipEvents {
  join: [id: string];
  leave: [id: string];
  change: [];
}

/** Gets one frame from an admitted peer; must not throw. `frame` views a receive buffer (copy it to keep it long). */
export type FrameHandler = (from: string, frame: Buffer) => void;

/** The set of admitted live nodes and a framed, batched link to each. Implementation: hyperswarm-membership.ts. */
export interface Membership extends Pick<EventEmitter<MembershipEvents>, 'on' | 'once' | 'off'> {
  /** This node's id: its hyperswarm public key, hex. */
  readonly self: string;
  /** Ids of the admitted live nodes, this one included, sorted (a fresh array). */
  members(): string[];
  /** The HTTP URL a member advertised (this node's included), undefined for a non-member. */
  urlOf(id: string): string | undefined;
  /** Queues `frame` for admitted peer `id` (one write per peer per tick); false for self, a non-member, oversize. */
  send(id: string, frame: Buffer): boolean;
  /** Sets the one handler for frames from admitted peers (a later call replaces it). */
  onFrame(handler: FrameHandler): void;
  /** performance.now() time anything (data or heartbeat) last arrived from member `id`; now for self, undefined for a non-member. */
  lastHeard(id: string): number | undefined;
  /** Failure-detector counters (suspicions, refutations, confirmed deaths) and the local health multiplier. */
  failureStats(): FailureStats;
  /**
   * Members another member has that this one may lack: dial those it has no link to (a pair whose first attempts
   * failed while the machine was busy is otherwise not tried again until the next discovery refresh).
   */
  seek?(ids: readonly string[]): void;
  /** Joins the cluster; resolves once this node is announced and looking for peers. */
  start(): Promise<void>;
  /** Leaves the cluster and releases every socket and timer; no event is emitted after it is called. */
  stop(): Promise<void>;
}

/** Traffic counters of the node-to-node links, for metrics. */
export interface LinkStats {
  /** Frames written to peers. */
  framesSent: number;
  /** Stream writes to peers (frames queued in one tick for one peer share one write). */
  writes: number;
  /** Bytes written to peers, framing and admission included. */
  bytesSent: number;
  /** Frames delivered from admitted peers. */
  framesReceived: number;
  /** Bytes read from peers, framing and admission included. */
  bytesReceived: number;
  /** Peers that proved the cluster secret (connections, not distinct nodes). */
  admitted: number;
  /** Connections dropped for a failed admission or a protocol violation. */
  rejected: number;
  /** Failure-detector frames written (heartbeats, suspicions, probes); not in framesSent, but in writes and bytes. */
  controlSent: number;
  /** Failure-detector frames received; not in framesReceived. */
  controlReceived: number;
}

/** Optional capability: a membership that counts its traffic. */
export interface StatsSource {
  /** A snapshot of the traffic counters. */
  stats(): LinkStats;
}

/** True if `m` counts its traffic (see StatsSource). */
export function hasStats<M extends Membership>(m: M): m is M & StatsSource {
  return typeof (m as Partial<StatsSource>).stats === 'function';
}
