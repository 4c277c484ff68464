import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { NodeStats, StatsSample, StatsSource } from './stats.js';

/** What the sampler reads from the node. */
export interface NodeStatsDeps {
  id: () => string;
  url: () => string;
  /** Attached connections by transport. */
  connections: () => { ws: number; sse: number; poll: number };
  sessions: () => number;
  subscriptions: () => number;
  /** Running totals of messages accepted (in) and frames written to clients (out). */
  messages: () => { in: number; out: number };
  replication: () => NodeStats['replication'];
  /** Sampling period. @default 1000 */
  intervalMs?: number;
  /** Samples kept for the chart. @default 300 (5 minutes at 1 s) */
  keep?: number;
}

/** Samples a node once a second: rates from running totals, event-loop delay from a perf_hooks histogram. */
export class NodeStatsSampler implements StatsSource {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private readonly samples: StatsSample[] = [];
  private last: { time: number; in: number; out: number };
  private latest: NodeStats;

  constructor(private readonly deps: NodeStatsDeps) {
    const m = deps.messages();
    this.last = { time: Date.now(), in: m.in, out: m.out };
    this.latest = this.take(0);
  }

  start(): void {
    this.loop.enable();
    this.timer = setInterval(() => this.sample(), this.deps.intervalMs ?? 1000).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.loop.disable();
  }

  current(): NodeStats {
    // Counts are read now (cheap); rates and lag are those of the last full sample.
    const fresh = this.take(this.latest.messagesInPerSecond, this.latest.messagesOutPerSecond);
    return { ...fresh, eventLoopLagMs: this.latest.eventLoopLagMs };
  }

  history(): StatsSample[] {
    return this.samples.slice();
  }

  /** Takes one sample (the timer calls it; tests may too). */
  sample(): NodeStats {
    const now = Date.now();
    const m = this.deps.messages();
    const seconds = Math.max(0.001, (now - this.last.time) / 1000);
    const inRate = (m.in - this.last.in) / seconds;
    const outRate = (m.out - this.last.out) / seconds;
    this.last = { time: now, in: m.in, out: m.out };
    const ms = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 1e4) / 100 : 0);
    const lag = this.loop.count > 0 ? { mean: ms(this.loop.mean), p99: ms(this.loop.percentile(99)), max: ms(this.loop.max) } : { mean: 0, p99: 0, max: 0 };
    this.loop.reset();
    this.latest = { ...this.take(round(inRate), round(outRate)), eventLoopLagMs: lag };
    this.samples.push({ time: now, messagesInPerSecond: this.latest.messagesInPerSecond, messagesOutPerSecond: this.latest.messagesOutPerSecond,
      connections: this.latest.connections.total, eventLoopLagMs: lag.p99, eventLoopMaxMs: lag.max });
    if (this.samples.length > (this.deps.keep ?? 300)) this.samples.shift();
    return this.latest;
  }

  private take(inRate: number, outRate = 0): NodeStats {
    const d = this.deps;
    const c = d.connections();
    const m = d.messages();
    const mem = process.memoryUsage();
    return {
      id: d.id(), url: d.url(), time: Date.now(), uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      connections: { ...c, total: c.ws + c.sse + c.poll }, sessions: d.sessions(), subscriptions: d.subscriptions(),
      messagesInPerSecond: inRate, messagesOutPerSecond: outRate, messagesIn: m.in, messagesOut: m.out,
      eventLoopLagMs: { mean: 0, p99: 0, max: 0 }, memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      replication: d.replication(),
    };
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
