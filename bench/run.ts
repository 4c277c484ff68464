/*
 * The one benchmark command (issue #5): hashpub and its peers on this machine, in the same run, with the same
 * load clients.
 *
 *   npm run bench              full: N = 1k, 10k, 18k subscribers per server process (~20 min on 2 cores)
 *   npm run bench -- --quick   N = 1k only (~2-3 min)
 *   options: --only=ws,hashpub,...,cluster,hashpub-capacity   --sizes=1000,10000   --cap-nodes=4,8   --no-cluster   --no-pin
 *            --out=<file name in bench/results>; env BENCH_HASHPUB_DATA=:memory: runs the one-node hashpub on the memory store
 *
 * Systems (each started here, on 127.0.0.1, smallest sensible config):
 *   ws        the `ws` package alone broadcasting one JSON string to its sockets (the floor)   bench/servers/ws-server.ts
 *   hashpub   one hashpub node in a child process                                           bench/servers/hashpub-server.ts
 *   socketio  Socket.IO 4, WebSocket transport only, one room                               bench/servers/socketio-server.ts
 *   faye      Faye 1.4 (Bayeux) NodeAdapter, WebSocket clients                              bench/servers/faye-server.ts
 *   pushpin   Pushpin (Debian package), SSE, rate limiter off; skipped with a hint if missing bench/servers/pushpin-server.ts
 *   hashpub x2 / x4   the same N subscribers spread over 2 / 4 hashpub node processes (CLI, one DHT bootstrap)
 *   capacity  (full mode) 18k subscribers on each of K hashpub nodes, K in --cap-nodes (default 4,8): one burst of
 *             10 messages, all delivered? (stops at the first step that fails)
 *
 * For each system and N (one channel, ~100-byte payload carrying the publisher's timestamp):
 *   1. memory: server RSS after N subscribers connected (and, for Node servers, after a forced GC) minus its RSS
 *      before any client, / N;
 *   2. burst: M publishes as fast as a keep-alive publisher with 32 in flight sends them -> deliveries/s (all
 *      deliveries / first publish to last delivery) and server CPU microseconds per delivery (the server
 *      processes' own counters: process.cpuUsage() in Node servers, /proc/<pid>/stat for Pushpin and the cluster);
 *   3. paced: ~10k deliveries/s in total for a few seconds -> publish-to-delivery latency p50/p99.
 * Load: the clients speak each protocol directly (bench/clients/subscribers.ts: raw ws, engine.io, Bayeux over
 * WebSocket, SSE over raw HTTP), in several client processes; servers are pinned to one set of cores and the
 * clients and publisher to the others with taskset when there are >= 2 cores. Client CPU is recorded per phase so
 * a client-bound phase is visible. Every wait is bounded; every child process is killed on exit.
 * Output: bench/results/bench-<date>T<hhmm>[-quick].json, bench/results/README.md and bench/results/chart.svg
 * (a quick run: quick.md and chart-quick.svg; custom runs: the JSON only, unless --readme).
 */
