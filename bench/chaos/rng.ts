/** A seeded random source (mulberry32) so a chaos run's choices (nodes, channels, pauses) can be replayed with --seed. */

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [min, max]. */
  between(min: number, max: number): number;
  /** A uniformly chosen element, or undefined for an empty list. */
  pick<T>(list: readonly T[]): T | undefined;
}

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, between: (min, max) => min + next() * (max - min), pick: (list) => list[int(list.length)] };
}
