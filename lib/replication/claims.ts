// Taking a channel over: claim a term from the nodes that may hold the channel (fencing the previous owner and
// replica), pick the copy to continue from (terms.ts chooseSurvivor), pull it when it is on another node, and
// store the channel under the new term. Also the re-claim an owner makes before it relies on a new replica.
import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import { newEpoch } from '../protocol/epoch.js';
import type { GroupCommit } from '../store/group-commit.js';
import { emptyRecord, holdsNothing, recordOps, type ChannelRecord, type Store, type StoreOp } from '../store/store.js';
import { chunkOps, type SyncChunk } from './chunks.js';
import type { ClaimReply } from './follower.js';
import type { NodeLink } from './replication.js';
import { chooseSurvivor, summarize, type ClaimAnswer, type CopySummary } from './terms.js';

export interface ClaimsDeps {
  link: NodeLink;
  store: Store;
  commit: GroupCommit;
  log: Logger;
  /** The nodes to claim from: the ones that may hold the channel or become its owner next (not this node). */
  candidates(channel: string): string[];
  /** A claim that cannot reach every candidate still counts (--min-copies 1: availability over safety). */
  tolerant(): boolean;
  /** This node's view holds a majority of the known nodes (it may own channels). */
  quorum(): boolean;
  /** Longest time a claim keeps retrying (views converging, outbid by another claimer). */
  timeoutMs: number;
}

/** The outcome of a take-over. */
export interface Acquired {
  record: ChannelRecord;
  /** What the candidates held before the claim (the replica's entry spares the catch-up a probe). */
  copies: Map<string, CopySummary>;
}

