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

/**
 * Event-loop delay is sampled by a COARSE_MS histogram all the time and, while the loop is busy, by a FINE_MS one
 * too: a 10 ms sampling timer costs an idle process about 0.45% of a core (0.14% at 100 ms; an idle 32-node
 * cluster: 2.65% -> 2.28% of a core per node), which across the dozens of node processes of one machine is a real
 * share of it. A stall worth seeing on an idle loop (a GC, a stop) outlasts COARSE_MS, so the coarse one catches
 * it; a busy loop is sampled finely from the second after it became busy.
 */
const FINE_MS = 10;
const COARSE_MS = 100;
/** Event-loop utilization over a sample above which the next samples are fine too. */
const BUSY_UTILIZATION = 0.05;

/** Samples a node once a second: rates from running totals, event-loop delay from perf_hooks histograms. */
export class NodeStatsSampler implements StatsSource {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: COARSE_MS });
  /** The fine histogram while the loop is busy; `fineFull` once it has run for a whole sample. */
  private fine: IntervalHistogram | null = null;
  private fineFull = false;
  private utilization = performance.eventLoopUtilization();
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | null = null;
  /**
   * A plain COARSE_MS timer's longest gap since the last sample. The histograms lose a stall that begins before
   * their first tick after a reset (reset() restarts their clock at that tick), so the longest delay is this or
   * theirs, whichever is longer.
   */
  private gapTimer: NodeJS.Timeout | null = null;
  private gapMaxMs = 0;
  private lastGapTick = 0;
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
    this.lastGapTick = performance.now();
    this.gapTimer = setInterval(() => {
      const now = performance.now();
      this.gapMaxMs = Math.max(this.gapMaxMs, now - this.lastGapTick);
      this.lastGapTick = now;
    }, COARSE_MS).unref();
    // Read in the check phase, after every timer due in this turn: after a stall the loop-delay histograms' own
    // timers are due too, so the sample that follows a stall includes it (read before them, it would show a
    // second later).
    this.timer = setInterval(() => setImmediate(() => { if (this.timer) this.sample(); }), this.deps.intervalMs ?? 1000).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.gapTimer) clearInterval(this.gapTimer);
    this.timer = this.gapTimer = null;
    this.loop.disable();
    this.fine?.disable();
    this.fine = null;
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
    const h = this.fine && this.fineFull && this.fine.count > 0 ? this.fine : this.loop;
    const max = Math.max(this.loop.count > 0 ? this.loop.max : 0, this.fine && this.fine.count > 0 ? this.fine.max : 0, this.gapMaxMs * 1e6);
    this.gapMaxMs = 0;
    const lag = h.count > 0 ? { mean: ms(h.mean), p99: ms(h.percentile(99)), max: ms(max) } : { mean: 0, p99: 0, max: ms(max) };
    this.loop.reset();
    this.fine?.reset();
    this.watchFinely();
    this.latest = { ...this.take(round(inRate), round(outRate)), eventLoopLagMs: lag };
    this.samples.push({ time: now, messagesInPerSecond: this.latest.messagesInPerSecond, messagesOutPerSecond: this.latest.messagesOutPerSecond,
      connections: this.latest.connections.total, eventLoopLagMs: lag.p99, eventLoopMaxMs: lag.max });
    if (this.samples.length > (this.deps.keep ?? 300)) this.samples.shift();
    return this.latest;
  }

  /** Turns the fine histogram on while the loop is busy (over BUSY_UTILIZATION since the last sample), off when not. */
  private watchFinely(): void {
    const busy = performance.eventLoopUtilization(this.utilization).utilization > BUSY_UTILIZATION;
    this.utilization = performance.eventLoopUtilization();
    if (busy && this.fine) {
      this.fineFull = true;
    } else if (busy && this.timer) {
      this.fine = monitorEventLoopDelay({ resolution: FINE_MS });
      this.fine.enable();
      this.fineFull = false;
    } else if (!busy && this.fine) {
      this.fine.disable();
      this.fine = null;
    }
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
