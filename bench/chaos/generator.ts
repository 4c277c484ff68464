/**
 * The load generator: P REST publishers writing numbered messages (`{"data": {"id","p","seq"}, "id"}`) to random
 * channels through random reachable nodes. A failure (timeout, connection error, 5xx, 429) is retried with the
 * SAME id, on a random node each time, for a bounded time; every attempt, acknowledgement and give-up goes into
 * the history. It only generates and records: judging is the checker's job.
 */
import { reachable, type ChaosNode, type ClusterControl } from './cluster.js';
import type { Ack, History } from './history.js';
import { call, describe } from './http.js';
import type { Rng } from './rng.js';
import { sleep } from '../support/proc.js';

export interface RetryPolicy {
  /** Deadline of one request. */
  requestTimeoutMs: number;
  /** Retries of one id stop this long after its first try (then the id is recorded as given up). */
  retryForMs: number;
  /** Backoff between tries: full jitter between minBackoffMs and an exponentially growing cap up to maxBackoffMs. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Wait what a 503's Retry-After says (capped at maxBackoffMs) instead of the backoff. */
  honourRetryAfter: boolean;
}

/** What a publish needs from the run: the cluster, the history, the run clock, a random source. */
export interface PublishContext {
  control: ClusterControl;
  history: History;
  /** ms since the run began. */
  now: () => number;
  rng: Rng;
}

/** A 4xx other than 408/429 means the request itself is wrong: retrying the same request cannot help. */
const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * Publishes `data` with idempotency key `id` on `channel` until a node acknowledges it, choosing a node with
 * `pick` for every try. Resolves with the acknowledgement, or null (given up / rejected); all recorded.
 */
export async function publishUntilAcked(ctx: PublishContext, publisher: string, channel: string, id: string, data: unknown,
  policy: RetryPolicy, pick: () => ChaosNode | undefined = () => ctx.rng.pick(reachable(ctx.control))): Promise<Ack | null> {
  const first = ctx.now();
  const path = `/v1/channels/${encodeURIComponent(channel)}/messages`;
  let last = 'no reachable node';
  for (let attempt = 1; ; attempt++) {
    const node = pick();
    let wait: number | null = null;
    if (node) {
      const t = ctx.now();
      const r = await call(node.url, 'POST', path, ctx.control.apiKey, { data, id }, policy.requestTimeoutMs);
      const outcome = r.kind === 'http' && r.status === 200 ? 'ack' : describe(r);
      const rec = { t, publisher, channel, id, node: node.index, attempt, outcome, ms: Math.round(r.ms) };
      ctx.history.attempts.push(rec);
      if (r.kind === 'http' && r.status === 200) {
        const b = r.body as { epoch?: unknown; offset?: unknown; duplicate?: unknown };
        if (typeof b?.epoch !== 'string' || typeof b.offset !== 'number') {
          last = `200 without epoch/offset: ${JSON.stringify(r.body).slice(0, 200)}`;
        } else {
          const ack: Ack = { t: ctx.now(), publisher, channel, id, epoch: b.epoch, offset: b.offset, duplicate: b.duplicate === true, node: node.index, data };
          ctx.history.acks.push(ack);
          return ack;
        }
      } else {
        last = outcome;
        if (r.kind === 'http' && !retryable(r.status)) {
          ctx.history.rejected.push(rec);
          return null;
        }
        if (r.kind === 'http' && policy.honourRetryAfter && r.retryAfterMs !== null) wait = Math.min(r.retryAfterMs, policy.maxBackoffMs);
      }
    }
    if (ctx.now() - first > policy.retryForMs) {
      ctx.history.gaveUp.push({ t: ctx.now(), publisher, channel, id, attempts: attempt, last });
      return null;
    }
    const cap = Math.min(policy.maxBackoffMs, policy.minBackoffMs * 2 ** Math.min(attempt, 10));
    await sleep(wait ?? ctx.rng.between(policy.minBackoffMs, cap));
  }
}

export interface GeneratorOptions {
  publishers: number;
  channels: string[];
  /** Publishes (ids) at most per channel, so that history.size keeps all of them. */
  maxPerChannel: number;
  /** Publishes per second over all publishers; 0 = each publisher as fast as its answers come. */
  rate: number;
  /** Prefix of every id (unique per run). */
  runId: string;
  retry: RetryPolicy;
}

export class Generator {
  /** Ids started / acknowledged / given up or rejected. */
  started = 0;
  acked = 0;
  failed = 0;
  private stopping = false;
  private readonly perChannel = new Map<string, number>();
  private loops: Array<Promise<void>> = [];

  constructor(private readonly ctx: PublishContext, private readonly o: GeneratorOptions) {}

  /** Starts the publishers. */
  start(): void {
    this.loops = Array.from({ length: this.o.publishers }, (_, p) => this.loop(p));
  }

  /** True once every channel holds maxPerChannel ids (the publishers then idle). */
  get full(): boolean {
    return this.o.channels.every((c) => (this.perChannel.get(c) ?? 0) >= this.o.maxPerChannel);
  }

  /** Stops starting new ids; resolves when every id in flight is acknowledged or given up. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async loop(p: number): Promise<void> {
    const interval = this.o.rate > 0 ? (1000 * this.o.publishers) / this.o.rate : 0;
    const t0 = this.ctx.now() + this.ctx.rng.next() * interval;
    for (let seq = 1; !this.stopping; seq++) {
      if (interval > 0) await sleep(t0 + seq * interval - this.ctx.now());
      const open = this.o.channels.filter((c) => (this.perChannel.get(c) ?? 0) < this.o.maxPerChannel);
      const channel = this.ctx.rng.pick(open);
      if (channel === undefined) {
        await sleep(200);
        continue;
      }
      this.perChannel.set(channel, (this.perChannel.get(channel) ?? 0) + 1);
      const id = `${this.o.runId}-p${p}-${seq}`;
      this.started++;
      const ack = await publishUntilAcked(this.ctx, `p${p}`, channel, id, { id, p, seq }, this.o.retry);
      if (ack) this.acked++;
      else this.failed++;
    }
  }
}
