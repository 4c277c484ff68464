// One suspicion of one peer (hashicorp/memberlist suspicion.go, after the Lifeguard paper): a deadline that
// starts at `max` and shrinks towards `min` as independent members confirm that they cannot hear the peer
// either. Time is read from an injected clock; nothing here schedules anything.
import type { Clock } from './clock.js';

/**
 * How long a suspicion lasts after `confirmations` of the `expected` independent confirmations:
 * max(min, max - (max - min) * log(C + 1) / log(K + 1)). With nobody who could confirm (K < 1) it is `min`.
 */
export function suspicionTimeout(confirmations: number, expected: number, minMs: number, maxMs: number): number {
  if (expected < 1) return minMs;
  const c = Math.max(0, Math.min(confirmations, expected));
  const fraction = Math.log(c + 1) / Math.log(expected + 1);
  return Math.max(minMs, Math.floor(maxMs - fraction * (maxMs - minMs)));
}

/** A running suspicion: confirmations counted once per member, a deadline that moves with them. */
export class Suspicion {
  /** Clock time the suspicion began. */
  readonly since: number;
  private readonly confirmers = new Set<string>();
  private paused = 0;

  /**
   * @param incarnation the peer's incarnation when suspected: a refutation must carry a higher one
   * @param expected confirmations that bring the deadline down to `minMs`
   */
  constructor(
    readonly incarnation: number,
    readonly expected: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly clock: Clock,
  ) {
    this.since = clock.now();
  }

  /** Distinct members that confirmed so far. */
  get confirmations(): number {
    return this.confirmers.size;
  }

  /** Counts `from` once; false if it already confirmed or enough members did. */
  confirm(from: string): boolean {
    if (this.confirmers.size >= this.expected || this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    return true;
  }

  /** Adds `ms` during which this node itself was not running: that time does not count towards the deadline. */
  pause(ms: number): void {
    if (ms > 0) this.paused += ms;
  }

  /** Clock time at which the peer is declared dead unless it proves alive first. */
  deadline(): number {
    return this.since + this.paused + suspicionTimeout(this.confirmers.size, this.expected, this.minMs, this.maxMs);
  }

  /** True once the deadline has passed. */
  expired(): boolean {
    return this.clock.now() >= this.deadline();
  }
}