/** Another node took the channel over under a higher term: this node's state of it is stale. */
export class FencedError extends HashpubError {
  /** The term the other node holds. */
  readonly term: number;
  constructor(channel: string, term: number) {
    super('unavailable', 'another node took this channel over meanwhile; retry', { retryAfter: 1, channel });
    this.term = term;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Claims and take-overs of channels by this node. */
export class Claims {
  constructor(private readonly deps: ClaimsDeps) {}

  /** Takes `channel` over (see the file comment); the record is stored under the new term before it returns. */
  async acquire(channel: string): Promise<Acquired> {
    const { store, link, log } = this.deps;
    const own = await store.load(channel);
    const { term, answers } = await this.claim(channel, Math.max(own.promised, own.term) + 1, own);
    const all: ClaimAnswer[] = [{ node: link.self, copy: summarize(own) }, ...answers];
    const survivor = chooseSurvivor(all);
    let record: ChannelRecord;
    let ops: StoreOp[];
    if (survivor.source === link.self) {
      record = own;
      ops = [];
    } else if (survivor.source !== null) {
      record = await this.pull(survivor.source, channel, term);
      ops = [];
    } else {
      const settings = survivor.settingsFrom === null ? null
        : survivor.settingsFrom === link.self ? own : (await this.pullChunk(survivor.settingsFrom, channel, 0, true)).chunk;
      if (survivor.newEpoch && all.some((a) => a.copy.epoch !== null)) {
        log.warn({ channel, copies: all.map((a) => ({ node: a.node.slice(0, 8), ...a.copy })) },
          'no complete copy of the newest term is reachable: starting a new epoch (resuming clients are told)');
      }
      record = { ...emptyRecord(), config: settings?.config ?? null, bans: settings?.bans ?? {} };
      ops = recordOps(channel, record, !holdsNothing(own));
    }
    record.epoch ??= newEpoch();
    log.debug({ channel, term, source: survivor.source?.slice(0, 8) ?? null, newEpoch: survivor.newEpoch, offset: record.offset,
      ids: record.ids.length, copies: all.map((a) => `${a.node.slice(0, 8)}:${a.copy.term}/${a.copy.offset}${a.copy.complete ? '' : '(partial)'}`) },
    'channel taken over');
    Object.assign(record, { term, promised: term, owner: link.self, complete: true });
    ops.push({ type: 'position', channel, epoch: record.epoch, offset: record.offset, term },
      { type: 'meta', channel, promised: term, owner: link.self, complete: true });
    await this.deps.commit.write(ops);
    return { record, copies: new Map(answers.map((a) => [a.node, a.copy])) };
  }

  /**
   * Records that term `term` of `channel` is active (its replica is up to date, acknowledgements may follow) here
   * and on the candidates, the nodes that take the channel over if this owner and its replica are lost.
   */
  async activate(channel: string, term: number, skip: string | null): Promise<void> {
    const { link } = this.deps;
    const deadline = Date.now() + this.deps.timeoutMs;
    await this.deps.commit.write([{ type: 'active', channel, term }]);
    let pending = this.deps.candidates(channel).filter((n) => n !== skip);
    let wait = 50;
    while (pending.length > 0) {
      const results = await Promise.allSettled(pending.map((n) => link.request(n, 'repl.activate', { c: channel, t: term })));
      pending = pending.filter((n, i) => results[i]!.status === 'rejected' && link.members().includes(n));
      if (pending.length === 0 || this.deps.tolerant()) return;
      if (Date.now() > deadline) throw new HashpubError('unavailable', 'the nodes that would take this channel over did not confirm its term; retry', { retryAfter: 1 });
      await sleep(wait);
      wait = Math.min(wait * 2, 400);
    }
  }

  /**
   * Raises the term of a channel this node owns by one; returns the new term. It never outbids: a candidate that
   * promised that term (or a higher one) to another node means someone took the channel over meanwhile (this node
   * was paused or cut off), so this node's state is stale and it throws `fenced`.
   */
  async reclaim(channel: string, current: number, record: { epoch: string | null; offset: number }): Promise<number> {
    const { term, answers } = await this.claim(channel, current + 1, { complete: true }, false);
    // A copy promised to another node at this node's term or above: that node took the channel over while this one
    // was paused or cut off (both may hold the same term number). Its writes must not be overwritten by this copy.
    const taken = answers.find((a) => a.copy.owner !== '' && a.copy.owner !== this.deps.link.self && a.copy.promised >= current);
    if (taken) throw new FencedError(channel, taken.copy.promised);
    const ops: StoreOp[] = [{ type: 'meta', channel, promised: term, owner: this.deps.link.self, complete: true }];
    if (record.epoch !== null) ops.push({ type: 'position', channel, epoch: record.epoch, offset: record.offset, term });
    await this.deps.commit.write(ops);
    return term;
  }

  /**
   * Claims term `proposed` (or the first one above every refusal) from the candidates. The promise is stored here
   * first, so a concurrent lower claim is refused by this node too.
   */
  private async claim(channel: string, proposed: number, own: Pick<ChannelRecord, 'complete'>, outbid = true): Promise<{ term: number; answers: ClaimAnswer[] }> {
    const { link, log } = this.deps;
    const deadline = Date.now() + this.deps.timeoutMs;
    // The first answer of each candidate is kept: it shows the copy as it was before any of our claims.
    const answers = new Map<string, CopySummary>();
    let wait = 50;
    for (;;) {
      // A node that lost its majority (it was paused, or cut off, and its view is shrinking) claims nothing: the
      // copies it cannot reach may hold acknowledged writes.
      this.checkQuorum();
      await this.deps.commit.write([{ type: 'meta', channel, promised: proposed, owner: link.self, complete: own.complete }]);
      const candidates = this.deps.candidates(channel);
      const results = await Promise.allSettled(candidates.map((n) => link.request<ClaimReply>(n, 'repl.claim', { c: channel, t: proposed })));
      const missing: string[] = [];
      let above = 0;
      results.forEach((r, i) => {
        const node = candidates[i]!;
        if (r.status === 'rejected') missing.push(node);
        else if (r.value.ok) { if (!answers.has(node)) answers.set(node, r.value.copy); }
        else if (r.value.refusal === 'stale_term') above = Math.max(above, r.value.copy.promised);
        else missing.push(node); // not_owner: its view has not caught up with ours yet
      });
      if (above >= proposed) {
        if (!outbid) throw new FencedError(channel, above);
        proposed = above + 1;
        continue;
      }
      const stillThere = missing.filter((n) => link.members().includes(n));
      const confirmed = candidates.some((n) => answers.has(n));
      // Zero confirmations means this node's view emptied during the round: never a take-over from its own copy alone.
      if (this.deps.tolerant() || (stillThere.length === 0 && confirmed && this.deps.quorum())) {
        return { term: proposed, answers: [...answers].filter(([n]) => candidates.includes(n)).map(([node, copy]) => ({ node, copy })) };
      }
      if (Date.now() > deadline) {
        throw new HashpubError('unavailable', 'the nodes that hold this channel did not confirm the take-over yet; retry', { retryAfter: 1 });
      }
      this.checkQuorum();
      log.debug({ channel, waitingFor: stillThere.map((n) => n.slice(0, 8)) }, 'claim not confirmed by every candidate yet; retrying');
      await sleep(wait);
      wait = Math.min(wait * 2, 400);
    }
  }

  private checkQuorum(): void {
    if (this.deps.tolerant() || this.deps.quorum()) return;
    throw new HashpubError('unavailable', 'this node does not see a majority of the cluster: it cannot take channels over; retry', { retryAfter: 1 });
  }

  /** Copies the channel from `source` into the local store, chunk by chunk, under term `term`; returns it. */
  private async pull(source: string, channel: string, term: number): Promise<ChannelRecord> {
    for (let i = 0; ; i++) {
      const { chunk, more } = await this.pullChunk(source, channel, i, false);
      if (chunk.done) chunk.done.term = term;
      await this.deps.commit.write(chunkOps(channel, chunk, { promised: term, owner: this.deps.link.self }));
      if (!more) break;
    }
    return this.deps.store.load(channel);
  }

  private pullChunk(source: string, channel: string, index: number, settingsOnly: boolean): Promise<{ chunk: SyncChunk; more: boolean }> {
    return this.deps.link.request(source, 'repl.pull', { c: channel, i: index, s: settingsOnly });
  }
}
