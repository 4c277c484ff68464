import { HashpubError } from '../errors.js';
import type { Message } from '../protocol/types.js';
import type { Replication } from '../replication/replication.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Batch, ChannelState, PendingWrite } from './channel-state.js';

export interface WritePipelineDeps {
  commit: GroupCommit;
  replication: Replication;
  /** A write not durable on every required copy after this long is answered `unavailable` (it may still land). */
  ackTimeoutMs: number;
  now: () => number;
  /** Messages that just committed, in offset order: fan them out. */
  committed(st: ChannelState, messages: Message[]): void;
  /** The local store failed: the state can no longer be trusted. */
  broken(st: ChannelState, err: unknown): void;
}

/**
 * The owner's write path: each batch goes to the local store (group commit) and to the channel's replica at
 * once; it is acknowledged when both hold it durably, and it commits (becomes visible to readers and is fanned
 * out) in order, after every earlier batch. A batch that misses the acknowledgement deadline is answered
 * `unavailable` but stays in the log: it commits when the replica confirms it, as a timed-out request may.
 */
export class WritePipeline {
  constructor(private readonly deps: WritePipelineDeps) {}

  /** Writes `batch` of `st` (adding `message`, if any); resolves when it is acknowledged. */
  write(st: ChannelState, batch: Batch, message: Message | null): Promise<void> {
    const { commit, replication } = this.deps;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const durable = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    durable.catch(() => {}); // answered through ack() or not at all
    const p: PendingWrite = { seq: batch.seq, message, done: false, durable };
    st.pending.push(p);
    const local = commit.write(batch.ops).catch((err) => {
      this.deps.broken(st, err);
      throw new HashpubError('unavailable', 'storage write failed, retry', { cause: err, retryAfter: 1 });
    });
    Promise.all([local, replication.replicate(st, batch.seq, batch.ops, batch.prev)]).then(() => {
      p.done = true;
      resolve();
      const messages = st.advance(this.deps.now());
      if (messages.length > 0 && !st.released) this.deps.committed(st, messages);
    }, reject);
    return this.ack(durable);
  }

  /** Waits for an earlier write (a duplicate publish) to be acknowledged. */
  ack(durable: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HashpubError('unavailable',
        'the write is not confirmed by the channel\'s second copy yet; it may still be applied: retry, with the same id to publish exactly once',
        { retryAfter: 1 })), this.deps.ackTimeoutMs);
    });
    return Promise.race([durable, late]).finally(() => clearTimeout(timer));
  }
}
