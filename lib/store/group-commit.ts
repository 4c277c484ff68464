import type { Store, StoreOp } from './store.js';

interface Pending {
  ops: StoreOp[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: every write requested in one turn of the event loop, or while a store write is in flight, goes
 * out in the next single batch. Writes complete in request order, so per-channel order is kept. Throughput grows
 * with load (one fsync or one LevelDB batch per round instead of one per message), whatever the store's speed.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private writing = false;
  /** Store writes issued so far (each one a batch). */
  batches = 0;

  constructor(private readonly store: Store) {}

  /** Resolves once `ops` are durable (in the order write() was called). */
  write(ops: StoreOp[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const round = this.queue;
      this.queue = [];
      const ops = round.length === 1 ? round[0]!.ops : round.flatMap((p) => p.ops);
      this.batches++;
      try {
        await this.store.write(ops);
        for (const p of round) p.resolve();
      } catch (err) {
        for (const p of round) p.reject(err);
      }
    }
    this.writing = false;
  }

  /** Resolves when everything queued so far is written (or failed). */
  async drain(): Promise<void> {
    while (this.writing || this.queue.length > 0) await new Promise((r) => setImmediate(r));
  }
}
