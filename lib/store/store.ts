import type { ChannelConfig, Message } from '../protocol/types.js';

/** Everything a node persists about one channel it owns or replicates. */
export interface ChannelRecord {
  /** Settings set through the API or hooks; null = never set (defaults apply). */
  config: ChannelConfig | null;
  /** user id -> ban end (ms since epoch). */
  bans: Record<string, number>;
  /** Stream position; epoch null = the channel has no stream yet. */
  epoch: string | null;
  offset: number;
  /** Data term: the ownership term of the owner that last wrote this state (0 = never owned in a cluster). */
  term: number;
  /** Highest ownership term this node promised (a claim); nothing from a lower term is accepted. >= term. */
  promised: number;
  /** The node that holds term `promised`: the only one whose writes this copy accepts ('' = none). */
  owner: string;
  /** False while a copy is being written by a catch-up: then only config and bans can be trusted. */
  complete: boolean;
  /**
   * Highest term known to be active: its owner brought its replica up to date under it, so writes may have been
   * acknowledged in it. Owners tell the nodes that may take the channel over next.
   */
  active: number;
  /** Retained messages in offset order (oldest first). */
  history: Message[];
  /** Recent idempotency keys with the offset they were published at, oldest first. */
  ids: Array<[id: string, offset: number]>;
}

/** One change; a `write()` applies a list of them atomically, in order. */
export type StoreOp =
  | { type: 'append'; message: Message }
  | { type: 'drop'; channel: string; offset: number }
  | { type: 'position'; channel: string; epoch: string; offset: number; term: number }
  | { type: 'meta'; channel: string; promised: number; owner: string; complete: boolean }
  | { type: 'active'; channel: string; term: number }
  | { type: 'config'; channel: string; config: ChannelConfig }
  | { type: 'ban'; channel: string; user: string; until: number }
  | { type: 'unban'; channel: string; user: string }
  | { type: 'id'; channel: string; id: string; offset: number }
  | { type: 'dropId'; channel: string; offset: number }
  /** Removes what is stored for the channel (ops before it in the write included); `keepMessages` keeps the messages. */
  | { type: 'clear'; channel: string; keepMessages?: boolean };

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
  /** A node-level setting (not about one channel), or null. */
  getMeta(key: string): Promise<string | null>;
  /** Stores a node-level setting durably. */
  putMeta(key: string, value: string): Promise<void>;
  /** Releases files and locks. */
  close(): Promise<void>;
}

export const emptyRecord = (): ChannelRecord => ({
  config: null, bans: {}, epoch: null, offset: 0, term: 0, promised: 0, owner: '', complete: true, active: 0, history: [], ids: [],
});

/** True if nothing at all is stored for the channel. */
export const isEmptyRecord = (r: ChannelRecord): boolean =>
  r.epoch === null && r.config === null && Object.keys(r.bans).length === 0 && r.promised === 0 && r.history.length === 0;

/** The channel a store op is about. */
export const opChannel = (op: StoreOp): string => (op.type === 'append' ? op.message.channel : op.channel);

/** True if nothing but a promise (meta) is stored: writing a record over it needs no `clear`. */
export const holdsNothing = (r: ChannelRecord): boolean =>
  r.epoch === null && r.config === null && Object.keys(r.bans).length === 0 && r.history.length === 0 && r.ids.length === 0;

/** The ops that replace everything stored for `channel` with `record` (`clear: false` when nothing is stored). */
export function recordOps(channel: string, record: ChannelRecord, clear = true): StoreOp[] {
  const ops: StoreOp[] = clear ? [{ type: 'clear', channel }] : [];
  if (record.config) ops.push({ type: 'config', channel, config: record.config });
  for (const [user, until] of Object.entries(record.bans)) ops.push({ type: 'ban', channel, user, until });
  if (record.epoch !== null) ops.push({ type: 'position', channel, epoch: record.epoch, offset: record.offset, term: record.term });
  ops.push({ type: 'meta', channel, promised: record.promised, owner: record.owner, complete: record.complete });
  if (record.active > 0) ops.push({ type: 'active', channel, term: record.active });
  for (const message of record.history) ops.push({ type: 'append', message });
  for (const [id, offset] of record.ids) ops.push({ type: 'id', channel, id, offset });
  return ops;
}
