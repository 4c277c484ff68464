import { Counter, Gauge, Registry } from 'prom-client';
import type { FailureStats } from './cluster/membership.js';
import { LIMIT_NAMES } from './limits/limits.js';

/**
 * Prometheus metrics of one node (its own Registry, so several nodes can live in one process).
 * Served as text on GET /metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'hashpub_connections', help: 'Open client connections by transport', labelNames: ['transport'], registers: [this.registry] });
  /** Read at scrape time; the node points these at its push service. */
  readonly sources: { sessions: () => number; subscriptions: () => number; failure: () => FailureStats | null } =
    { sessions: () => 0, subscriptions: () => 0, failure: () => null };
  readonly sessions = new Gauge({ name: 'hashpub_sessions', help: 'Sessions held on this push node (attached or waiting for a resume)', registers: [this.registry],
    collect: () => { this.sessions.set(this.sources.sessions()); } });
  readonly subscriptions = new Gauge({ name: 'hashpub_subscriptions', help: 'Subscriptions held on this push node', registers: [this.registry],
    collect: () => { this.subscriptions.set(this.sources.subscriptions()); } });
  readonly messagesIn = new Counter({ name: 'hashpub_messages_in_total', help: 'Messages accepted by channels this node owns', registers: [this.registry] });
  /** Plain running totals of messagesIn/messagesOut, read by the stats sampler each second (lib/stats/). */
  readonly totals = { in: 0, out: 0 };
  readonly messagesOut = new Counter({ name: 'hashpub_messages_out_total', help: 'Message frames written to local clients', registers: [this.registry] });
  readonly errors = new Counter({ name: 'hashpub_errors_total', help: 'Errors answered to clients and API callers, by code', labelNames: ['code'], registers: [this.registry] });
  readonly refusals = zeroed(new Counter({ name: 'hashpub_refusals_total', help: 'Requests refused with rate_limited, by limit (spec/protocol.md "Limits")', labelNames: ['limit'], registers: [this.registry] }), LIMIT_NAMES, 'limit');
  readonly abuseDisconnects = new Counter({ name: 'hashpub_abuse_disconnects_total', help: 'WebSocket connections closed with 4429 after too many refusals', registers: [this.registry] });
  readonly acceptRefused = new Counter({ name: 'hashpub_accept_refused_total', help: 'New client connections refused by the accept budget (--accept-per-second), by transport', labelNames: ['transport'], registers: [this.registry] });
  readonly wsDisconnects = zeroed(new Counter({ name: 'hashpub_ws_disconnects_total', help: 'WebSocket connections ended, by why: the client closed (client_closed) or vanished (dropped), or the server ended it (pong_timeout, slow, abuse, shutdown, or server_closed: a protocol error, auth refusal or API/hook disconnect)', labelNames: ['reason'], registers: [this.registry] }), WS_DISCONNECT_REASONS, 'reason');
  readonly wsPings = new Counter({ name: 'hashpub_ws_pings_total', help: 'WebSocket keepalive pings sent (a client that sent a frame since the last round is not pinged)', registers: [this.registry] });
  readonly slowDisconnects = new Counter({ name: 'hashpub_slow_disconnects_total', help: 'Clients disconnected because their output buffer passed the bound', registers: [this.registry] });
  readonly peerFrames = new Counter({ name: 'hashpub_peer_frames_total', help: 'Frames between cluster nodes, by direction and kind (owner, push, repl, cluster)', labelNames: ['direction', 'kind'], registers: [this.registry] });
  readonly peerBytes = new Counter({ name: 'hashpub_peer_bytes_total', help: 'Bytes between cluster nodes, by direction and kind (owner, push, repl, cluster)', labelNames: ['direction', 'kind'], registers: [this.registry] });
  readonly suspicions = this.failureCounter('hashpub_cluster_suspicions_total', 'Cluster peers this node began to suspect (silent for 3 heartbeats)', (s) => s.suspicions);
  readonly recovered = this.failureCounter('hashpub_cluster_suspicions_recovered_total', 'Suspicions that ended with the peer proven alive', (s) => s.recovered);
  readonly refutations = this.failureCounter('hashpub_cluster_refutations_total', 'Suspicions of this node that it refuted', (s) => s.refutations);
  readonly deaths = this.failureCounter('hashpub_cluster_deaths_total', 'Cluster peers this node declared dead and dropped, by how: suspicion ran out (timeout) or address refused a probe (refused)',
    (s) => ({ timeout: s.deaths - s.refusedDeaths, refused: s.refusedDeaths }), ['timeout', 'refused']);
  readonly health = new Gauge({ name: 'hashpub_cluster_health_multiplier', help: 'Local health multiplier of the failure detector (1 = healthy; timeouts are scaled by it)', registers: [this.registry],
    collect: () => { this.health.set(this.sources.failure()?.healthMultiplier ?? 1); } });
  /** Read at scrape time; the cluster points this at its replication. */
  sourcesReplication: (() => { batches: number; behind: number; mode: { copies: number; quorum: boolean; writable: boolean } }) | null = null;
  readonly replicationFrames = new Counter({ name: 'hashpub_replication_frames_total', help: 'Replication frames sent by this node as owner: append (one per replica per turn) and sync chunks', labelNames: ['kind'], registers: [this.registry] });
  readonly replicationBatches = new Counter({ name: 'hashpub_replication_batches_total', help: 'Write batches sent to replicas in append frames', registers: [this.registry] });
  readonly replicationSyncs = new Counter({ name: 'hashpub_replication_syncs_total', help: 'Replica catch-ups completed (new replica, restarted replica, missed batch)', registers: [this.registry] });
  readonly replicationRefused = new Counter({ name: 'hashpub_replication_refused_total', help: 'Requests this node refused as a replica, by reason (stale_term = a fenced old owner)', labelNames: ['reason'], registers: [this.registry] });
  readonly replicationLag = new Gauge({ name: 'hashpub_replication_lag_batches', help: 'Write batches of owned channels not yet durable on their replica', registers: [this.registry],
    collect: () => { this.replicationLag.set(this.sourcesReplication?.().batches ?? 0); } });
  readonly replicationBehind = new Gauge({ name: 'hashpub_replication_behind_channels', help: 'Owned channels whose replica is not caught up', registers: [this.registry],
    collect: () => { this.replicationBehind.set(this.sourcesReplication?.().behind ?? 0); } });
  readonly writable = new Gauge({ name: 'hashpub_writable', help: '1 when this node can acknowledge writes (quorum and replica available), else 0', registers: [this.registry],
    collect: () => { this.writable.set(this.sourcesReplication ? Number(this.sourcesReplication().mode.writable) : 1); } });

  /** Where this process's memory goes, read at scrape time (process.memoryUsage(); bench/idle-memory.ts reads it). */
  readonly memory = new Gauge({ name: 'hashpub_process_memory_bytes', help: 'Memory of this node process by kind: rss, heap_total/heap_used (V8), external (C++ objects tied to JS), array_buffers (Buffers)', labelNames: ['kind'], registers: [this.registry],
    collect: () => {
      const m = process.memoryUsage();
      const kinds = { rss: m.rss, heap_total: m.heapTotal, heap_used: m.heapUsed, external: m.external, array_buffers: m.arrayBuffers };
      for (const [kind, v] of Object.entries(kinds)) this.memory.set({ kind }, v);
    } });

  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * A counter that follows failure-detector counts at scrape time: `read` gives one count, or one per value of
   * the `reason` label.
   */
  private failureCounter(name: string, help: string, read: (s: FailureStats) => number | Record<string, number>, reasons: string[] = []): Counter {
    const seen = new Map<string, number>();
    const counter: Counter = new Counter({
      name, help, labelNames: reasons.length ? ['reason'] : [], registers: [this.registry],
      collect: () => {
        const s = this.sources.failure();
        if (!s) return;
        const value = read(s);
        for (const [reason, n] of Object.entries(typeof value === 'number' ? { '': value } : value)) {
          const before = seen.get(reason) ?? 0;
          if (n > before) counter.inc(reason ? { reason } : {}, n - before);
          seen.set(reason, Math.max(before, n));
        }
      },
    });
    for (const reason of reasons) counter.inc({ reason }, 0);
    return counter;
  }
}

/** Shows every label value from the start (0), so a dashboard sees the series before the first refusal. */
function zeroed<L extends string>(counter: Counter<L>, values: readonly string[], label: L): Counter<L> {
  for (const value of values) counter.inc({ [label]: value } as Partial<Record<L, string>>, 0);
  return counter;
}

/** Why a WebSocket connection ended (`hashpub_ws_disconnects_total{reason}`). */
export const WS_DISCONNECT_REASONS = ['client_closed', 'dropped', 'pong_timeout', 'slow', 'abuse', 'shutdown', 'server_closed'] as const;
export type WsDisconnectReason = typeof WS_DISCONNECT_REASONS[number];
