// What a benchmark reads from the nodes of a running cluster over HTTP: /metrics counters summed over the nodes,
// member counts and answer times of GET /v1/cluster, and the largest event-loop stall from /v1/stats history.
// Every request is bounded; a node that does not answer is counted, never waited for.
import { sleep } from './proc.js';

export class ClusterProbe {
  /** @param urls the nodes' HTTP URLs; @param apiKey their API key */
  constructor(private readonly urls: string[], private readonly apiKey: string) {}

  /** hashpub_cluster_deaths_total summed over the nodes. */
  async deaths(): Promise<number> {
    return (await this.sumCounter('hashpub_cluster_deaths_total')).total;
  }

  /**
   * Every WebSocket connection the nodes saw end since they started, by reason (`hashpub_ws_disconnects_total`),
   * reasons at 0 left out, with how pong timeouts spread over the nodes.
   */
  async disconnects(): Promise<Record<string, number>> {
    const { byLabel, unanswered, perNode } = await this.sumCounter('hashpub_ws_disconnects_total', 'reason');
    const pongTimeouts = perNode.map((r) => r.pong_timeout ?? 0);
    return {
      ...Object.fromEntries(Object.entries(byLabel).filter(([, n]) => n > 0)),
      ...(byLabel.pong_timeout ? { pongTimeoutNodes: pongTimeouts.filter((n) => n > 0).length, pongTimeoutMostOnOneNode: Math.max(...pongTimeouts) } : {}),
      ...(unanswered ? { unansweredNodes: unanswered } : {}),
    };
  }

  /** Members each node lists in GET /v1/cluster (-1: no answer). */
  memberCounts(): Promise<number[]> {
    return Promise.all(this.urls.map(async (url) => {
      try { return (JSON.parse((await this.get(url, '/v1/cluster')).text) as { members: unknown[] }).members.length; } catch { return -1; }
    }));
  }

  /** Per node, the slowest GET /v1/cluster answer while polling for `ms` (null: one failed or took over 10 s). */
  async slowestViews(ms: number): Promise<Array<number | null>> {
    const worst: Array<number | null> = this.urls.map(() => 0);
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await Promise.all(this.urls.map(async (url, i) => {
        const t = Date.now();
        try { if ((await this.get(url, '/v1/cluster')).status !== 200) worst[i] = null; } catch { worst[i] = null; }
        if (worst[i] !== null) worst[i] = Math.max(worst[i]!, Date.now() - t);
      }));
      await sleep(500);
    }
    return worst;
  }

  /**
   * The largest per-second event-loop delay maximum any node sampled since `since` (ms epoch): one GET
   * /v1/stats?history=1 (the answering node gathers every member's last 5 minutes of samples over the node links).
   */
  async largestStall(since: number): Promise<{ ms: number | null; node: string | null; unanswered: number }> {
    let best: number | null = null;
    let at: string | null = null;
    let unanswered = this.urls.length;
    try {
      const body = JSON.parse((await this.get(this.urls[0]!, '/v1/stats?history=1', 30_000)).text) as {
        members: Array<{ url: string; ok: boolean; history?: Array<{ time: number; eventLoopMaxMs?: number }> }>;
      };
      unanswered = this.urls.length - body.members.filter((m) => m.ok).length;
      for (const m of body.members) {
        for (const s of m.history ?? []) {
          if (s.time >= since && s.eventLoopMaxMs !== undefined && (best === null || s.eventLoopMaxMs > best)) { best = s.eventLoopMaxMs; at = m.url; }
        }
      }
    } catch { /* no answer: unanswered stays the node count */ }
    return { ms: best, node: at, unanswered };
  }

  /**
   * A /metrics counter summed over the nodes, per value of `label` ('' when it has none), and per node: a node
   * that does not answer counts 0, and is counted.
   */
  private async sumCounter(name: string, label?: string):
    Promise<{ byLabel: Record<string, number>; total: number; unanswered: number; perNode: Array<Record<string, number>> }> {
    let unanswered = 0;
    const byLabel: Record<string, number> = {};
    const perNode = this.urls.map(() => ({} as Record<string, number>));
    const re = new RegExp(`^${name}(?:\\{[^}]*?${label ? `${label}="([^"]*)"` : '()'}[^}]*\\})? (\\S+)$`);
    await Promise.all(this.urls.map(async (url, i) => {
      try {
        for (const line of (await this.get(url, '/metrics')).text.split('\n')) {
          const m = re.exec(line);
          if (!m) continue;
          const key = m[1] ?? '';
          byLabel[key] = (byLabel[key] ?? 0) + Number(m[2]);
          perNode[i]![key] = Number(m[2]);
        }
      } catch { unanswered++; }
    }));
    return { byLabel, total: Object.values(byLabel).reduce((a, b) => a + b, 0), unanswered, perNode };
  }

  private async get(url: string, path: string, timeoutMs = 10_000): Promise<{ status: number; text: string }> {
    const res = await fetch(url + path, { headers: { authorization: `Bearer ${this.apiKey}` }, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, text: await res.text() };
  }
}
