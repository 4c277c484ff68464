// The owner side of replication: every write batch of a channel goes to the channel's replica, batched per
// replica link (all batches queued in one event-loop turn for one replica travel in one `repl.append` frame), and a
// replica that is new, restarted, refused a batch or missed one is caught up (`repl.sync`, in chunks) before any
// later batch counts on it. A batch's promise resolves once the replica holds it durably, by append or by sync.
import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import type { StoreOp } from '../store/store.js';
import { chunksOf } from './chunks.js';
import { FencedError } from './claims.js';
import type { AppendEntry, Refused } from './follower.js';
import type { NodeLink, ReplicaStatus, ReplicatedChannel } from './replication.js';
import { syncPlan, type CopySummary } from './terms.js';

export interface OwnerLinksDeps {
  link: NodeLink;
  log: Logger;
  /** The replica of `channel` in the current view, or null when there is none. */
  replicaOf(channel: string): string | null;
  /** Raises the channel's term above every promise (before a new replica is relied on). */
  reclaim(ch: ReplicatedChannel): Promise<void>;
  /** Tells the nodes that take over next that the channel's term is active (its replica is up to date). */
  activate(ch: ReplicatedChannel, replica: string): Promise<void>;
  /** A replica answered that another node holds a newer term: this node must stop owning the channel. */
  fenced(channel: string): void;
  /** How long a take-over waits for its replica to be brought up to date. */
  timeoutMs: number;
  /** Counters for metrics. */
  onAppendFrame?(entries: number): void;
  onSync?(chunks: number): void;
}

interface Batch {
  seq: number;
  ops: StoreOp[];
  prev: number;
  sent: boolean;
  settled: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

/** Replication state of one channel this node owns. */
interface ChannelLink {
  ch: ReplicatedChannel;
  /** The replica that holds (or is being brought) the copy. */
  target: string | null;
  /** `target` holds every batch up to the last resolved one; new batches may be appended. */
  synced: boolean;
  /** Bumped whenever in-flight answers stop counting (a sync started, the channel was forgotten). */
  gen: number;
  /** Batches not yet durable on the replica, in order. */
  queue: Batch[];
  syncing: Promise<void> | null;
  /** The replica's copy as last seen (from a claim), to skip a probe. */
  known: CopySummary | null;
  /** The term whose activation the takers-over confirmed (acks in a term wait for it). */
  activeTerm: number;
}

type AppendResult = { ok: true } | Refused | { ok: false; error: unknown };

interface Outbox {
  entries: AppendEntry[];
  done: Array<(r: AppendResult) => void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The owner side of every channel this node owns: appends, batching per replica, catch-up. */
export class OwnerLinks {
  private readonly links = new Map<string, ChannelLink>();
  private readonly outboxes = new Map<string, Outbox>();
  private flushScheduled = false;

  constructor(private readonly deps: OwnerLinksDeps) {}

  /**
   * Resolves once batch `seq` of `ch` is durable on its replica, however long that takes (the owner puts its own
   * deadline on the acknowledgement); rejects only when the channel is forgotten here.
   */
  replicate(ch: ReplicatedChannel, seq: number, ops: StoreOp[], prev: number): Promise<void> {
    const l = this.linkOf(ch);
    return new Promise<void>((resolve, reject) => {
      l.queue.push({ seq, ops, prev, sent: false, settled: false, resolve, reject });
      this.pump(l);
    });
  }

  /**
   * Brings the replica of `ch` up to date now (a channel just taken over). `known` is the replica's copy if it
   * answered the claim. Resolves when the replica holds the channel; rejects if it cannot within the timeout.
   */
  async syncNow(ch: ReplicatedChannel, known: CopySummary | null): Promise<void> {
    const l = this.linkOf(ch);
    l.known = known;
    l.target = this.deps.replicaOf(ch.name);
    if (l.target === null) throw unavailable('no replica is reachable for this channel');
    const deadline = Date.now() + this.deps.timeoutMs;
    this.startSync(l, deadline);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([l.syncing, new Promise<void>((r) => { timer = setTimeout(r, this.deps.timeoutMs); })]);
    clearTimeout(timer);
    if (!l.synced) throw unavailable('the channel\'s replica could not be brought up to date; retry');
  }

