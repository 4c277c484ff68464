import { emptyRecord, type ChannelRecord, type Store, type StoreOp } from './store.js';

/** Keeps channel state in memory only (tests, `--data :memory:`); has failure switches for tests. */
export class MemoryStore implements Store {
  private readonly records = new Map<string, ChannelRecord>();
  /** When set, every write rejects with this error (simulates a broken disk). */
  failWrites: Error | null = null;
  /** Number of write() calls so far. */
  writes = 0;

  async open(): Promise<void> {}

  async load(channel: string): Promise<ChannelRecord> {
    const r = this.records.get(channel);
    return r ? structuredClone(r) : emptyRecord();
  }

  async write(ops: StoreOp[]): Promise<void> {
    this.writes++;
    if (this.failWrites) throw this.failWrites;
    for (const op of ops) {
      const channel = op.type === 'append' ? op.message.channel : op.channel;
      let r = this.records.get(channel);
      if (!r) this.records.set(channel, (r = emptyRecord()));
      switch (op.type) {
        case 'append': r.history.push(structuredClone(op.message)); break;
        case 'drop': r.history = r.history.filter((m) => m.offset !== op.offset); break;
        case 'position': Object.assign(r, { epoch: op.epoch, offset: op.offset, term: op.term, termStart: op.termStart }); break;
        case 'config': r.config = structuredClone(op.config); break;
        case 'ban': r.bans[op.user] = op.until; break;
        case 'unban': delete r.bans[op.user]; break;
      }
    }
  }

  async replace(channel: string, record: ChannelRecord): Promise<void> {
    this.writes++;
    if (this.failWrites) throw this.failWrites;
    this.records.set(channel, structuredClone(record));
  }

  async *channels(): AsyncIterable<string> {
    yield* [...this.records.keys()];
  }

  async close(): Promise<void> {}
}
