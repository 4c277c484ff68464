/** A monotonic clock in milliseconds: performance.now() in a node, a hand-moved one in tests. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never goes back. */
  now(): number;
}

/** The process's monotonic clock (the same origin as performance.now()). */
export const systemClock: Clock = { now: () => performance.now() };