  /** The owner now holds `ch` (the object future batches come from). */
  attach(ch: ReplicatedChannel): void {
    const l = this.links.get(ch.name);
    if (!l) return;
    // A catch-up that ran meanwhile may have re-claimed a higher term on the stand-in the take-over used.
    ch.term = Math.max(ch.term, l.ch.term);
    l.ch = ch;
  }

  /** The view changed: channels whose replica changed are caught up on the new one. */
  viewChanged(): void {
    for (const l of this.links.values()) {
      if (l.ch.released) this.forget(l.ch.name);
      else if (this.deps.replicaOf(l.ch.name) !== l.target || !l.synced) this.startSync(l);
    }
  }

  /** Makes sure every held channel has a link (a node that was alone now has peers). */
  adopt(channels: Iterable<ReplicatedChannel>): void {
    for (const ch of channels) if (!ch.released && !this.links.has(ch.name)) this.startSync(this.linkOf(ch));
  }

  status(channel: string): ReplicaStatus {
    const l = this.links.get(channel);
    if (!l) return { node: null, caughtUp: false, lag: 0 };
    return { node: l.target, caughtUp: l.synced && l.queue.length === 0, lag: l.queue.length };
  }

  /** Batches not yet on their replica, over all channels, and channels whose replica is not caught up. */
  lag(): { batches: number; behind: number } {
    let batches = 0;
    let behind = 0;
    for (const l of this.links.values()) {
      batches += l.queue.length;
      if (!l.synced) behind++;
    }
    return { batches, behind };
  }

  /** Stops replicating `channel`; its waiting batches fail with `unavailable`. */
  forget(channel: string): void {
    const l = this.links.get(channel);
    if (!l) return;
    this.links.delete(channel);
    l.gen++;
    for (const b of l.queue) settle(b, unavailable('this channel moved to another node; retry'));
    l.queue = [];
  }

  /** Stops everything (shutdown). */
  close(): void {
    for (const channel of [...this.links.keys()]) this.forget(channel);
  }

  private linkOf(ch: ReplicatedChannel): ChannelLink {
    let l = this.links.get(ch.name);
    if (!l) {
      l = { ch, target: null, synced: false, gen: 0, queue: [], syncing: null, known: null, activeTerm: 0 };
      this.links.set(ch.name, l);
    }
    l.ch = ch;
    return l;
  }

  private pump(l: ChannelLink): void {
    if (l.ch.released) return this.forget(l.ch.name);
    if (l.syncing) return;
    if (!l.synced || this.deps.replicaOf(l.ch.name) !== l.target) return this.startSync(l);
    const gen = l.gen;
    for (const b of l.queue) {
      if (b.sent) continue;
      b.sent = true;
      this.send(l.target!, { c: l.ch.name, t: l.ch.term, p: b.prev, o: b.ops }, (r) => this.answered(l, gen, b, r));
    }
  }

  private answered(l: ChannelLink, gen: number, b: Batch, r: AppendResult): void {
    if (gen !== l.gen || this.links.get(l.ch.name) !== l) return;
    if (r.ok) {
      const at = l.queue.indexOf(b);
      if (at >= 0) l.queue.splice(at, 1);
      settle(b);
      return;
    }
    if ('refusal' in r && (r.refusal === 'stale_term' || r.refusal === 'not_owner') && r.copy.promised > l.ch.term) {
      this.deps.log.warn({ channel: l.ch.name, term: l.ch.term, replicaPromised: r.copy.promised }, 'replica holds a newer term: releasing the channel');
      this.forget(l.ch.name);
      this.deps.fenced(l.ch.name);
      return;
    }
    l.known = 'copy' in r ? r.copy : null;
    this.startSync(l);
  }

  /** Starts a catch-up of `l`'s replica unless one runs; batches wait for it. */
  private startSync(l: ChannelLink, deadline = Infinity): void {
    l.gen++;
    l.synced = false;
    for (const b of l.queue) b.sent = false;
    if (l.syncing) return;
    l.syncing = this.runSync(l, deadline).finally(() => {
      l.syncing = null;
      if (this.links.get(l.ch.name) === l && l.synced) this.pump(l);
    });
  }

