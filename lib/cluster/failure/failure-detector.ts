import type { PeerAddress } from './port-probe.js';

/** Why a peer was declared dead: its suspicion ran out, or its address refused a probe (its process is gone). */
export type DeathReason = 'timeout' | 'refused';

/** Counters of a failure detector since start, for metrics. */
export interface FailureStats {
  /** Peers this node began to suspect. */
  suspicions: number;
  /** Suspicions that ended with the peer proven alive (a frame from it, another member's contact, a refutation). */
  recovered: number;
  /** Suspicions of this node that it refuted by raising its incarnation. */
  refutations: number;
  /** Peers this node declared dead and dropped from its view. */
  deaths: number;
  /** Of `deaths`, those confirmed by the peer's address refusing a probe. */
  refusedDeaths: number;
  /** Current local health multiplier: 1 when healthy, up to 8 when this node keeps catching itself late. */
  healthMultiplier: number;
}

/** What a detector needs from the links it watches. */
export interface DetectorLinks {
  /** Sends a failure-detector message to admitted peer `id`, ahead of data queued in the same tick. */
  send(id: string, payload: Buffer): void;
  /**
   * Sends a heartbeat to `id` the cheapest way the link allows (a datagram: no stream write, no acknowledgement);
   * it may be lost, which the detector tolerates (a suspicion needs several missed beats). Absent: send() is used.
   */
  beat?(id: string, payload: Buffer): void;
  /** `id` is dead: drop it from the view and close its link. Called once per death. */
  dead(id: string, reason: DeathReason): void;
}

/** Watches admitted peers and decides which are dead. Implementation: lifeguard-detector.ts. */
export interface FailureDetector {
  /** Starts watching a newly admitted peer; `address` tells where its link ends (null: unknown, no probes). */
  add(id: string, address: () => PeerAddress | null): void;
  /** Stops watching `id` (its link closed); no `dead` call follows. */
  remove(id: string): void;
  /** Anything arrived from `id`: it is alive now. Cheap: called for every chunk read. */
  heard(id: string): void;
  /** Handles a failure-detector message from `from`; false if it is malformed (the link should be dropped). */
  receive(from: string, payload: Buffer): boolean;
  /** Clock time (performance.now()) a frame last arrived from `id`; now for this node, undefined for a stranger. */
  lastHeard(id: string): number | undefined;
  /** Counters since start. */
  stats(): FailureStats;
  /** Starts the heartbeat timer. */
  start(): void;
  /** Stops the timer and forgets every peer; nothing is sent or declared after it. */
  stop(): void;
}
