// The replica side: answers claims, syncs, appends and pulls from other nodes about the copies this node holds.
// Every decision goes through the pure rules of terms.ts; every write goes through the node's group commit, so a
// frame of appends for many channels becomes one store batch.
import { HashpubError } from '../errors.js';
import type { GroupCommit } from '../store/group-commit.js';
import { opChannel, type Store, type StoreOp } from '../store/store.js';
import { chunkOps, chunksOf, type SyncChunk } from './chunks.js';
import type { LocalOwner } from './replication.js';
import { decideAppend, decideClaim, decideSync, summarize, type CopySummary, type Decision, type Refusal } from './terms.js';

/** A refusal as it travels back to the owner. */
export interface Refused {
  ok: false;
  refusal: Refusal;
  copy: CopySummary;
}

/** Answer to a claim: the copy as it was before the claim raised its promise. */
export type ClaimReply = { ok: true; copy: CopySummary } | Refused;

/** One channel's write batch inside a `repl.append` frame. */
export interface AppendEntry {
  /** Channel. */
  c: string;
  /** Owner's term. */
  t: number;
  /** Offset the batch follows. */
  p: number;
  /** The ops the owner wrote. */
  o: StoreOp[];
}

export interface FollowerDeps {
  self: string;
  store: Store;
  commit: GroupCommit;
  /** The owner of `channel` in this node's current view. */
  viewOwner(channel: string): string;
  /** The local owner role (released when another node claims one of its channels). */
  owner(): LocalOwner;
  /** Called per refused request, with the reason (metrics). */
  onRefused?(refusal: Refusal): void;
}

/** Summaries are cached for this many channels at most (the copies stay in the store). */
const MAX_CACHED = 50_000;

/** Answers replication requests from owners and new owners about the copies held here. */
export class Follower {
  private readonly copies = new Map<string, CopySummary>();
  private readonly loading = new Map<string, Promise<CopySummary>>();

  constructor(private readonly deps: FollowerDeps) {}

  /** Forgets the cached summary of `channel` (this node wrote its copy as owner). */
  invalidate(channel: string): void {
    this.copies.delete(channel);
  }

  /** A would-be owner claims term `t`: fence older terms, release the channel if held here, answer the copy. */
  async claim(from: string, channel: string, t: number): Promise<ClaimReply> {
    const owner = this.deps.owner();
    if (owner.holds(channel)) {
      const d = decideClaim(await this.copy(channel), t, from, this.deps.viewOwner(channel));
      if (!d.ok) return this.refuse(d, await this.copy(channel));
      await owner.release(channel);
      this.invalidate(channel);
    }
    const copy = await this.copy(channel);
    const d = decideClaim(copy, t, from, this.deps.viewOwner(channel));
    if (!d.ok) return this.refuse(d, copy);
    const before = { ...copy };
    copy.promised = t;
    copy.owner = from;
    await this.write([{ type: 'meta', channel, promised: t, owner: from, complete: copy.complete }], channel);
    return { ok: true, copy: before };
  }

  /** Owner `from` brought its replica up to date under term `t`: remember that `t` may hold acknowledged writes. */
  async activate(from: string, channel: string, t: number): Promise<{ ok: true }> {
    void from;
    const copy = await this.copy(channel);
    if (t > copy.active) {
      copy.active = t;
      await this.write([{ type: 'active', channel, term: t }], channel);
    }
    return { ok: true };
  }

  /** The copy held here (owners probe their replica before a sync). */
  async probe(channel: string): Promise<CopySummary> {
    return { ...await this.copy(channel) };
  }

