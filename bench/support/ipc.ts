/** IPC messages between bench/single-node.ts (the parent) and its server and client child processes. */
import type { HistogramData } from './histogram.js';

/** Wall-clock milliseconds with sub-ms precision, comparable across processes on one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

// ---- server children (bench/servers/*) ----

export type ServerRequest = { cmd: 'stats'; id: number; gc: boolean } | { cmd: 'exit' };

export interface ServerStats {
  ev: 'stats';
  id: number;
  mem: NodeJS.MemoryUsage;
  /** process.cpuUsage(), microseconds. */
  cpu: { user: number; system: number };
  /** Event-loop delay since the previous stats request (perf_hooks.monitorEventLoopDelay), ms. */
  eld: { maxMs: number; p99Ms: number; meanMs: number };
}

// ---- client children (bench/clients/ws-subscribers.ts) ----

/** `protocol`: "hashpub" sends connect + subscribe; "floor" only opens the socket (the floor server sends to all). */
export type ClientRequest =
  | { cmd: 'connect'; url: string; count: number; batch: number; protocol: 'hashpub' | 'floor'; channel: string; deadlineMs: number; localAddress?: string;
      /** ws-subscribers only: each socket sends {"type":"ping"} once it has heard nothing for this long (lib/client before 2026-12-03: 20 s). */
      appPingQuietMs?: number;
      /** ws-subscribers only: connect with `"ping": true` and answer the node's {"type":"ping"} with a pong, as lib/client does. */
      textPings?: boolean }
  | { cmd: 'phase'; phase: number; expectPerSocket: number }
  | { cmd: 'report' }
  /** Stop opening sockets (the connect in progress answers with what it has); lean-subscribers only. */
  | { cmd: 'halt' }
  | { cmd: 'close' };

export interface ConnectResult {
  ev: 'connected';
  /** Sockets open and subscribed when the answer was sent. */
  ok: number;
  /** Subscribed sockets that closed again before then (lean-subscribers only): they count in `ok` of no client. */
  closed?: number;
  /** The load client's own longest event-loop delay while connecting (lean-subscribers only): a client that stood
   * still longer than the server's ping interval would be dropped for not answering. */
  maxLoopDelayMs?: number;
  failed: number;
  errors: string[];
  ms: number;
}

export interface PhaseReport {
  ev: 'report';
  phase: number;
  sockets: number;
  /** Messages of this phase received, over all sockets. */
  received: number;
  expected: number;
  /** Sockets that got exactly expectPerSocket messages. */
  completeSockets: number;
  /** Sockets that got more than expectPerSocket (duplicates). */
  overSockets: number;
  firstAt: number;
  lastAt: number;
  latency: HistogramData;
  /** process.cpuUsage() delta of the client process since the phase began, microseconds. */
  cpuUs: number;
  /** Sockets closed by the server since connect. */
  closed: number;
  /** Why those sockets closed, counted (clients that track it: lean-subscribers.ts). */
  closeReasons?: Record<string, number>;
  done: boolean;
}

export type ClientEvent = ConnectResult | PhaseReport | { ev: 'phase-ready'; phase: number } | { ev: 'fatal'; error: string };