import { execFileSync, fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HashpubCluster } from './hashpub-cluster.js';
import type { Protocol, SubscriberRequest } from './clients/subscribers.js';
import { nowMs, type ClientEvent, type ConnectResult, type PhaseReport, type ServerStats } from './support/ipc.js';
import { environment, runMain } from './support/main.js';
import { hashpubBody, Publisher, publishPhase, round, setPhase, sumReports } from './support/phases.js';
import { children, killChildren as killAll, Peer, sleep, track } from './support/proc.js';
import { renderChart, renderReadme, type BenchOutput, type RunResult, type PhaseResult } from './report.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const QUICK = argv.includes('--quick');
const PIN = !argv.includes('--no-pin');
const CLUSTER = !argv.includes('--no-cluster');
const SIZES = flag('sizes')?.split(',').map(Number).filter((n) => n > 0) ?? (QUICK ? [1000] : [1000, 10_000, 18_000]);
/** Capacity runs (full mode): node-process counts, each node holding CAP_PER_NODE subscribers; stops at the first failure. */
const CAP_NODES = (flag('cap-nodes') ?? '4,8').split(',').map(Number).filter((n) => n > 0);
const CAP_PER_NODE = 18_000;
const ONLY = flag('only')?.split(',');
const API_KEY = 'k';
const CHANNEL = 'bench';
const CLIENT_PROCS = 2;
/** At most this many sockets per client process (the 20k file cap). */
const MAX_PER_CLIENT_PROC = 15_000;
const CONNECT_CONCURRENCY = 400;
/** Pushpin's proxy answers 502 to part of a few hundred simultaneous first requests: open SSE streams fewer at a time. */
const SSE_CONNECT_CONCURRENCY = 100;
const BURST_CONCURRENCY = 32;
const PACED_DELIVERIES_PER_S = 10_000;
const PACED_SECONDS = QUICK ? 4 : 6;
const IDLE_MS = QUICK ? 2000 : 4000;
/** A phase ends early (as timed out) when no delivery arrived for this long after the last publish answer. */
const QUIET_MS = 4000;
/** Burst size: about this many deliveries per burst. */
const BURST_DELIVERIES = QUICK ? 300_000 : 600_000;
const RUN_DEADLINE_MS = (QUICK ? 5 : 30) * 60_000;

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = resolve(here, '../..');
const HASHPUB_BIN = join(root, 'dist/bin/hashpub.js');
const CLIENT_SCRIPT = join(here, 'clients/subscribers.js');
const PUSHPIN_BIN = process.env.PUSHPIN_BIN ?? '/usr/bin/pushpin';
const runDeadline = Date.now() + RUN_DEADLINE_MS;

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------
// CPU pinning: servers on the first half of the cores, clients + publisher (this process) on the rest.

const NCPU = cpus().length;
const TASKSET = existsSync('/usr/bin/taskset') ? '/usr/bin/taskset' : null;
const PINNING = PIN && TASKSET !== null && NCPU >= 2;
const SERVER_CPUS = PINNING ? `0-${Math.max(0, Math.floor(NCPU / 2) - 1)}` : null;
const CLIENT_CPUS = PINNING ? `${Math.floor(NCPU / 2)}-${NCPU - 1}` : null;
const CLIENT_CORES = PINNING ? NCPU - Math.floor(NCPU / 2) : NCPU;

function pin(pid: number | undefined, cpuList: string | null): void {
  if (!cpuList || !TASKSET || !pid) return;
  try { execFileSync(TASKSET, ['-a', '-pc', cpuList, String(pid)], { stdio: 'ignore' }); } catch { /* gone or not allowed */ }
}

// ---------------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on exit, error or signal.

