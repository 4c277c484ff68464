// Dialing members directly. Topic discovery finds peers once and hyperswarm gives up on one after about five
// failed attempts (a discovered peer after 4; an explicit one, joinPeer(), is not queued again once it has more
// than 3), and the next discovery refresh is minutes away. On a machine busy with dozens of starting nodes, or
// after a member was paused for a while, that leaves pairs of live members that never link. The seeker keeps
// dialing each member it was asked to find, reviving hyperswarm's attempts every SEEK_RETRY_MS, until the member
// is linked again or SEEK_FOR_MS passed.
import type Hyperswarm from 'hyperswarm';

/** How long a lost or missing member is dialed before it is given up. */
export const SEEK_FOR_MS = 10 * 60_000;
/** How often the dials of members still missing are revived. */
export const SEEK_RETRY_MS = 5000;
/**
 * While a member stays missing this long, the topic is looked up again (at most this often): a direct dial needs
 * the DHT's record of the peer's own key, which a node busy while it started may have failed to announce, while a
 * topic lookup hands hyperswarm the peer with the addresses to reach it through.
 */
export const REFRESH_AFTER_MS = 30_000;

/** Keeps dialing members this node should be linked to and is not. */
export class PeerSeeker {
  /** Member id -> when it stops being sought. */
  private readonly sought = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private refreshedAt = Date.now();

  /**
   * @param swarm the swarm, once started (null before and after)
   * @param linked whether `id` is an admitted member now
   * @param refresh looks the cluster's topic up again (see REFRESH_AFTER_MS)
   */
  constructor(private readonly swarm: () => Hyperswarm | null, private readonly linked: (id: string) => boolean,
    private readonly refresh: () => void = () => {}) {}

  /** Whether `id` is being sought. */
  has(id: string): boolean {
    return this.sought.has(id);
  }

  /** Starts (or renews) dialing `id`. */
  seek(id: string): void {
    const swarm = this.swarm();
    if (!swarm || this.stopped) return;
    if (this.sought.size === 0) this.refreshedAt = Date.now();
    this.sought.set(id, Date.now() + SEEK_FOR_MS);
    this.dial(swarm, id);
    this.timer ??= setInterval(() => this.revive(), SEEK_RETRY_MS).unref();
  }

  /** Starts dialing `id` unless it is linked or already sought (a member a peer listed and this node lacks). */
  seekMissing(id: string): void {
    if (!this.linked(id) && !this.sought.has(id)) this.seek(id);
  }

  /** `id` is linked again (or no longer wanted): stop dialing it. */
  found(id: string): void {
    if (!this.sought.delete(id)) return;
    const swarm = this.swarm();
    if (swarm && !this.stopped) swarm.leavePeer(Buffer.from(id, 'hex'));
    if (this.sought.size === 0) this.clearTimer();
  }

  stop(): void {
    this.stopped = true;
    this.sought.clear();
    this.clearTimer();
  }

  private revive(): void {
    const swarm = this.swarm();
    const now = Date.now();
    for (const [id, until] of [...this.sought]) {
      if (this.linked(id) || now > until || !swarm) this.found(id);
      else this.dial(swarm, id);
    }
    if (this.sought.size > 0 && now - this.refreshedAt >= REFRESH_AFTER_MS) {
      this.refreshedAt = now;
      this.refresh();
    }
  }

  /** Explicit dial; a peer hyperswarm gave up on (over 3 attempts: PeerInfo.attempts, a plain field) counts afresh. */
  private dial(swarm: Hyperswarm, id: string): void {
    const info = swarm.peers.get(id);
    if (info && typeof info.attempts === 'number' && info.attempts > 3) info.attempts = 0;
    swarm.joinPeer(Buffer.from(id, 'hex'));
  }

  private clearTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
