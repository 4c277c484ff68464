/**
 * The publish/measure loop shared by the bench parents: a keep-alive REST publisher, the burst and paced
 * publish schedules, telling client processes a phase begins, collecting their phase reports and summing them
 * (latency histograms merged), and connecting client processes' sockets.
 */
import { Pool } from 'undici';
import { Histogram } from './histogram.js';
import { nowMs, type ClientEvent, type ClientRequest, type ConnectResult, type PhaseReport } from './ipc.js';
import { sleep, type Peer } from './proc.js';

/** What every bench records about one publish phase, besides its server-side and latency figures. */
export interface PhaseCounts {
  messages: number;
  published: number;
  publishFailures: number;
  lastPublishError?: string;
  deliveries: number;
  expected: number;
  completeSockets: number;
  socketsWithDuplicates: number;
  timedOut: boolean;
  /** First publish to last delivery. */
  elapsedMs: number;
  /** First publish to the last publish answer. */
  publishMs: number;
  deliveriesPerSec: number;
}

export const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** Padding that brings a publish payload to about 100 bytes. */
export const PAD = 'x'.repeat(40);

/** The hashpub publish body: {"data": <json>}. */
export const hashpubBody = (json: string) => `{"data":${json}}`;

export interface PublisherOptions {
  /** Keep-alive connections (= the most publishes in flight). */
  connections: number;
  apiKey: string;
  /** Request path, e.g. /v1/channels/bench/messages. */
  path: string;
  /** The request body around the message JSON (hashpubBody by default). */
  body?: (json: string) => string;
  /** Re-send once a publish that died on a reused keep-alive connection (reset before it was processed). */
  retryReset?: boolean;
}

