/**
 * The record of a chaos run (Jepsen's "history") and what is read back from the cluster at its end: plain data,
 * written by the generator, subscribers and nemesis, read only by the checker. Times are ms since the run began.
 */

/** A position in a channel's stream. */
export interface Position { epoch: string; offset: number }

/** A server frame as received (JSON object). */
export type Frame = Record<string, unknown> & { type: string };

/** One publish request (the first try or a retry of the same id). */
export interface Attempt {
  t: number;
  publisher: string;
  channel: string;
  id: string;
  node: number;
  /** 1 for the first try of this id. */
  attempt: number;
  /** `ack`, or what went wrong: `timeout`, a connection error code, or the HTTP status and error code. */
  outcome: string;
  ms: number;
}

/** An acknowledged publish (HTTP 200). `data` is what was sent; it carries `id`. */
export interface Ack extends Position {
  t: number;
  publisher: string;
  channel: string;
  id: string;
  duplicate: boolean;
  node: number;
  data: unknown;
}

/** A publish whose retries ran out without an acknowledgement (not acknowledged, so never "lost"). */
export interface GaveUp { t: number; publisher: string; channel: string; id: string; attempts: number; last: string }

/** Everything one subscriber received, in order, across all its connections (`conn` counts them from 1). */
export interface SubscriberLog {
  name: string;
  user: string;
  frames: Array<{ t: number; conn: number; frame: Frame }>;
  /** Connections opened (1 = never reconnected). */
  connections: number;
}

export type FaultKind = 'kill' | 'pause' | 'partition';

/** What the nemesis did, and when. */
export interface NemesisEvent {
  t: number;
  round: number;
  what: 'kill' | 'restart' | 'pause' | 'resume' | 'cut' | 'heal' | 'converged' | 'no-convergence';
  node: number;
  /** For `restart`: ms until the node was ready; for `converged`: ms it took; for `no-convergence`: the error. */
  detail?: number | string;
}

/** Failover of one fault: from the fault until the first acknowledged publish (sent after it) on a channel the node owned. */
export interface Failover {
  round: number;
  kind: FaultKind;
  node: number;
  /** The probed channel; null when the node owned none of the run's channels. */
  channel: string | null;
  /** null: no acknowledgement before the probe gave up. */
  ms: number | null;
  /** From the fault until every survivor's GET /v1/cluster dropped the node; null: not within the probe's limit. */
  detectMs: number | null;
}

export interface History {
  channels: string[];
  /** The config patch the operator PUT on every channel at the start. */
  config: Record<string, unknown>;
  /** One banned user per channel (banned at the start for longer than the run). */
  bans: Array<{ channel: string; user: string }>;
  attempts: Attempt[];
  acks: Ack[];
  gaveUp: GaveUp[];
  /** Publishes answered with a status that is not worth a retry (4xx other than 429). */
  rejected: Attempt[];
  subscribers: SubscriberLog[];
  nemesis: NemesisEvent[];
  failovers: Failover[];
}

/** One channel as read back from the cluster at the end. */
export interface ChannelReadBack {
  /** GET history?since=0 (paged): the epoch, latest offset and every retained message. */
  epoch: string | null;
  offset: number;
  messages: Frame[];
  /** GET config, or null when it could not be read. */
  config: Record<string, unknown> | null;
  /** Whether the banned user was refused (`banned`) when subscribing; null when it could not be tried. */
  banHeld: boolean | null;
  /** What failed while reading this channel, if anything. */
  error?: string;
}

export interface ReadBack { channels: Record<string, ChannelReadBack> }

export function emptyHistory(channels: string[], config: Record<string, unknown>, bans: History['bans']): History {
  return { channels, config, bans, attempts: [], acks: [], gaveUp: [], rejected: [], subscribers: [], nemesis: [], failovers: [] };
}

/** The id the generator puts inside every message's data (`{"id": ..., ...}`), or undefined. */
export function dataId(data: unknown): string | undefined {
  const id = typeof data === 'object' && data !== null ? (data as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id : undefined;
}
