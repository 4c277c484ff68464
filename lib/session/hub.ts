import { messageFrame, Prepared } from '../protocol/prepared.js';
import type { Message } from '../protocol/types.js';
import type { Session } from './session.js';

/** What a deliver hook decided for one recipient: new data, skip, or undefined = unchanged. */
export type Variant = { data: unknown } | { skip: true } | undefined;

/**
 * The push node's local index: channel -> sessions subscribed here. Fan-out frames each message once
 * and writes the same bytes to every live subscriber; a subscriber still waiting for its subscribe
 * answer gets the message buffered instead, and offsets already delivered are never sent twice.
 *
 * One Map, not centrifuge's 64 shards: shards spread lock contention between threads, and a Node
 * process has one thread touching this map.
 */
export class Hub {
  private readonly channels = new Map<string, Set<Session>>();

  /**
   * `missed` is called when a live message shows that a subscriber missed some (an offset skipped, or another
   * epoch): deliveries are held from then on (`pending`) and the caller fetches what is missing, this message
   * included, from the owner's history. That turns a lost delivery (an owner that moved or re-took the channel between two messages) into a
   * catch-up instead of a silent gap.
   */
  constructor(private readonly missed: (s: Session, channel: string) => void = () => {}) {}
  /** Subscriptions held locally. */
  subscriptions = 0;

  add(channel: string, s: Session): void {
    let set = this.channels.get(channel);
    if (!set) this.channels.set(channel, (set = new Set()));
    if (!set.has(s)) { set.add(s); this.subscriptions++; }
  }

  remove(channel: string, s: Session): void {
    const set = this.channels.get(channel);
    if (!set || !set.delete(s)) return;
    this.subscriptions--;
    if (set.size === 0) this.channels.delete(channel);
  }

  /** Whether any local session is subscribed to `channel`. */
  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  sessions(channel: string): Iterable<Session> {
    return this.channels.get(channel) ?? [];
  }

  /** Live recipients of `channel` (attached, not waiting for a subscribe answer). */
  recipients(channel: string): Session[] {
    const out: Session[] = [];
    for (const s of this.sessions(channel)) if (s.conn && !s.subs.get(channel)?.pending) out.push(s);
    return out;
  }

  /**
   * Delivers `m` to every local subscriber of its channel. `variants` (from a deliver hook) gives some
   * sessions their own data or skips them; sessions with equal variant data share one frame.
   * Returns the number of frames written.
   */
  deliver(m: Message, variants?: Map<Session, Variant>): number {
    const set = this.channels.get(m.channel);
    if (!set) return 0;
    let shared: Prepared | undefined;
    let byData: Map<string, Prepared> | undefined;
    let n = 0;
    for (const s of set) {
      const sub = s.subs.get(m.channel);
      if (!sub) continue;
      if (sub.pending) { sub.pending.push(m); continue; }
      if (!s.conn) continue;
      if (m.epoch === sub.epoch ? m.offset > sub.offset + 1 : sub.epoch !== '') {
        sub.pending = [];
        this.missed(s, m.channel);
        continue;
      }
      if (m.offset <= sub.offset) continue;
      sub.offset = m.offset;
      const v = variants?.get(s);
      if (v === undefined) {
        s.conn.send(shared ??= messageFrame(m), s);
      } else if ('data' in v) {
        const key = JSON.stringify(v.data) ?? 'null';
        byData ??= new Map();
        let p = byData.get(key);
        if (!p) byData.set(key, (p = messageFrame({ ...m, data: v.data })));
        s.conn.send(p, s);
      } else continue; // skipped: the offset still advances so a resume does not replay it
      n++;
    }
    return n;
  }

  /** Sends a non-message frame (presence) to every live subscriber of `channel`, framed once. */
  broadcast(channel: string, frame: Prepared): void {
    for (const s of this.sessions(channel)) if (s.conn && !s.subs.get(channel)?.pending) s.conn.send(frame, s);
  }
}
