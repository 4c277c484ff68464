import { Level } from 'level';
import { emptyRecord, type ChannelRecord, type Store, type StoreOp } from './store.js';

/*
 * Key layout (one LevelDB in the node's data dir), with SEP = \x00 (never in a channel name):
 *   c SEP <channel> SEP cfg              -> ChannelConfig JSON
 *   c SEP <channel> SEP pos              -> {"epoch","offset","term"}
 *   c SEP <channel> SEP meta             -> {"promised","owner","complete"}
 *   c SEP <channel> SEP act              -> highest term known active
 *   c SEP <channel> SEP ban SEP <user>   -> ban end, ms
 *   c SEP <channel> SEP m SEP <offset>   -> Message JSON; offset as 13 hex digits so keys sort by offset
 *   c SEP <channel> SEP i SEP <offset>   -> idempotency key published at that offset
 *   k SEP <name>                         -> node-level settings (getMeta/putMeta)
 */
const SEP = '\x00';
const prefix = (channel: string) => `c${SEP}${channel}${SEP}`;
const hex = (offset: number) => offset.toString(16).padStart(13, '0');
const msgKey = (channel: string, offset: number) => `${prefix(channel)}m${SEP}${hex(offset)}`;
const idKey = (channel: string, offset: number) => `${prefix(channel)}i${SEP}${hex(offset)}`;
const metaKey = (name: string) => `k${SEP}${name}`;

/** Stores channel state in LevelDB (the `level` package: classic-level on Node). Writes use one chained batch per call. */
export class LevelStore implements Store {
  private readonly db: Level<string, string>;

  /**
   * @param location directory of the database
   * @param sync fsync each write (survives power loss, not only process crashes); slower
   */
  constructor(location: string, private readonly sync = false) {
    this.db = new Level<string, string>(location, { valueEncoding: 'utf8' });
  }

  async open(): Promise<void> {
    await this.db.open();
  }

  async load(channel: string): Promise<ChannelRecord> {
    const r = emptyRecord();
    const p = prefix(channel);
    for await (const [key, value] of this.db.iterator({ gte: p, lt: p + '\xff' })) {
      const rest = key.slice(p.length);
      if (rest === 'cfg') r.config = JSON.parse(value);
      else if (rest === 'pos') Object.assign(r, JSON.parse(value));
      else if (rest === 'meta') Object.assign(r, JSON.parse(value));
      else if (rest === 'act') r.active = Number(value);
      else if (rest.startsWith(`ban${SEP}`)) r.bans[rest.slice(4)] = Number(value);
      else if (rest.startsWith(`m${SEP}`)) r.history.push(JSON.parse(value));
      else if (rest.startsWith(`i${SEP}`)) r.ids.push([value, parseInt(rest.slice(2), 16)]);
    }
    r.promised = Math.max(r.promised, r.term);
    return r;
  }

  async write(ops: StoreOp[]): Promise<void> {
    // The chained form is 5-10x faster than db.batch(array, opts) (../shared/HYPERSWARM-NOTES.md).
    const batch = this.db.batch();
    // Keys this batch puts, so a later `clear` in the same batch removes them too (ops apply in order).
    const put: string[] = [];
    const chained = batch;
    const puts = { put(key: string, value: string) { put.push(key); chained.put(key, value); } };
    for (const op of ops) {
      switch (op.type) {
        case 'clear': {
          const p = prefix(op.channel);
          const keep = op.keepMessages ? `${p}m${SEP}` : null;
          const gone = (key: string) => key.startsWith(p) && (!keep || !key.startsWith(keep));
          for await (const key of this.db.keys({ gte: p, lt: p + '\xff' })) if (gone(key)) batch.del(key);
          for (const key of put) if (gone(key)) batch.del(key);
          break;
        }
        case 'append': puts.put(msgKey(op.message.channel, op.message.offset), JSON.stringify(op.message)); break;
        case 'drop': batch.del(msgKey(op.channel, op.offset)); break;
        case 'position': puts.put(prefix(op.channel) + 'pos', JSON.stringify({ epoch: op.epoch, offset: op.offset, term: op.term })); break;
        case 'meta': puts.put(prefix(op.channel) + 'meta', JSON.stringify({ promised: op.promised, owner: op.owner, complete: op.complete })); break;
        case 'active': puts.put(prefix(op.channel) + 'act', String(op.term)); break;
        case 'config': puts.put(prefix(op.channel) + 'cfg', JSON.stringify(op.config)); break;
        case 'ban': puts.put(`${prefix(op.channel)}ban${SEP}${op.user}`, String(op.until)); break;
        case 'unban': batch.del(`${prefix(op.channel)}ban${SEP}${op.user}`); break;
        case 'id': puts.put(idKey(op.channel, op.offset), op.id); break;
        case 'dropId': batch.del(idKey(op.channel, op.offset)); break;
      }
    }
    await batch.write({ sync: this.sync });
  }

  async *channels(): AsyncIterable<string> {
    let last = '';
    for await (const key of this.db.keys({ gte: `c${SEP}`, lt: `c${SEP}\xff` })) {
      const name = key.slice(2, key.indexOf(SEP, 2));
      if (name !== last) yield (last = name);
    }
  }

  async getMeta(key: string): Promise<string | null> {
    return (await this.db.get(metaKey(key))) ?? null;
  }

  async putMeta(key: string, value: string): Promise<void> {
    await this.db.put(metaKey(key), value, { sync: this.sync });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