/** A REST publisher (POST, Bearer key) over keep-alive connections; each message carries its phase, seq and send time. */
export class Publisher {
  readonly pool: Pool;
  failures = 0;
  retries = 0;
  lastError = '';
  private readonly body: (json: string) => string;
  constructor(url: string, readonly opts: PublisherOptions) {
    this.pool = new Pool(url, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000 });
    this.body = opts.body ?? hashpubBody;
  }

  /** One publish; the timestamp is taken as the request is issued. Resolves false on any failure. */
  async publish(phase: number, seq: number, retry = this.opts.retryReset ?? false): Promise<boolean> {
    try {
      const json = `{"__p":${phase},"__t":${nowMs().toFixed(3)},"seq":${seq},"pad":"${PAD}"}`;
      const res = await this.pool.request({
        path: this.opts.path, method: 'POST', body: this.body(json),
        headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json' },
        headersTimeout: 30_000, bodyTimeout: 30_000,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        this.failures++;
        this.lastError = `${res.statusCode} ${text.slice(0, 200)}`;
        return false;
      }
      return true;
    } catch (err) {
      const code = (err as { code?: string })?.code ?? '';
      if (retry && (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE')) {
        this.retries++;
        return this.publish(phase, seq, false);
      }
      this.failures++;
      this.lastError = String((err as Error)?.message ?? err);
      return false;
    }
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/**
 * Publishes `messages` messages of `phase` starting at `t0` (nowMs), either as fast as possible with
 * `concurrency` in flight (`ratePerSec` null) or one every 1/ratePerSec s (at most `concurrency` in flight),
 * stopping early at the publish deadline (30 s, or twice the paced duration if longer). Returns how many succeeded.
 */
export async function publishPhase(pub: Publisher, phase: number, t0: number, opts: {
  messages: number; ratePerSec: number | null; concurrency: number;
}): Promise<number> {
  const publishDeadline = Date.now() + Math.max(30_000, opts.ratePerSec ? (opts.messages / opts.ratePerSec) * 1000 * 2 : 0);
  let published = 0;
  if (opts.ratePerSec === null) {
    let next = 0;
    await Promise.all(Array.from({ length: opts.concurrency }, async () => {
      while (next < opts.messages && Date.now() < publishDeadline) {
        if (await pub.publish(phase, next++)) published++;
      }
    }));
  } else {
    const interval = 1000 / opts.ratePerSec;
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < opts.messages && Date.now() < publishDeadline; i++) {
      await sleep(t0 + i * interval - nowMs());
      while (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
      const p: Promise<void> = pub.publish(phase, i).then((ok) => { if (ok) published++; inFlight.delete(p); });
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  }
  return published;
}

/** Tells every client process that `phase` begins (each socket should get `expectPerSocket`) and waits until all are ready. */
export async function setPhase(clients: Array<Peer<ClientEvent>>, phase: number, expectPerSocket: number): Promise<void> {
  for (const c of clients) c.send({ cmd: 'phase', phase, expectPerSocket } satisfies ClientRequest);
  await Promise.all(clients.map((c) => c.next((m) => m.ev === 'phase-ready' && m.phase === phase, 10_000, 'phase')));
}

/** Each client's report for `phase`: its own "done" report, or what it has at the deadline. */
export async function collect(clients: Array<Peer<ClientEvent>>, phase: number, deadline: number): Promise<{ reports: PhaseReport[]; timedOut: boolean }> {
  let timedOut = false;
  const reports = await Promise.all(clients.map(async (c) => {
    const isReport = (m: ClientEvent): m is PhaseReport => m.ev === 'report' && m.phase === phase;
    try {
      return await c.next(isReport, Math.max(1, deadline - Date.now()), 'phase report') as PhaseReport;
    } catch {
      timedOut = true;
      c.send({ cmd: 'report' } satisfies ClientRequest);
      return await c.next(isReport, 10_000, 'phase report (asked)') as PhaseReport;
    }
  }));
  return { reports, timedOut };
}

/** The client processes' phase reports added up: latency histograms merged, counts summed, the last delivery. */
export function sumReports(reports: PhaseReport[]): {
  hist: Histogram; deliveries: number; expected: number; complete: number; dup: number; lastAt: number; clientCpu: number;
  /** Sockets the clients saw closed (by the server or the network) since they connected. */
  closed: number;
  closeReasons: Record<string, number>;
} {
  const hist = new Histogram();
  let deliveries = 0, expected = 0, complete = 0, dup = 0, lastAt = 0, clientCpu = 0, closed = 0;
  const closeReasons: Record<string, number> = {};
  for (const r of reports) {
    hist.merge(r.latency);
    deliveries += r.received;
    expected += r.expected;
    complete += r.completeSockets;
    dup += r.overSockets;
    lastAt = Math.max(lastAt, r.lastAt);
    clientCpu += r.cpuUs;
    closed += r.closed;
    for (const [why, n] of Object.entries(r.closeReasons ?? {})) closeReasons[why] = (closeReasons[why] ?? 0) + n;
  }
  return { hist, deliveries, expected, complete, dup, lastAt, clientCpu, closed, closeReasons };
}

/**
 * The PhaseCounts of a phase that began at `t0` (nowMs), in the result files' key order: `failures` publishes
 * failed since the phase began (then `lastError` is recorded too), `sums` from sumReports.
 */
export function phaseCounts(o: {
  messages: number; published: number; failures: number; lastError: string; timedOut: boolean; t0: number; publishMs: number;
  sums: Pick<ReturnType<typeof sumReports>, 'deliveries' | 'expected' | 'complete' | 'dup' | 'lastAt'>;
}): PhaseCounts {
  const { deliveries, expected, complete, dup, lastAt } = o.sums;
  const elapsedMs = lastAt > 0 ? lastAt - o.t0 : 0;
  return {
    messages: o.messages, published: o.published, publishFailures: o.failures,
    ...(o.failures > 0 ? { lastPublishError: o.lastError } : {}),
    deliveries, expected, completeSockets: complete, socketsWithDuplicates: dup, timedOut: o.timedOut,
    elapsedMs: round(elapsedMs, 1), publishMs: round(o.publishMs, 1),
    deliveriesPerSec: elapsedMs > 0 ? Math.round(deliveries / (elapsedMs / 1000)) : 0,
  };
}

export type ConnectSummary = Omit<ConnectResult, 'ev'> & { perProcess: number[] };

/**
 * Has client process i open `counts[i]` sockets (cumulative) to `urls[i]` (bench/clients/ws-subscribers.ts),
 * `batch` at a time per process, and waits for every process's answer (at most `deadlineMs + answerSlackMs`).
 */
export async function connectClients(clients: Array<Peer<ClientEvent>>, opts: {
  urls: string[]; counts: number[]; batch: number; protocol: 'hashpub' | 'floor'; channel: string; deadlineMs: number; answerSlackMs: number;
  /** Source address of client process i's sockets (bench/clients/lean-subscribers.ts only). */
  localAddresses?: string[];
  /** Sockets ping the server when quiet this long, like lib/client did (bench/clients/ws-subscribers.ts only). */
  appPingQuietMs?: number;
  /** Sockets ask for text pings and answer them, like lib/client (bench/clients/ws-subscribers.ts only). */
  textPings?: boolean;
}): Promise<ConnectSummary> {
  const t = nowMs();
  clients.forEach((c, i) => c.send({
    cmd: 'connect', url: opts.urls[i]!, count: opts.counts[i]!, batch: opts.batch,
    protocol: opts.protocol, channel: opts.channel, deadlineMs: opts.deadlineMs, localAddress: opts.localAddresses?.[i],
    ...(opts.appPingQuietMs ? { appPingQuietMs: opts.appPingQuietMs } : {}), ...(opts.textPings ? { textPings: true } : {}),
  } satisfies ClientRequest));
  const res = await Promise.all(clients.map((c) =>
    c.next((m) => m.ev === 'connected', opts.deadlineMs + opts.answerSlackMs, 'connect') as Promise<ConnectResult>));
  return {
    ok: res.reduce((a, r) => a + r.ok, 0), closed: res.reduce((a, r) => a + (r.closed ?? 0), 0),
    maxLoopDelayMs: Math.max(0, ...res.map((r) => r.maxLoopDelayMs ?? 0)), failed: res.reduce((a, r) => a + r.failed, 0),
    errors: res.flatMap((r) => r.errors), ms: round(nowMs() - t, 0), perProcess: res.map((r) => r.ok),
  };
}
