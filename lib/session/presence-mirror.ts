import type { PresenceDiff } from '../owner/owner-api.js';
import { Prepared } from '../protocol/prepared.js';
import type { Hub } from './hub.js';
import type { Session } from './session.js';

/** One channel's member list on a push node, as the owner's diffs built it. */
interface Mirror {
  members: Set<string>;
  count: number;
  countOnly: boolean;
  /** The snapshot frame of the current list, encoded once for every subscriber that needs it. */
  snapshot: Prepared | null;
  /** Local subscribers that have had a snapshot (they get diffs from then on). */
  seen: WeakSet<Session>;
}

/**
 * Presence events on a push node: the owner sends one diff per interval (or the whole list when this node is new to
 * the channel); every local subscriber gets that diff as one shared frame, and a subscriber that joins gets the
 * current list once as a snapshot (shared by everyone who joins before the list changes again), then diffs.
 * Frames: {"type":"presence","channel","members":[...],"count"} (snapshot) and
 * {"type":"presence","channel","joins":[...],"leaves":[...],"count"} (diff); with presence "count" only the count.
 */
export class PresenceMirrors {
  private readonly mirrors = new Map<string, Mirror>();

  constructor(private readonly hub: Hub) {}

  /** A diff (or a whole list) from the owner. */
  apply(channel: string, diff: PresenceDiff): void {
    let m = this.mirrors.get(channel);
    const countOnly = diff.countOnly === true;
    if (diff.members !== undefined) {
      m = { members: new Set(diff.members), count: diff.count, countOnly, snapshot: null, seen: new WeakSet() };
      this.mirrors.set(channel, m);
    } else if (!m) {
      return; // the whole list comes first; until then subscribers wait for it
    } else {
      for (const u of diff.joins) m.members.add(u);
      for (const u of diff.leaves) m.members.delete(u);
      m.count = diff.count;
      m.snapshot = null;
    }
    const frame = diff.members !== undefined ? null
      : new Prepared('presence', countOnly ? { type: 'presence', channel, count: diff.count }
        : { type: 'presence', channel, joins: diff.joins, leaves: diff.leaves, count: diff.count });
    for (const s of this.hub.sessions(channel)) {
      if (!s.conn || s.subs.get(channel)?.pending) continue;
      if (!m.seen.has(s) || frame === null) this.sendSnapshot(channel, m, s);
      else s.conn.send(frame, s);
    }
  }

  /** Session `s` finished subscribing to `channel` (a channel with presence events): it gets the list. */
  joined(channel: string, s: Session): void {
    const m = this.mirrors.get(channel);
    if (m && s.conn) this.sendSnapshot(channel, m, s);
  }

  /** No local subscriber is left on `channel`. */
  forget(channel: string): void {
    this.mirrors.delete(channel);
  }

  private sendSnapshot(channel: string, m: Mirror, s: Session): void {
    m.snapshot ??= new Prepared('presence', m.countOnly ? { type: 'presence', channel, count: m.count }
      : { type: 'presence', channel, members: [...m.members], count: m.count });
    m.seen.add(s);
    s.conn!.send(m.snapshot, s);
  }
}
