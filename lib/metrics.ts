import { Counter, Gauge, Registry } from 'prom-client';

/**
 * Prometheus metrics of one node (its own Registry, so several nodes can live in one process).
 * Served as text on GET /metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'hashpub_connections', help: 'Open client connections by transport', labelNames: ['transport'], registers: [this.registry] });
  /** Read at scrape time; the node points these at its push service. */
  readonly sources = { sessions: () => 0, subscriptions: () => 0 };
  readonly sessions = new Gauge({ name: 'hashpub_sessions', help: 'Sessions held on this push node (attached or waiting for a resume)', registers: [this.registry],
    collect: () => { this.sessions.set(this.sources.sessions()); } });
  readonly subscriptions = new Gauge({ name: 'hashpub_subscriptions', help: 'Subscriptions held on this push node', registers: [this.registry],
    collect: () => { this.subscriptions.set(this.sources.subscriptions()); } });
  readonly messagesIn = new Counter({ name: 'hashpub_messages_in_total', help: 'Messages accepted by channels this node owns', registers: [this.registry] });
  readonly messagesOut = new Counter({ name: 'hashpub_messages_out_total', help: 'Message frames written to local clients', registers: [this.registry] });
  readonly errors = new Counter({ name: 'hashpub_errors_total', help: 'Errors answered to clients and API callers, by code', labelNames: ['code'], registers: [this.registry] });
  readonly slowDisconnects = new Counter({ name: 'hashpub_slow_disconnects_total', help: 'Clients disconnected because their output buffer passed the bound', registers: [this.registry] });
  readonly peerFrames = new Counter({ name: 'hashpub_peer_frames_total', help: 'Frames between cluster nodes, by direction', labelNames: ['direction'], registers: [this.registry] });
  readonly peerBytes = new Counter({ name: 'hashpub_peer_bytes_total', help: 'Bytes between cluster nodes, by direction', labelNames: ['direction'], registers: [this.registry] });

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
