import type { ClusterStats, MemberStats, NodeStats, StatsSample } from './stats.js';

/** How the answering node reaches the other members. */
export interface StatsPeers {
  self: string;
  /** Every admitted member (this node included) with its URL. */
  members(): Array<{ id: string; url: string }>;
  /** Asks member `id` for its figures (over the node links); rejects when it cannot answer. */
  ask(id: string, withHistory: boolean): Promise<{ stats: NodeStats; history?: StatsSample[] }>;
}

/** A member that has not answered in this long is shown as failed (the page polls every second). */
export const ASK_TIMEOUT_MS = 2000;

/** This node's figures plus every other member's (asked in parallel), with the sums. */
export async function clusterStats(own: { stats: NodeStats; history?: StatsSample[] }, peers: StatsPeers, withHistory: boolean): Promise<ClusterStats> {
  const members = await Promise.all(peers.members().map(async ({ id, url }): Promise<MemberStats> => {
    if (id === peers.self) return { id, url, ok: true, ...own };
    try {
      const r = await withTimeout(peers.ask(id, withHistory), ASK_TIMEOUT_MS);
      return { id, url, ok: true, ...r };
    } catch (err) {
      return { id, url, ok: false, error: (err as Error)?.message ?? String(err) };
    }
  }));
  return { node: peers.self, time: Date.now(), members, totals: totals(members) };
}

/** Sums of the members that answered. */
export function totals(members: MemberStats[]): ClusterStats['totals'] {
  const t = { members: members.length, connections: 0, sessions: 0, subscriptions: 0, messagesInPerSecond: 0, messagesOutPerSecond: 0 };
  for (const m of members) {
    if (!m.ok) continue;
    t.connections += m.stats.connections.total;
    t.sessions += m.stats.sessions;
    t.subscriptions += m.stats.subscriptions;
    t.messagesInPerSecond += m.stats.messagesInPerSecond;
    t.messagesOutPerSecond += m.stats.messagesOutPerSecond;
  }
  t.messagesInPerSecond = Math.round(t.messagesInPerSecond * 10) / 10;
  t.messagesOutPerSecond = Math.round(t.messagesOutPerSecond * 10) / 10;
  return t;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}
