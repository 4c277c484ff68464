/**
 * A log-bucketed latency histogram (1% relative resolution, 1 us .. ~1000 s) that is cheap to record
 * into, small to send over IPC (only non-empty buckets) and exact to merge (bucket counts add up).
 */
const RATIO = 1.01;
const LN_RATIO = Math.log(RATIO);
const BUCKETS = Math.ceil(Math.log(1e9) / LN_RATIO) + 1; // up to 1e9 us

/** Wire form: non-empty buckets as [index, count] pairs plus exact count/sum/min/max (ms). */
export interface HistogramData {
  buckets: Array<[number, number]>;
  count: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sumMs = 0;
  minMs = Infinity;
  maxMs = -Infinity;

  /** Records one latency in milliseconds (negative values, from clock skew, count as 0). */
  record(ms: number): void {
    const us = ms * 1000;
    const idx = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LN_RATIO));
    this.counts[idx]!++;
    this.count++;
    this.sumMs += ms;
    if (ms < this.minMs) this.minMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  toJSON(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, sumMs: this.sumMs, minMs: this.minMs, maxMs: this.maxMs };
  }

  merge(d: HistogramData): void {
    for (const [i, c] of d.buckets) this.counts[i]! += c;
    this.count += d.count;
    this.sumMs += d.sumMs;
    if (d.count > 0) {
      this.minMs = Math.min(this.minMs, d.minMs);
      this.maxMs = Math.max(this.maxMs, d.maxMs);
    }
  }

  /** The q-quantile (0..1) in milliseconds, to 1% (bucket midpoint, clamped to the exact min/max). */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const mid = i === 0 ? 0.001 : Math.pow(RATIO, i + 0.5) / 1000;
        return Math.min(this.maxMs, Math.max(this.minMs, mid));
      }
    }
    return this.maxMs;
  }

  summary(): { count: number; min: number | null; p50: number | null; p90: number | null; p99: number | null; max: number | null; mean: number | null } {
    const r = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
    return {
      count: this.count,
      min: r(this.count ? this.minMs : null),
      p50: r(this.quantile(0.5)),
      p90: r(this.quantile(0.9)),
      p99: r(this.quantile(0.99)),
      max: r(this.count ? this.maxMs : null),
      mean: r(this.count ? this.sumMs / this.count : null),
    };
  }
}