  private async runSync(l: ChannelLink, deadline: number): Promise<void> {
    const { link, log } = this.deps;
    const name = l.ch.name;
    let delay = 100;
    let previous = l.target;
    while (!l.ch.released && this.links.get(name) === l && Date.now() < deadline) {
      const target = this.deps.replicaOf(name);
      if (target === null) {
        l.target = null;
        return; // no replica in this view: the next view change starts again
      }
      try {
        if (previous !== null && previous !== target) {
          // A different node becomes the replica: a new term, so the old replica's copy can never pass for current.
          const held = l.ch;
          await this.deps.reclaim(held);
          if (held.released || this.links.get(name) !== l) return;
          // attach() may have swapped in the owner's object during the claim: it writes under the new term too.
          l.ch.term = Math.max(l.ch.term, held.term);
          l.known = null;
        }
        previous = target;
        l.target = target;
        const copy = l.known ?? await link.request<CopySummary>(target, 'repl.probe', { c: name });
        l.known = null;
        const snap = l.ch.snapshot();
        const seqAt = l.ch.seq;
        const terms = new Map(snap.history.map((m) => [m.offset, m.term ?? 0]));
        const plan = syncPlan({ epoch: snap.epoch, offset: snap.offset, termAt: (o) => terms.get(o) }, copy);
        let chunks = 0;
        for (const chunk of chunksOf(snap, plan)) {
          const r = await link.request<{ ok: true } | Refused>(target, 'repl.sync', { c: name, t: l.ch.term, k: chunk });
          chunks++;
          if (!r.ok) {
            if ((r.refusal === 'stale_term' || r.refusal === 'not_owner') && r.copy.promised > l.ch.term) {
              this.forget(name);
              this.deps.fenced(name);
              return;
            }
            throw new Error(`replica refused the sync: ${r.refusal}`);
          }
        }
        this.deps.onSync?.(chunks);
        if (l.ch.released || this.links.get(name) !== l) return;
        if (this.deps.replicaOf(name) !== target) continue; // the view moved on meanwhile
        if (l.activeTerm !== l.ch.term) {
          const term = l.ch.term;
          await this.deps.activate(l.ch, target);
          l.activeTerm = term;
          if (l.ch.released || this.links.get(name) !== l) return;
        }
        l.gen++;
        l.synced = true;
        for (const b of [...l.queue]) {
          if (b.seq > seqAt) continue;
          l.queue.splice(l.queue.indexOf(b), 1);
          settle(b);
        }
        return;
      } catch (err) {
        if (err instanceof FencedError) {
          log.warn({ channel: name, term: l.ch.term, newer: err.term }, 'another node took the channel over meanwhile: releasing it');
          this.forget(name);
          this.deps.fenced(name);
          return;
        }
        log.debug({ err, channel: name, target }, 'replica catch-up failed; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  private send(target: string, entry: AppendEntry, done: (r: AppendResult) => void): void {
    let box = this.outboxes.get(target);
    if (!box) this.outboxes.set(target, (box = { entries: [], done: [] }));
    box.entries.push(entry);
    box.done.push(done);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const boxes = [...this.outboxes];
    this.outboxes.clear();
    for (const [target, box] of boxes) {
      this.deps.onAppendFrame?.(box.entries.length);
      this.deps.link.request<AppendResult[]>(target, 'repl.append', { e: box.entries }).then((results) => {
        box.done.forEach((done, i) => done(results[i] ?? { ok: false, error: new Error('missing answer') }));
      }, (error) => {
        for (const done of box.done) done({ ok: false, error });
      });
    }
  };
}

function settle(b: Batch, err?: unknown): void {
  if (b.settled) return;
  b.settled = true;
  if (err === undefined) b.resolve();
  else b.reject(err);
}

function unavailable(message: string): HashpubError {
  return new HashpubError('unavailable', message, { retryAfter: 1 });
}
