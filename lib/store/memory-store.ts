import { emptyRecord, opChannel, type ChannelRecord, type Store, type StoreOp } from './store.js';

/** Keeps channel state in memory only (tests, `--data :memory:`); has failure switches for tests. */
export class MemoryStore implements Store {
  private readonly records = new Map<string, ChannelRecord>();
  private readonly meta = new Map<string, string>();
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
      const channel = opChannel(op);
      if (op.type === 'clear') {
        const old = this.records.get(channel);
        this.records.delete(channel);
        if (op.keepMessages && old) this.records.set(channel, { ...emptyRecord(), history: old.history });
        continue;
      }
      let r = this.records.get(channel);
      if (!r) this.records.set(channel, (r = emptyRecord()));
      switch (op.type) {
        case 'append': insertByOffset(r.history, structuredClone(op.message)); break;
        case 'drop': r.history = r.history.filter((m) => m.offset !== op.offset); break;
        case 'position':
          Object.assign(r, { epoch: op.epoch, offset: op.offset, term: op.term });
          r.promised = Math.max(r.promised, op.term);
          break;
        case 'meta': Object.assign(r, { promised: Math.max(op.promised, r.term), owner: op.owner, complete: op.complete }); break;
        case 'active': r.active = Math.max(r.active, op.term); break;
        case 'config': r.config = structuredClone(op.config); break;
        case 'ban': r.bans[op.user] = op.until; break;
        case 'unban': delete r.bans[op.user]; break;
        case 'id':
          r.ids = r.ids.filter(([, o]) => o !== op.offset);
          r.ids.push([op.id, op.offset]);
          r.ids.sort((a, b) => a[1] - b[1]);
          break;
        case 'dropId': r.ids = r.ids.filter(([, o]) => o !== op.offset); break;
      }
    }
  }

  async *channels(): AsyncIterable<string> {
    yield* [...this.records.keys()].sort();
  }

  async getMeta(key: string): Promise<string | null> {
    return this.meta.get(key) ?? null;
  }

  async putMeta(key: string, value: string): Promise<void> {
    if (this.failWrites) throw this.failWrites;
    this.meta.set(key, value);
  }

  async close(): Promise<void> {}
}

/** Keeps `history` sorted by offset, a message at an existing offset replacing it (as a key-value store does). */
function insertByOffset(history: ChannelRecord['history'], m: ChannelRecord['history'][number]): void {
  let i = history.length;
  while (i > 0 && history[i - 1]!.offset > m.offset) i--;
  if (i > 0 && history[i - 1]!.offset === m.offset) history[i - 1] = m;
  else history.splice(i, 0, m);
}
