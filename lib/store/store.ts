import type { ChannelConfig, Message } from '../protocol/types.js';

/** Everything a node persists about one channel it owns. */
export interface ChannelRecord {
  /** Settings set through the API or hooks; null = never set (defaults apply). */
  config: ChannelConfig | null;
  /** user id -> ban end (ms since epoch). */
  bans: Record<string, number>;
  /** Stream position; epoch null = the channel has no stream yet. */
  epoch: string | null;
  offset: number;
  /** Ownership term: grows each time a node takes the channel over in a cluster (0 = never). */
  term: number;
  /** ms since the epoch when the current term began. */
  termStart: number;
  /** Retained messages in offset order (oldest first). */
  history: Message[];
}

/** One change; a `write()` applies a list of them atomically. */
export type StoreOp =
  | { type: 'append'; message: Message }
  | { type: 'drop'; channel: string; offset: number }
  | { type: 'position'; channel: string; epoch: string; offset: number; term: number; termStart: number }
  | { type: 'config'; channel: string; config: ChannelConfig }
  | { type: 'ban'; channel: string; user: string; until: number }
  | { type: 'unban'; channel: string; user: string };

/** Durable storage of channel state. Implementations: level-store.ts, memory-store.ts. */
export interface Store {
  /** Opens the store; must be called once before anything else. */
  open(): Promise<void>;
  /** Everything stored for `channel` (an empty record if nothing is). */
  load(channel: string): Promise<ChannelRecord>;
  /** Applies `ops` atomically; durable against a process crash once the promise resolves. */
  write(ops: StoreOp[]): Promise<void>;
  /** Replaces everything stored for `channel` with `record`, atomically (ownership handoff). */
  replace(channel: string, record: ChannelRecord): Promise<void>;
  /** Names of every channel with stored state. */
  channels(): AsyncIterable<string>;
  /** Releases files and locks. */
  close(): Promise<void>;
}

export const emptyRecord = (): ChannelRecord => ({ config: null, bans: {}, epoch: null, offset: 0, term: 0, termStart: 0, history: [] });

/** The ops that write `record` for `channel` from nothing. */
export function recordOps(channel: string, record: ChannelRecord): StoreOp[] {
  const ops: StoreOp[] = [];
  if (record.config) ops.push({ type: 'config', channel, config: record.config });
  for (const [user, until] of Object.entries(record.bans)) ops.push({ type: 'ban', channel, user, until });
  if (record.epoch !== null) {
    ops.push({ type: 'position', channel, epoch: record.epoch, offset: record.offset, term: record.term, termStart: record.termStart });
  }
  for (const message of record.history) ops.push({ type: 'append', message });
  return ops;
}
