// A node whose event loop stood still (SIGSTOP, a long GC, an overloaded machine) may have been declared dead and
// failed over meanwhile, while it still believes it owns its channels and that the owners it registered its
// subscribers with still have them. On waking, before it acts on anything, it must drop that belief. Timers alone
// cannot tell in time (requests that waited during the stall are read before the next timer runs), so the owner
// asks check() before it uses a channel, and a timer keeps the last-seen time fresh.

/** Watches this process for stalls; `onStall` runs (once per stall) when one is noticed. */
export class StallWatch {
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;

  /**
   * @param limitMs a gap in the ticks longer than this counts as a stall
   * @param onStall what to do after one (drop channels, register subscriptions again); gets the gap in ms
   */
  constructor(private readonly limitMs: number, private readonly onStall: (stalledMs: number) => void, tickMs = 100) {
    this.timer = setInterval(() => this.check(), tickMs);
    this.timer.unref();
  }

  /** Notices a stall now (cheap: one clock read); call before acting on what this node believes it owns. */
  check(): void {
    const now = performance.now();
    const gap = now - this.last;
    this.last = now;
    if (gap > this.limitMs) this.onStall(gap);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
