import type { Prepared } from '../protocol/prepared.js';
import type { Session } from './session.js';

/** What a deliver hook decided for one recipient: new data, skip, or undefined = unchanged. */
export type Variant = { data: unknown } | { skip: true } | undefined;

/**
 * The push node's local index: channel -> sessions subscribed here (the fan-out, fanout.ts, walks it).
 *
 * One Map, not centrifuge's 64 shards: shards spread lock contention between threads, and a Node
 * process has one thread touching this map.
 */
export class Hub {
  private readonly channels = new Map<string, Set<Session>>();

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

  /** Sends a non-message frame (presence) to every live subscriber of `channel`, framed once. */
  broadcast(channel: string, frame: Prepared): void {
    for (const s of this.sessions(channel)) if (s.conn && !s.subs.get(channel)?.pending) s.conn.send(frame, s);
  }
}
