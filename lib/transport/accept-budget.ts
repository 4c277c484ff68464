/**
 * The connection-accept budget of a node: at most `perSecond` new client connections (WebSocket upgrades,
 * SSE and long-poll session opens) are admitted per second, with a burst of a tenth of a second's worth (so a
 * herd is let in a hundred milliseconds' share at a time, never a whole second's worth in one event-loop turn). A connection
 * over the budget is refused at once, before any token check, hook call or owner round trip, with a
 * Retry-After that grows with the overload: when 18,000 clients knock in the same second on a node with a
 * budget of 1,000/s, the first refused are told 1 s, the ones after them 2 s, ... so the herd is spread over
 * as many seconds as the node needs instead of all coming back together (clients add their own jitter on top).
 * `perSecond` 0 turns the budget off.
 */
export interface AcceptBudget {
  /** 0 = admitted (one token spent); otherwise refused: the seconds the client should wait (Retry-After). */
  take(now?: number): number;
  /** Connections refused so far. */
  readonly refused: number;
}

/** Longest Retry-After the budget answers, seconds. */
export const MAX_RETRY_AFTER_S = 30;

export function acceptBudget(perSecond: number): AcceptBudget {
  if (!(perSecond > 0)) return { take: () => 0, refused: 0 };
  return new TokenBucket(perSecond);
}

class TokenBucket implements AcceptBudget {
  private tokens: number;
  private last = Date.now();
  /** Refusals not yet "paid for": each perSecond of them pushes the next Retry-After one second further. */
  private backlog = 0;
  refused = 0;

  private readonly burst: number;

  constructor(private readonly perSecond: number) {
    this.burst = Math.max(1, perSecond / 10);
    this.tokens = this.burst;
  }

  take(now = Date.now()): number {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perSecond);
    // The backlog drains at the budget's rate: it is the queue the refused clients form in the future.
    this.backlog = Math.max(0, this.backlog - elapsed * this.perSecond);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    this.refused++;
    this.backlog++;
    return Math.min(MAX_RETRY_AFTER_S, 1 + Math.floor(this.backlog / this.perSecond));
  }
}
