// Local health (hashicorp/memberlist awareness.go; the Lifeguard paper's local health multiplier): a node that
// catches itself being slow (its own timers firing late, its indirect probes going unanswered, having to refute
// a suspicion of itself) scales its timeouts up, so that its own slowness is not taken for other nodes' silence.
import type { Clock } from './clock.js';

/** A health score in [0, max - 1]; timeouts are multiplied by score + 1. */
export class Awareness {
  private value = 0;
  private punctualSince: number;

  /**
   * @param max the multiplier never exceeds this
   * @param decayMs every this long without a health problem, the score drops by one
   */
  constructor(private readonly clock: Clock, readonly max = 8, private readonly decayMs = 1000) {
    this.punctualSince = clock.now();
  }

  /** 0 when healthy. */
  get score(): number {
    return this.value;
  }

  /** What timeouts are multiplied by: score + 1. */
  multiplier(): number {
    return this.value + 1;
  }

  /** `ms` scaled by the multiplier. */
  scale(ms: number): number {
    return ms * (this.value + 1);
  }

  /** Moves the score by `delta`, kept within [0, max - 1]; a rise restarts the decay period. */
  applyDelta(delta: number): void {
    this.value = Math.max(0, Math.min(this.max - 1, this.value + delta));
    if (delta > 0) this.punctualSince = this.clock.now();
  }

  /**
   * A periodic timer of this node ran `lateMs` after it was due: later than `toleranceMs` raises the score by
   * one; otherwise, once `decayMs` passed since the last problem, the score drops by one.
   */
  tick(lateMs: number, toleranceMs: number): void {
    if (lateMs > toleranceMs) {
      this.applyDelta(1);
    } else if (this.value > 0 && this.clock.now() - this.punctualSince >= this.decayMs) {
      this.value--;
      this.punctualSince = this.clock.now();
    }
  }
}
