/*
 * Live figures of a node and of the whole cluster (GET /v1/stats, the dashboard). The node samples itself
 * once a second (node-stats.ts); a node answering for the cluster asks every member over the node links
 * (cluster-stats.ts).
 */

/** One node's figures, sampled about once a second. */
export interface NodeStats {
  id: string;
  url: string;
  /** When the sample was taken, ms since the epoch. */
  time: number;
  uptimeSeconds: number;
  /** Attached client connections by transport (ws, sse, poll) and their total. */
  connections: { ws: number; sse: number; poll: number; total: number };
  /** Sessions held here (attached, or waiting for a resume). */
  sessions: number;
  /** Subscriptions held here. */
  subscriptions: number;
  /** Messages accepted by channels this node owns, per second over the last sample. */
  messagesInPerSecond: number;
  /** Message frames written to local clients, per second over the last sample. */
  messagesOutPerSecond: number;
  /** Totals since the node started. */
  messagesIn: number;
  messagesOut: number;
  /** Event-loop delay over the last sample, ms. */
  eventLoopLagMs: { mean: number; p99: number; max: number };
  memory: { rssBytes: number; heapUsedBytes: number };
  /** Copies, quorum, whether writes are acknowledged, and replica lag; null on a single node. */
  replication: { copies: number; quorum: boolean; writable: boolean; lagBatches: number; behindChannels: number } | null;
}

/** One point of the recent past (the dashboard's chart). */
export interface StatsSample {
  time: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  connections: number;
  /** p99 of the event-loop delay over the sample's second. */
  eventLoopLagMs: number;
  /** The longest event-loop delay in the sample's second (a stall shows here, not in the p99). */
  eventLoopMaxMs: number;
}

/** Where a node's own figures come from. */
export interface StatsSource {
  /** The latest sample of this node. */
  current(): NodeStats;
  /** Samples of the last minutes, oldest first (one a second). */
  history(): StatsSample[];
}

/** A member's answer in the cluster view: its figures, or why they could not be had. */
export type MemberStats =
  | { id: string; url: string; ok: true; stats: NodeStats; history?: StatsSample[] }
  | { id: string; url: string; ok: false; error: string };

/** GET /v1/stats: every member's figures and their sums. */
export interface ClusterStats {
  /** The node that answered. */
  node: string;
  time: number;
  members: MemberStats[];
  totals: {
    members: number;
    connections: number;
    sessions: number;
    subscriptions: number;
    messagesInPerSecond: number;
    messagesOutPerSecond: number;
  };
}
