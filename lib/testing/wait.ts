/**
 * Polls `get` until it returns something truthy and resolves with it; throws `<what>: not within <ms> ms`
 * (with the last error `get` threw, if any) at the deadline. For tests: a condition with a deadline, no sleeps.
 */
export async function until<T>(what: string, ms: number, get: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  everyMs = 10): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await get();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