process.on('exit', killAll);
let cleanup: (() => Promise<void>) | null = null;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping ${children.size} child processes`);
    void Promise.race([cleanup?.() ?? Promise.resolve(), sleep(8000)]).finally(() => { killAll(); process.exit(130); });
  });
}

type ClientPeer = Peer<ClientEvent>;

// ---------------------------------------------------------------------------------------------------
// Systems under test.

type SystemId = 'ws' | 'hashpub' | 'socketio' | 'faye' | 'pushpin' | 'hashpub-x2' | 'hashpub-x4' | 'hashpub-capacity';

interface Usage { cpuUs: number; cpuSysUs: number; rss: number; heapUsed: number | null; loopMaxMs: number | null }

interface Handle {
  clientUrls: string[];
  protocol: Protocol;
  processes: number;
  /** Base URL and request shape of a publish. */
  publishUrl: string;
  publishPath: string;
  publishBody: (json: string) => string;
  usage(gc: boolean): Promise<Usage>;
  stop(): Promise<void>;
  info: Record<string, unknown>;
}

/** A Node bench server child (bench/servers/*.js): forked with --expose-gc, pinned, URL read from stdout. */
async function startNodeServer(script: string, name: string, env: Record<string, string> = {}): Promise<{ peer: Peer<ServerStats>; announce: Record<string, unknown> }> {
  const child = fork(join(here, 'servers', script), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, BENCH_API_KEY: API_KEY, BENCH_CHANNEL: CHANNEL, ...(SERVER_CPUS ? { BENCH_SERVER_CPU: SERVER_CPUS } : {}), ...env },
  });
  pin(child.pid, SERVER_CPUS);
  const peer = new Peer<ServerStats>(`${name} server`, child);
  let errTail = '';
  child.stderr!.on('data', (b: Buffer) => {
    errTail = (errTail + b).slice(-2000);
    process.stderr.write(`[${name} server] ${b}`);
  });
  const announce = await new Promise<Record<string, unknown>>((resolveA, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} server did not announce its URL in 40 s`)), 40_000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} server exited (${code}) before announcing: ${errTail.slice(-500)}`)); });
    const lines = createInterface({ input: child.stdout! });
    let found = false;
    lines.on('line', (line) => {
      if (!found) {
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          if (typeof j.url === 'string') {
            found = true;
            clearTimeout(timer);
            return resolveA(j);
          }
        } catch { /* a log line */ }
      }
    });
  });
  return { peer, announce };
}

function nodeHandle(peer: Peer<ServerStats>, base: Omit<Handle, 'usage' | 'stop' | 'processes'>): Handle {
  let seq = 0;
  return {
    ...base, processes: 1,
    async usage(gc) {
      const id = ++seq;
      peer.send({ cmd: 'stats', id, gc });
      const s = await peer.next((m) => m.ev === 'stats' && m.id === id, 15_000, 'stats');
      return {
        cpuUs: s.cpu.user + s.cpu.system, cpuSysUs: s.cpu.system, rss: s.mem.rss,
        heapUsed: s.mem.heapUsed || null, loopMaxMs: s.eld.maxMs || null,
      };
    },
    stop: () => peer.stop({ cmd: 'exit' }, 8000),
  };
}

async function startSystem(id: SystemId, capNodes = 4): Promise<Handle> {
  switch (id) {
    case 'ws': {
      const { peer, announce } = await startNodeServer('ws-server.js', id);
      const url = announce.url as string;
      return nodeHandle(peer, { clientUrls: [url.replace(/^http/, 'ws') + '/v1/ws'], protocol: 'floor', publishUrl: url,
        publishPath: `/v1/channels/${CHANNEL}/messages`, publishBody: hashpubBody, info: { package: `ws ${pkgVersion('ws')}` } });
    }
    case 'hashpub': {
      const { peer, announce } = await startNodeServer('hashpub-server.js', id);
      const url = announce.url as string;
      return nodeHandle(peer, { clientUrls: [url.replace(/^http/, 'ws') + '/v1/ws'], protocol: 'hashpub', publishUrl: url,
        publishPath: `/v1/channels/${CHANNEL}/messages`, publishBody: hashpubBody, info: { package: `hashpub ${pkgVersion('.')}`, data: process.env.BENCH_HASHPUB_DATA === ':memory:' ? ':memory:' : 'temp dir (LevelDB)' } });
    }
    case 'socketio': {
      const { peer, announce } = await startNodeServer('socketio-server.js', id);
      const url = announce.url as string;
      return nodeHandle(peer, { clientUrls: [url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket'], protocol: 'socketio',
        publishUrl: url, publishPath: `/v1/channels/${CHANNEL}/messages`, publishBody: hashpubBody,
        info: { package: `socket.io ${pkgVersion('socket.io')}` } });
    }
    case 'faye': {
      const { peer, announce } = await startNodeServer('faye-server.js', id);
      const url = announce.url as string;
      return nodeHandle(peer, { clientUrls: [url.replace(/^http/, 'ws') + '/bayeux'], protocol: 'faye', publishUrl: url,
        publishPath: `/v1/channels/${CHANNEL}/messages`, publishBody: hashpubBody, info: { package: `faye ${pkgVersion('faye')}` } });
    }
    case 'pushpin': {
      const { peer, announce } = await startNodeServer('pushpin-server.js', id, { PUSHPIN_BIN });
      const url = announce.url as string;
      const h = nodeHandle(peer, {
        clientUrls: [`${url}/stream`], protocol: 'sse', publishUrl: announce.publishUrl as string, publishPath: '/publish/',
        publishBody: (json) => JSON.stringify({ items: [{ channel: CHANNEL, formats: { 'http-stream': { content: `data: ${json}\n\n` } } }] }),
        info: { package: announce.version, processes: announce.processes },
      });
      h.processes = Array.isArray(announce.processes) ? announce.processes.length : 1;
      return h;
    }
    case 'hashpub-x2':
    case 'hashpub-x4':
    case 'hashpub-capacity': {
      const n = id === 'hashpub-x2' ? 2 : id === 'hashpub-x4' ? 4 : capNodes;
      const cluster = await HashpubCluster.start({ nodes: n, bin: HASHPUB_BIN, apiKey: API_KEY, cpus: SERVER_CPUS, track, name: `bench-${id}` });
      for (const pid of cluster.pids()) pin(pid, SERVER_CPUS);
      return {
        clientUrls: cluster.nodes.map((x) => x.url.replace(/^http/, 'ws') + '/v1/ws'), protocol: 'hashpub', processes: n,
        publishUrl: cluster.nodes[0]!.url, publishPath: `/v1/channels/${CHANNEL}/messages`, publishBody: hashpubBody,
        async usage() {
          const u = cluster.usage();
          return { cpuUs: u.user + u.system, cpuSysUs: u.system, rss: u.rss, heapUsed: null, loopMaxMs: null };
        },
        stop: () => cluster.stop(),
        info: { package: `hashpub ${pkgVersion('.')} CLI`, nodes: n, publishVia: 'node 0' },
      };
    }
  }
}

function pkgVersion(name: string): string {
  try {
    const p = name === '.' ? join(root, 'package.json') : join(root, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  } catch { return '?'; }
}

// ---------------------------------------------------------------------------------------------------
// Phases.

let phaseSeq = 0;

/**
 * Each client's report for `phase`: its own "done" report, or, when deliveries stop growing for QUIET_MS (a
 * system that dropped messages) or the deadline passes, what it has then (timedOut = true).
 */
async function collect(clients: ClientPeer[], phase: number, deadline: number): Promise<{ reports: PhaseReport[]; timedOut: boolean }> {
  const final: Array<PhaseReport | null> = clients.map(() => null);
  const isReport = (m: ClientEvent): m is PhaseReport => m.ev === 'report' && m.phase === phase;
  let lastTotal = -1;
  let lastChange = Date.now();
  for (;;) {
    await Promise.all(clients.map(async (c, i) => {
      if (final[i]) return;
      try {
        final[i] = await c.next((m) => isReport(m) && m.done, Math.max(1, Math.min(1000, deadline - Date.now())), 'phase report') as PhaseReport;
      } catch { /* not done yet */ }
    }));
    if (final.every(Boolean)) return { reports: final as PhaseReport[], timedOut: false };
    const polled = await Promise.all(clients.map(async (c, i) => {
      if (final[i]) return final[i]!;
      c.send({ cmd: 'report' } satisfies SubscriberRequest);
      const r = await c.next(isReport, 10_000, 'phase report (asked)') as PhaseReport;
      if (r.done) final[i] = r;
      return r;
    }));
    const total = polled.reduce((a, r) => a + r.received, 0);
    if (total !== lastTotal) {
      lastTotal = total;
      lastChange = Date.now();
    }
    if (final.every(Boolean)) return { reports: final as PhaseReport[], timedOut: false };
    if (Date.now() - lastChange > QUIET_MS || Date.now() > deadline) return { reports: polled, timedOut: true };
  }
}

async function runPhase(h: Handle, pub: Publisher, clients: ClientPeer[], opts: {
  messages: number; ratePerSec: number | null; drainMs: number;
}): Promise<PhaseResult> {
  const phase = ++phaseSeq;
  await setPhase(clients, phase, opts.messages);
  const u0 = await h.usage(false);
  const failures0 = pub.failures;
  const t0 = nowMs();
  const published = await publishPhase(pub, phase, t0, { messages: opts.messages, ratePerSec: opts.ratePerSec, concurrency: BURST_CONCURRENCY });
  const publishMs = nowMs() - t0;
  if (published < opts.messages) {
    for (const c of clients) c.send({ cmd: 'expect', phase, expectPerSocket: published } satisfies SubscriberRequest);
  }
  const { reports, timedOut } = await collect(clients, phase, Date.now() + opts.drainMs);
  const u1 = await h.usage(false);

  const { hist, deliveries, expected, complete, dup, lastAt, clientCpu } = sumReports(reports);
  const elapsedMs = lastAt > 0 ? lastAt - t0 : 0;
  const serverCpuUs = u1.cpuUs - u0.cpuUs;
  const failures = pub.failures - failures0;
  const wallMs = nowMs() - t0;
  return {
    messages: opts.messages, published, publishFailures: failures, publishRetries: pub.retries,
    ...(failures > 0 ? { lastPublishError: pub.lastError } : {}),
    deliveries, expected, completeSockets: complete, socketsWithDuplicates: dup, timedOut,
    elapsedMs: round(elapsedMs, 1), publishMs: round(publishMs, 1),
    deliveriesPerSec: elapsedMs > 0 ? Math.round(deliveries / (elapsedMs / 1000)) : 0,
    serverCpuUs, serverCpuSystemUs: u1.cpuSysUs - u0.cpuSysUs,
    serverCpuUsPerDelivery: deliveries > 0 ? round(serverCpuUs / deliveries, 3) : null,
    /** Server CPU over the phase as % of one core (over first publish -> last delivery when known). */
    serverCpuPctOfCore: round(serverCpuUs / ((elapsedMs > 0 ? elapsedMs : wallMs) * 10), 1),
    clientCpuUs: clientCpu,
    /** Client processes' CPU over the phase as % of the cores they are pinned to: near 100 = client-bound. */
    clientCpuPctOfTheirCores: round(clientCpu / ((elapsedMs > 0 ? elapsedMs : wallMs) * 10 * CLIENT_CORES), 1),
    serverLoopMaxMs: u1.loopMaxMs,
    latencyMs: hist.summary(),
  };
}

// ---------------------------------------------------------------------------------------------------
// One system at one size.

async function runOne(id: SystemId, n: number, opts: { capacity?: boolean } = {}): Promise<RunResult> {
  const clientProcs = Math.max(CLIENT_PROCS, Math.ceil(n / MAX_PER_CLIENT_PROC));
  const result: RunResult = { system: id, subscribers: n, clientProcesses: clientProcs, serverProcesses: 0, loadavg1AtStart: round(loadavg()[0]!, 2) };
  let h: Handle | null = null;
  let clients: ClientPeer[] = [];
  let pub: Publisher | null = null;
  const t0 = Date.now();
  const stopAll = async () => {
    await pub?.close().catch(() => {});
    pub = null;
    await Promise.all(clients.map((c) => c.stop({ cmd: 'close' } satisfies SubscriberRequest)));
    clients = [];
    await h?.stop().catch(() => {});
    h = null;
  };
  cleanup = stopAll;
  try {
    h = await startSystem(id, opts.capacity ? Math.round(n / CAP_PER_NODE) : undefined);
    result.serverProcesses = h.processes;
    result.info = h.info;
    await sleep(1000);
    const before = await h.usage(true);

    clients = Array.from({ length: clientProcs }, (_, i) => {
      const c = fork(CLIENT_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      pin(c.pid, CLIENT_CPUS);
      return new Peer<ClientEvent>(`${id} client ${i}`, c);
    });
    const shares = clients.map((_, i) => Math.floor(n / clients.length) + (i < n % clients.length ? 1 : 0));
    const connectDeadlineMs = 30_000 + n * 4;
    const t = nowMs();
    let offset = 0;
    clients.forEach((c, i) => {
      // rotate the URL list so that, over all client processes, subscribers spread evenly over the nodes
      const urls = h!.clientUrls.map((_, k) => h!.clientUrls[(k + offset) % h!.clientUrls.length]!);
      offset += shares[i]!;
      c.send({
        cmd: 'connect', urls, count: shares[i]!,
        batch: Math.ceil((h!.protocol === 'sse' ? SSE_CONNECT_CONCURRENCY : CONNECT_CONCURRENCY) / clients.length),
        protocol: h!.protocol, channel: CHANNEL, deadlineMs: connectDeadlineMs,
      } satisfies SubscriberRequest);
    });
    const connected = await Promise.all(clients.map((c) =>
      c.next((m) => m.ev === 'connected', connectDeadlineMs + 20_000, 'connect') as Promise<ConnectResult>));
    const ok = connected.reduce((a, c) => a + c.ok, 0);
    const failed = connected.reduce((a, c) => a + c.failed, 0);
    result.connect = { ok, failed, errors: connected.flatMap((c) => c.errors), ms: round(nowMs() - t, 0) };
    log(`${id} N=${n}: ${ok} subscribed in ${result.connect.ms} ms` + (failed ? `, ${failed} failed: ${result.connect.errors.join('; ')}` : ''));
    if (ok === 0) throw new Error('no subscriber connected');

    await sleep(IDLE_MS);
    const after = await h.usage(true);
    result.memory = {
      rssBefore: before.rss, rssAfter: after.rss, rssPerConn: Math.round((after.rss - before.rss) / ok),
      heapUsedPerConn: before.heapUsed !== null && after.heapUsed !== null ? Math.round((after.heapUsed - before.heapUsed) / ok) : null,
      gcForced: before.heapUsed !== null,
    };
    log(`${id} N=${n}: RSS ${mb(before.rss)} -> ${mb(after.rss)} MB = ${(result.memory.rssPerConn / 1024).toFixed(2)} KB/conn`);

    pub = new Publisher(h.publishUrl, { connections: BURST_CONCURRENCY, apiKey: API_KEY, path: h.publishPath, body: h.publishBody, retryReset: true });
    const warm = Math.max(3, Math.ceil(20_000 / n));
    result.warmup = await runPhase(h, pub, clients, { messages: warm, ratePerSec: null, drainMs: 20_000 });
    // Subscribers the server accepted but never delivered the warm-up to are closed and left out of the later
    // phases (and reported): otherwise every later phase would count them as lost.
    const pruned = await Promise.all(clients.map(async (c) => {
      c.send({ cmd: 'prune' } satisfies SubscriberRequest);
      return ((await c.next((m) => (m.ev as string) === 'pruned', 10_000, 'prune')) as unknown as { pruned: number }).pruned;
    }));
    result.connect.neverDelivered = pruned.reduce((a, b) => a + b, 0);
    if (result.connect.neverDelivered > 0) log(`${id} N=${n}: ${result.connect.neverDelivered} subscribers got none of the warm-up messages: closed, left out of the burst and paced phases`);
    if (result.warmup.deliveries === 0) throw new Error(`warm-up: nothing delivered (publish failures ${result.warmup.publishFailures}: ${result.warmup.lastPublishError ?? ''})`);

    const burstMessages = opts.capacity ? 10 : Math.max(20, Math.min(1000, Math.round(BURST_DELIVERIES / n)));
    result.burst = await runPhase(h, pub, clients, { messages: burstMessages, ratePerSec: null, drainMs: opts.capacity ? 120_000 : 60_000 });
    const b = result.burst;
    log(`${id} N=${n}: burst ${b.deliveries}/${b.expected} in ${b.elapsedMs} ms = ${b.deliveriesPerSec}/s, server ${b.serverCpuUsPerDelivery} us/delivery, ` +
      `clients ${b.clientCpuPctOfTheirCores}% of their cores`);

    if (!opts.capacity) {
      await sleep(500);
      const rate = PACED_DELIVERIES_PER_S / Math.max(1, ok - result.connect.neverDelivered);
      const messages = Math.max(3, Math.round(rate * PACED_SECONDS));
      const paced = await runPhase(h, pub, clients, { messages, ratePerSec: rate, drainMs: 15_000 });
      result.paced = { ...paced, ratePerSec: round(rate, 3) };
      log(`${id} N=${n}: paced ${round(rate, 2)} msg/s: p50 ${paced.latencyMs.p50} ms, p99 ${paced.latencyMs.p99} ms (${paced.deliveries}/${paced.expected})`);
    }
    result.freeMemMBAtEnd = Math.round(freemem() / 1048576);
  } catch (err) {
    result.error = String((err as Error)?.message ?? err);
    log(`${id} N=${n}: FAILED: ${result.error}`);
  } finally {
    await stopAll();
    cleanup = null;
  }
  result.durationS = round((Date.now() - t0) / 1000, 1);
  return result;
}

const mb = (b: number) => (b / 1048576).toFixed(1);

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  if (PINNING) pin(process.pid, CLIENT_CPUS);
  const pushpinInstalled = existsSync(PUSHPIN_BIN);
  const pushpinHint = 'Pushpin is not installed, skipped. Install it with `sudo apt-get install -y pushpin` (Debian/Ubuntu; ' +
    'see https://pushpin.org/docs/install/ for other systems), or set PUSHPIN_BIN=/path/to/pushpin.';
  if (!pushpinInstalled) log(pushpinHint);
  const peers: SystemId[] = ['ws', 'hashpub', 'socketio', 'faye', ...(pushpinInstalled ? ['pushpin' as const] : [])];
  const clusterIds: SystemId[] = CLUSTER ? ['hashpub-x2', 'hashpub-x4'] : [];
  const want = (id: SystemId) => !ONLY || ONLY.includes(id) || (id.startsWith('hashpub-') && ONLY.includes('cluster'));
  log(`bench (${QUICK ? 'quick' : 'full'}): sizes ${SIZES.join(', ')}; systems ${[...peers, ...clusterIds].filter(want).join(', ')}; ` +
    `node ${process.version}; ${NCPU} cores; ` + (PINNING ? `servers on cpu ${SERVER_CPUS}, clients + publisher on cpu ${CLIENT_CPUS}` : 'no CPU pinning'));

  // Let the machine settle (e.g. after a previous bench) before the first measurement: bounded wait.
  const settleUntil = Date.now() + 90_000;
  while (loadavg()[0]! > 2 && Date.now() < settleUntil) {
    log(`waiting for the 1-minute load average (${loadavg()[0]!.toFixed(2)}) to fall below 2 (at most 90 s)`);
    await sleep(10_000);
  }
  const runs: RunResult[] = [];
  const plan: Array<[SystemId, number, boolean]> = [];
  for (const n of SIZES) {
    for (const id of peers) if (want(id)) plan.push([id, n, false]);
    for (const id of clusterIds) if (want(id) && (n >= 10_000 || QUICK || SIZES.length === 1)) plan.push([id, n, false]);
  }
  if (!QUICK && CLUSTER && want('hashpub-capacity')) for (const k of CAP_NODES) plan.push(['hashpub-capacity', k * CAP_PER_NODE, true]);
  for (const [id, n, capacity] of plan) {
    if (Date.now() > runDeadline) {
      runs.push({ system: id, subscribers: n, clientProcesses: 0, serverProcesses: 0, error: 'skipped: run deadline passed' });
      continue;
    }
    const prevCap = runs.filter((r) => r.system === 'hashpub-capacity').at(-1);
    if (capacity && prevCap && (prevCap.error || !prevCap.burst || prevCap.burst.deliveries < prevCap.burst.expected)) {
      runs.push({ system: id, subscribers: n, clientProcesses: 0, serverProcesses: 0, error: 'skipped: the previous capacity step did not deliver everything' });
      continue;
    }
    if (capacity && freemem() < 4 * 1024 ** 3) {
      runs.push({ system: id, subscribers: n, clientProcesses: 0, serverProcesses: 0, error: 'skipped: less than 4 GB free memory' });
      continue;
    }
    runs.push(await runOne(id, n, { capacity }));
  }

  const out: BenchOutput = {
    benchmark: 'hashpub-vs-peers',
    mode: QUICK ? 'quick' : 'full',
    date: started.toISOString(),
    durationS: round((Date.now() - started.getTime()) / 1000, 1),
    environment: {
      ...environment(),
      pinning: PINNING ? { servers: SERVER_CPUS, clientsAndPublisher: CLIENT_CPUS } : null,
      pushpin: pushpinInstalled ? 'installed' : pushpinHint,
    },
    config: {
      sizes: SIZES, channel: CHANNEL, payloadBytes: 'about 100 (JSON object with phase, timestamp, seq, 40-byte pad)',
      clientProcessesPerRun: `max(${CLIENT_PROCS}, ceil(N / ${MAX_PER_CLIENT_PROC}))`, connectConcurrency: CONNECT_CONCURRENCY,
      burstConcurrency: BURST_CONCURRENCY, burstDeliveriesTarget: BURST_DELIVERIES, pacedDeliveriesPerSec: PACED_DELIVERIES_PER_S,
      pacedSeconds: PACED_SECONDS, idleMsBeforeMemorySample: IDLE_MS, capacity: QUICK ? null : { nodeSteps: CAP_NODES, perNode: CAP_PER_NODE },
      notes: [
        'deliveries/s = deliveries received by all clients / (first publish -> last delivery), burst phase.',
        'CPU us/delivery = the server processes\' own CPU time (user+system) over the burst / deliveries: process.cpuUsage() for Node servers, /proc/<pid>/stat summed over Pushpin\'s processes and over the cluster\'s node processes.',
        'RSS/conn = (server RSS with N subscribers - RSS before any client) / N; Node servers are sampled after a forced GC; Pushpin and cluster RSS come from /proc (no GC).',
        'latency = client receive time - publisher timestamp in the payload, paced phase (~10k deliveries/s in total).',
        'Publishes: REST POST with {"data"} for ws, hashpub, Socket.IO and Faye (each server\'s own small HTTP endpoint); Pushpin\'s HTTP publish endpoint for Pushpin.',
        'client CPU % = client processes\' CPU over a phase / (wall time x their cores): near 100 means the load side, not the server, set the pace.',
      ],
    },
    runs,
  };
  const dir = join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  // One file per run (date and time in the name: nothing is overwritten); custom runs (--only, --sizes, --cap-nodes,
  // --no-cluster, --no-pin) are marked and do not regenerate README.md / chart.svg unless --readme is given.
  const custom = argv.some((a) => /^--(only|sizes|cap-nodes|no-cluster|no-pin)/.test(a));
  const stamp = started.toISOString().slice(0, 16).replace(/:/g, '');
  const file = join(dir, flag('out') ?? `bench-${stamp}${QUICK ? '-quick' : ''}${custom ? '-custom' : ''}.json`);
  await writeFile(file, JSON.stringify(out, null, 2) + '\n');
  // The full run owns README.md + chart.svg; a quick run writes quick.md + chart-quick.svg (so it never
  // replaces the full figures).
  const [mdName, svgName] = QUICK ? ['quick.md', 'chart-quick.svg'] : ['README.md', 'chart.svg'];
  const readme = renderReadme(out, file.slice(dir.length + 1), svgName);
  const files = [file];
  if (!custom || argv.includes('--readme')) {
    await writeFile(join(dir, mdName), readme.markdown);
    await writeFile(join(dir, svgName), renderChart(out));
    files.push(join(dir, mdName), join(dir, svgName));
  }
  process.stdout.write(`\nbench ${out.mode}, node ${process.version}, ${out.environment.cpuModel} x${NCPU}, ${out.durationS} s\n\n`);
  process.stdout.write(readme.tables + '\n');
  process.stdout.write(`results: ${files.join('\n         ')}\n`);
}

runMain(main, { log, killAll, hardStopMs: RUN_DEADLINE_MS + 180_000 });
