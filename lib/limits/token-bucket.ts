/**
 * Token buckets as plain state plus pure functions of (state, rate, burst, now): no timers, no clock of
 * their own, so a test drives them with any time it likes.
 */

/** The state of one bucket: tokens left at `stamp` (ms). */
export interface Bucket {
  tokens: number;
  stamp: number;
}

/** A full bucket at `now`. */
export const fullBucket = (burst: number, now: number): Bucket => ({ tokens: burst, stamp: now });

/**
 * Refills `b` for the time since its stamp (`rate` tokens per second, at most `burst`), then takes one token.
 * Returns 0 when taken, else the seconds until a token is there (the bucket is left unchanged but refilled).
 */
export function take(b: Bucket, rate: number, burst: number, now: number): number {
  if (now > b.stamp) {
    b.tokens = Math.min(burst, b.tokens + ((now - b.stamp) / 1000) * rate);
    b.stamp = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return (1 - b.tokens) / rate;
}

/** True when `b` would be full at `now` (it can be forgotten: a new full bucket is the same). */
export const isFull = (b: Bucket, rate: number, burst: number, now: number): boolean =>
  b.tokens + ((now - b.stamp) / 1000) * rate >= burst;

/**
 * Buckets by key (source address, channel) that forget full ones, so a client naming many keys costs memory
 * only for as long as its buckets are not full again. Sweeps when the map doubles, never on a timer.
 */
export class BucketMap {
  private readonly map = new Map<string, Bucket>();
  private sweepAt = 1024;

  constructor(private readonly rate: number, private readonly burst: number, private readonly now: () => number) {}

  /** Takes a token for `key`; 0 when taken, else the seconds to wait. */
  take(key: string): number {
    const now = this.now();
    let b = this.map.get(key);
    if (!b) {
      if (this.map.size >= this.sweepAt) this.sweep(now);
      this.map.set(key, (b = fullBucket(this.burst, now)));
    }
    return take(b, this.rate, this.burst, now);
  }

  get size(): number {
    return this.map.size;
  }

  private sweep(now: number): void {
    for (const [k, b] of this.map) if (isFull(b, this.rate, this.burst, now)) this.map.delete(k);
    this.sweepAt = Math.max(1024, this.map.size * 2);
  }
}
