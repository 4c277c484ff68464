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
  /** Retained messages in offset order (oldest first). */
  history: Message[];
}

/** One change; a `write()` applies a list of them atomically. */
export type StoreOp =
  | { type: 'append'; message: Message }
  | { type: 'drop'; channel: string; offset: number }
  | { type: 'position'; channel: string; epoch: string; offset: number }
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
  /** Names of every channel with stored state. */
  channels(): AsyncIterable<string>;
  /** Releases files and locks. */
  close(): Promise<void>;
}

export const emptyRecord = (): ChannelRecord => ({ config: null, bans: {}, epoch: null, offset: 0, history: [] });