  /** One chunk of a sync from the channel's owner. */
  async sync(from: string, channel: string, t: number, chunk: SyncChunk): Promise<{ ok: true } | Refused> {
    const copy = await this.copy(channel);
    const first = chunk.mode !== undefined;
    const d = decideSync(copy, t, from, first, this.deps.viewOwner(channel));
    if (!d.ok) return this.refuse(d, copy);
    const empty = first && !copy.hasState && copy.complete && copy.offset === 0 && copy.epoch === null;
    const ops = chunkOps(channel, chunk, { promised: t, owner: from }, empty);
    copy.promised = t;
    copy.owner = from;
    copy.complete = false;
    if (first) {
      copy.hasState = copy.hasState || chunk.config != null || Object.keys(chunk.bans ?? {}).length > 0;
      if (chunk.mode === 'reset') Object.assign(copy, { epoch: null, offset: 0, lastTerm: 0, term: 0 });
    }
    if (chunk.done) {
      const last = chunk.msgs.at(-1);
      const lastTerm = last && last.offset === chunk.done.offset ? last.term ?? 0 : chunk.done.offset === copy.offset ? copy.lastTerm : 0;
      Object.assign(copy, { epoch: chunk.done.epoch, offset: chunk.done.offset, term: chunk.done.term, lastTerm, complete: true });
      copy.hasState = copy.hasState || chunk.done.epoch !== null;
    }
    await this.write(ops, channel);
    return { ok: true };
  }

  /** A frame of write batches from owners: each is checked and written; one answer per entry, in order. */
  async append(from: string, entries: AppendEntry[]): Promise<Array<{ ok: true } | Refused>> {
    return Promise.all(entries.map(async (e) => {
      const copy = await this.copy(e.c);
      const d = decideAppend(copy, e.t, from, e.p);
      if (!d.ok) return this.refuse(d, copy);
      for (const op of e.o) {
        if (opChannel(op) !== e.c) throw new HashpubError('bad_request', 'an append entry touches another channel');
        if (op.type === 'position') Object.assign(copy, { epoch: op.epoch, offset: op.offset, term: op.term, hasState: true });
        else if (op.type === 'append' && op.message.offset === copy.offset) copy.lastTerm = op.message.term ?? 0;
        else if (op.type === 'config' || op.type === 'ban') copy.hasState = true;
      }
      await this.write(e.o, e.c);
      return { ok: true as const };
    }));
  }

  /** Chunk `index` of this node's copy, for a new owner pulling it (`settingsOnly`: config and bans only). */
  async pull(channel: string, index: number, settingsOnly: boolean): Promise<{ chunk: SyncChunk; more: boolean }> {
    const record = await this.deps.store.load(channel);
    if (settingsOnly) return { chunk: { mode: 'reset', from: 0, config: record.config, bans: record.bans, msgs: [], ids: [] }, more: false };
    let i = 0;
    let previous: SyncChunk | null = null;
    for (const chunk of chunksOf(record, { mode: 'reset' })) {
      if (previous) return { chunk: previous, more: true };
      if (i++ === index) previous = chunk;
    }
    if (previous) return { chunk: previous, more: false };
    throw new HashpubError('bad_request', `no chunk ${index} of ${channel}`);
  }

  private refuse(d: Extract<Decision, { ok: false }>, copy: CopySummary): Refused {
    this.deps.onRefused?.(d.refusal);
    return { ok: false, refusal: d.refusal, copy: { ...copy } };
  }

  /** Writes through the group commit; a failed write drops the cached summary (reloaded from the store next time). */
  private async write(ops: StoreOp[], channel: string): Promise<void> {
    try {
      await this.deps.commit.write(ops);
    } catch (err) {
      this.copies.delete(channel);
      throw new HashpubError('unavailable', 'the replica could not store the write', { cause: err, retryAfter: 1 });
    }
  }

  private copy(channel: string): Promise<CopySummary> | CopySummary {
    const c = this.copies.get(channel);
    if (c) return c;
    let p = this.loading.get(channel);
    if (!p) {
      p = this.deps.store.load(channel).then((r) => {
        this.loading.delete(channel);
        const s = this.copies.get(channel) ?? summarize(r);
        if (this.copies.size >= MAX_CACHED) this.copies.delete(this.copies.keys().next().value!);
        this.copies.set(channel, s);
        return s;
      }, (err) => {
        this.loading.delete(channel);
        throw new HashpubError('unavailable', 'the replica could not read its copy', { cause: err, retryAfter: 1 });
      });
      this.loading.set(channel, p);
    }
    return p;
  }
}
