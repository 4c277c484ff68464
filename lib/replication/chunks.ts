// A channel's state streamed in bounded chunks (catch-up of a replica, a new owner pulling the newest copy), and
// the store ops that write a received chunk. Pure functions: no I/O.
import type { ChannelConfig, Message } from '../protocol/types.js';
import type { ChannelRecord, StoreOp } from '../store/store.js';
import type { SyncPlan } from './terms.js';

/** Most bytes of messages in one chunk (a chunk is one frame on the node link). */
export const CHUNK_BYTES = 256 * 1024;
/** Most idempotency keys in one chunk. */
export const CHUNK_IDS = 4096;

/** One piece of a channel's state on its way to another copy. */
export interface SyncChunk {
  /** On the first chunk: 'reset' replaces the copy; 'resume' keeps its messages up to `from`. */
  mode?: SyncPlan['mode'];
  from?: number;
  /** On the first chunk: settings, replacing the copy's. */
  config?: ChannelConfig | null;
  bans?: Record<string, number>;
  /** Messages, oldest first. */
  msgs: Message[];
  /** Idempotency keys with their offsets. */
  ids: Array<[string, number]>;
  /** On the last chunk: the position the copy holds once the chunk is written (it is then complete). */
  done?: { epoch: string | null; offset: number; term: number };
}

/** Splits `record` into chunks following `plan` (message and id bytes bounded per chunk). */
export function* chunksOf(record: ChannelRecord, plan: SyncPlan): Generator<SyncChunk> {
  const from = plan.mode === 'resume' ? plan.from : 0;
  const msgs = record.history.filter((m) => m.offset > from && m.offset <= record.offset);
  let chunk: SyncChunk = { mode: plan.mode, from, config: record.config, bans: record.bans, msgs: [], ids: [] };
  let bytes = 0;
  for (const m of msgs) {
    const size = approxBytes(m);
    if (chunk.msgs.length > 0 && bytes + size > CHUNK_BYTES) {
      yield chunk;
      chunk = { msgs: [], ids: [] };
      bytes = 0;
    }
    chunk.msgs.push(m);
    bytes += size;
  }
  for (let idAt = 0; idAt < record.ids.length; idAt += CHUNK_IDS) {
    if (chunk.ids.length > 0) {
      yield chunk;
      chunk = { msgs: [], ids: [] };
    }
    chunk.ids = record.ids.slice(idAt, idAt + CHUNK_IDS);
  }
  chunk.done = { epoch: record.epoch, offset: record.offset, term: record.term };
  yield chunk;
}

/**
 * The store ops that write `chunk` into the copy of `channel`. `claim` is the term and owner the copy now holds;
 * the copy is marked incomplete from the first chunk until the last one is written. `holdsNothing`: the copy is
 * known to hold no state (the first chunk then needs no clear).
 */
export function chunkOps(channel: string, chunk: SyncChunk, claim: { promised: number; owner: string }, holdsNothing = false): StoreOp[] {
  const ops: StoreOp[] = [];
  if (chunk.mode !== undefined) {
    if (!holdsNothing) ops.push({ type: 'clear', channel, keepMessages: chunk.mode === 'resume' });
    if (chunk.config) ops.push({ type: 'config', channel, config: chunk.config });
    for (const [user, until] of Object.entries(chunk.bans ?? {})) ops.push({ type: 'ban', channel, user, until });
  }
  for (const message of chunk.msgs) ops.push({ type: 'append', message: { ...message, channel } });
  for (const [id, offset] of chunk.ids) ops.push({ type: 'id', channel, id, offset });
  if (chunk.done) {
    const { epoch, offset, term } = chunk.done;
    if (epoch !== null) ops.push({ type: 'position', channel, epoch, offset, term });
  }
  ops.push({ type: 'meta', channel, promised: claim.promised, owner: claim.owner, complete: chunk.done !== undefined });
  return ops;
}

/** A cheap upper estimate of a message's encoded size (no second JSON.stringify of large data). */
function approxBytes(m: Message): number {
  const d = m.data;
  if (typeof d === 'string') return 128 + d.length * 2;
  if (d === null || typeof d !== 'object') return 160;
  return 128 + JSON.stringify(d).length;
}
