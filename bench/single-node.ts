/*
 * Single-node benchmark (issue 2's closing figures): one hashpub node against the floor, the `ws` package
 * alone broadcasting one JSON string per message. For each server and each subscriber count N (1k; and
 * 10k unless --quick) it measures, with the server in its own child process so its RSS and CPU are its
 * own, and the load clients in separate child processes:
 *   1. RSS per idle connection: server RSS after N clients connected and subscribed to one channel, minus
 *      its RSS before any client (both after a forced GC and a settle), divided by N (heapUsed too); then
 *      server CPU and longest event-loop block while the N connections sit idle (25 s: one keepalive round);
 *   2. burst fan-out: M publishes of ~100 bytes as fast as a keep-alive HTTP publisher with bounded
 *      concurrency can send them -> deliveries/s (all deliveries / first publish to last delivery) and
 *      server CPU microseconds per delivery (the server's own process.cpuUsage delta over the phase);
 *   3. paced latency: publishes at a fixed rate (~10k deliveries/s in total) for a few seconds ->
 *      publish-to-delivery p50/p99 (publisher timestamp in the payload, read by the clients).
 * Every phase also records the server's longest event-loop block (monitorEventLoopDelay in the child).
 * Both servers are driven the same way: REST publish (POST /v1/channels/bench/messages, Bearer key) and
 * WebSocket clients on /v1/ws. Loopback only. Writes bench/results/single-node-<date>[-quick].json and
 * prints a table.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/single-node.js [--quick] [--clients=2] [--sizes=10000,19000] [--tag=T]
 *     [--servers=hashpub] (one server only; SINGLE_NODE_SERVER_FLAGS adds Node.js flags to its process)
 *
 * The machine has 2 cores: the server, the client processes and the publisher share them, so absolute
 * numbers are noisy and client-bound; compare the two servers run by run, not against other machines.
 */
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../lib/cli/node-flags.js';
import type { Histogram } from './support/histogram.js';
import { nowMs, type ClientEvent, type ClientRequest, type ConnectResult, type ServerStats } from './support/ipc.js';
import { environment, runMain } from './support/main.js';
import { collect, connectClients, type PhaseCounts, phaseCounts, publishPhase, Publisher, round, setPhase, sumReports } from './support/phases.js';
import { kernel } from './support/kernel.js';
import { killChildren as killAll, Peer, sleep } from './support/proc.js';
import { cpuPct, ServerProc, stopChildrenOnSignals } from './support/server-proc.js';
import { fmt as f, renderTable as render } from './support/table.js';

type ServerKind = 'ws' | 'hashpub';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const CLIENT_PROCS = Math.min(4, Math.max(2, Number(argv.find((a) => a.startsWith('--clients='))?.split('=')[1] ?? 2)));
/** --sizes=10000,19000 overrides (19,000 is about what one process holds under the 20,000-fd cap). */
const SIZES_ARG = argv.find((a) => a.startsWith('--sizes='))?.split('=')[1];
const SIZES = SIZES_ARG ? SIZES_ARG.split(',').map(Number) : QUICK ? [1000] : [1000, 10_000];
/** --servers=hashpub (or ws) runs one of the two only. */
const SERVERS = (argv.find((a) => a.startsWith('--servers='))?.split('=')[1]?.split(',') ?? ['ws', 'hashpub']) as ServerKind[];
/** Extra Node.js flags for the server process, from SINGLE_NODE_SERVER_FLAGS (e.g. "--trace-gc"). */
const SERVER_FLAGS = (process.env.SINGLE_NODE_SERVER_FLAGS ?? '').split(' ').filter(Boolean);
const API_KEY = 'k';
const CHANNEL = 'bench';
/** Sockets being opened at once, over all client processes. */
const CONNECT_CONCURRENCY = 500;
/** Publishes in flight at once during the burst. */
const BURST_CONCURRENCY = 32;
/** Target total deliveries per second in the paced phase. */
const PACED_DELIVERIES_PER_S = 10_000;
/** Paced phase length: long enough for ~80k-150k latency samples at either size. */
const pacedSeconds = (n: number) => (QUICK ? 5 : n >= 10_000 ? 15 : 8);
/**
 * Idle window after connecting (before the memory sample): server CPU and event-loop delay with N idle
 * connections. 25 s in full mode covers one hashpub keepalive round (it pings every socket every 25 s).
 */
const IDLE_WINDOW_MS = QUICK ? 3000 : 25_000;
/** The whole run is abandoned (partial results written) after this long. */
const RUN_DEADLINE_MS = (QUICK ? 3 : 10) * 60_000;

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = resolve(here, '../..');
const SERVER_SCRIPTS: Record<ServerKind, string> = {
  ws: join(here, 'servers/ws-server.js'),
  hashpub: join(here, 'servers/hashpub-server.js'),
};
const CLIENT_SCRIPT = join(here, 'clients/ws-subscribers.js');
const runDeadline = Date.now() + RUN_DEADLINE_MS;

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on exit, error or signal.

stopChildrenOnSignals(log);

const startServer = (kind: ServerKind) => ServerProc.start(kind, SERVER_SCRIPTS[kind],
  // The ws floor runs with Node's defaults; hashpub with the flags `hashpub start` uses (lib/cli/node-flags.ts).
  ['--expose-gc', ...(kind === 'hashpub' ? NODE_FLAGS : []), ...SERVER_FLAGS], { BENCH_API_KEY: API_KEY });

type ClientPeer = Peer<ClientEvent>;

function startClients(n: number): ClientPeer[] {
  return Array.from({ length: n }, (_, i) => new Peer<ClientEvent>(`client ${i}`, fork(CLIENT_SCRIPT, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })));
}

// ---------------------------------------------------------------------------------------------------
// Publishing (the same HTTP POST for both servers, over keep-alive connections).

let phaseSeq = 0;
const newPublisher = (url: string) => new Publisher(url, { connections: BURST_CONCURRENCY, apiKey: API_KEY, path: `/v1/channels/${CHANNEL}/messages` });

// ---------------------------------------------------------------------------------------------------
// Phases.

interface PhaseResult extends PhaseCounts {
  serverCpuUs: number;
  serverCpuUserUs: number;
  serverCpuSystemUs: number;
  serverCpuUsPerDelivery: number | null;
  /** Longest the server's event loop was blocked during the phase (monitorEventLoopDelay max). */
  serverEventLoopMaxMs: number;
  clientCpuUs: number;
  latencyMs: ReturnType<Histogram['summary']>;
}

/**
 * Publishes `messages` messages, either as fast as possible with BURST_CONCURRENCY in flight (`ratePerSec`
 * null) or one every 1/ratePerSec s, then waits for every client to get them all (or `drainMs` after the
 * last publish answer).
 */
async function runPhase(server: ServerProc, pub: Publisher, clients: ClientPeer[], opts: {
  messages: number; ratePerSec: number | null; drainMs: number;
}): Promise<PhaseResult> {
  const phase = ++phaseSeq;
  await setPhase(clients, phase, opts.messages);
  const cpu0 = (await server.stats(false)).cpu; // also resets the server's event-loop delay histogram
  const failures0 = pub.failures;
  const t0 = nowMs();
  const published = await publishPhase(pub, phase, t0, { messages: opts.messages, ratePerSec: opts.ratePerSec, concurrency: BURST_CONCURRENCY });
  const publishMs = nowMs() - t0;
  const { reports, timedOut } = await collect(clients, phase, Date.now() + opts.drainMs);
  const end = await server.stats(false);
  const cpu1 = end.cpu;

  const sums = sumReports(reports);
  const { deliveries } = sums;
  const serverCpuUs = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system);
  return {
    ...phaseCounts({ messages: opts.messages, published, failures: pub.failures - failures0, lastError: pub.lastError, timedOut, t0, publishMs, sums }),
    serverCpuUs, serverCpuUserUs: cpu1.user - cpu0.user, serverCpuSystemUs: cpu1.system - cpu0.system,
    serverCpuUsPerDelivery: deliveries > 0 ? round(serverCpuUs / deliveries, 3) : null,
    serverEventLoopMaxMs: end.eld.maxMs,
    clientCpuUs: sums.clientCpu, latencyMs: sums.hist.summary(),
  };
}

// ---------------------------------------------------------------------------------------------------
// One server at one size.

interface MemorySample { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }

interface RunResult {
  server: ServerKind;
  subscribers: number;
  clientProcesses: number;
  url: string;
  connect?: Omit<ConnectResult, 'ev'> & { perProcess: number[] };
  memory?: {
    before: MemorySample;
    /** 2 s after the last client subscribed (the per-connection figures use this one). */
    after: MemorySample;
    /** After the idle window (V8 may have shrunk its heap meanwhile). */
    afterIdle: MemorySample;
    afterLoad?: MemorySample;
    /** Server CPU while the N connections sat idle (IDLE_WINDOW_MS), percent of one core (timers, pings). */
    idleCpuPct: number;
    /** The same for the server before any client connected (3 s): its own timers and the stats monitor. */
    emptyIdleCpuPct: number;
    idleWindowMs: number;
    /** Longest event-loop block in the idle window. */
    idleEventLoopMaxMs: number;
    /** (after - before) / connected, bytes. */
    rssPerConn: number;
    /** The kernel's share, (after - before) / connected, bytes: TCP buffer pages and slab, both ends of each loopback connection. */
    kernelPerConn: { tcpBuffers: number; slab: number };
    heapUsedPerConn: number;
    externalPerConn: number;
  };
  warmup?: PhaseResult;
  burst?: PhaseResult;
  paced?: PhaseResult & { ratePerSec: number; seconds: number };
  error?: string;
}

const mem = (s: ServerStats): MemorySample => ({
  rss: s.mem.rss, heapUsed: s.mem.heapUsed, heapTotal: s.mem.heapTotal, external: s.mem.external, arrayBuffers: s.mem.arrayBuffers,
});

async function runOne(kind: ServerKind, n: number): Promise<RunResult> {
  const result: RunResult = { server: kind, subscribers: n, clientProcesses: CLIENT_PROCS, url: '' };
  let server: ServerProc | null = null;
  let clients: ClientPeer[] = [];
  let pub: Publisher | null = null;
  try {
    server = await startServer(kind);
    result.url = server.url;
    await sleep(500);
    const empty0 = await server.stats(false);
    const emptyT0 = nowMs();
    await sleep(3000);
    const empty1 = await server.stats(false);
    const emptyIdleCpuPct = cpuPct(empty0, empty1, nowMs() - emptyT0);
    const before = await server.stats(true);
    const kernel0 = kernel();

    clients = startClients(CLIENT_PROCS);
    const wsUrl = server.url.replace(/^http/, 'ws') + '/v1/ws';
    const shares = clients.map((_, i) => Math.floor(n / clients.length) + (i < n % clients.length ? 1 : 0));
    const connectDeadlineMs = 30_000 + n * 10;
    result.connect = await connectClients(clients, {
      urls: clients.map(() => wsUrl), counts: shares, batch: Math.ceil(CONNECT_CONCURRENCY / clients.length),
      protocol: kind === 'hashpub' ? 'hashpub' : 'floor', channel: CHANNEL, deadlineMs: connectDeadlineMs, answerSlackMs: 20_000,
    });
    const ok = result.connect.ok;
    log(`${kind} N=${n}: ${ok} connected in ${result.connect.ms} ms` + (result.connect.failed ? `, ${result.connect.failed} failed: ${result.connect.errors.join('; ')}` : ''));
    if (ok === 0) throw new Error('no client connected');

    await sleep(2000);
    const after = await server.stats(true);
    const kernel1 = kernel();
    const per = (k: keyof MemorySample) => Math.round((after.mem[k] - before.mem[k]) / ok);
    log(`${kind} N=${n}: RSS ${mb(before.mem.rss)} -> ${mb(after.mem.rss)} MB = ${(per('rss') / 1024).toFixed(2)} KB/conn, ` +
      `heap ${(per('heapUsed') / 1024).toFixed(2)} KB/conn`);

    const idle0 = await server.stats(false);
    const idleT0 = nowMs();
    await sleep(IDLE_WINDOW_MS);
    const idle1 = await server.stats(false);
    const idleMs = nowMs() - idleT0;
    result.memory = {
      before: mem(before), after: mem(after), afterIdle: mem(await server.stats(true)),
      idleCpuPct: cpuPct(idle0, idle1, idleMs), emptyIdleCpuPct,
      idleWindowMs: round(idleMs, 0), idleEventLoopMaxMs: idle1.eld.maxMs,
      rssPerConn: per('rss'), heapUsedPerConn: per('heapUsed'), externalPerConn: per('external'),
      kernelPerConn: { tcpBuffers: Math.round((kernel1.tcpMemBytes - kernel0.tcpMemBytes) / ok), slab: Math.round((kernel1.slabBytes - kernel0.slabBytes) / ok) },
    };
    log(`${kind} N=${n}: idle ${round(idleMs / 1000, 1)} s: server CPU ${result.memory.idleCpuPct}% of a core ` +
      `(${emptyIdleCpuPct}% with no clients), longest event-loop block ${idle1.eld.maxMs} ms`);

    pub = newPublisher(server.url);
    const warm = Math.max(5, Math.ceil(50_000 / n));
    result.warmup = await runPhase(server, pub, clients, { messages: warm, ratePerSec: null, drainMs: 20_000 });

    const burstMessages = n >= 10_000 ? 200 : 1000;
    result.burst = await runPhase(server, pub, clients, { messages: burstMessages, ratePerSec: null, drainMs: 60_000 });
    log(`${kind} N=${n}: burst ${result.burst.deliveries}/${result.burst.expected} deliveries in ${result.burst.elapsedMs} ms = ` +
      `${result.burst.deliveriesPerSec}/s, server ${result.burst.serverCpuUsPerDelivery} us/delivery ` +
      `(${sysShare(result.burst)}% system)`);
    await sleep(500);

    const rate = Math.max(1, Math.round(PACED_DELIVERIES_PER_S / n));
    const seconds = pacedSeconds(n);
    const paced = await runPhase(server, pub, clients, { messages: rate * seconds, ratePerSec: rate, drainMs: 10_000 });
    result.paced = { ...paced, ratePerSec: rate, seconds };
    log(`${kind} N=${n}: paced ${rate} msg/s: p50 ${paced.latencyMs.p50} ms, p99 ${paced.latencyMs.p99} ms ` +
      `(${paced.deliveries}/${paced.expected}), server ${paced.serverCpuUsPerDelivery} us/delivery (${sysShare(paced)}% system)`);

    result.memory.afterLoad = mem(await server.stats(true));
  } catch (err) {
    result.error = String((err as Error)?.message ?? err);
    log(`${kind} N=${n}: FAILED: ${result.error}`);
  } finally {
    await pub?.close().catch(() => {});
    await Promise.all(clients.map((c) => c.stop({ cmd: 'close' } satisfies ClientRequest)));
    await server?.stop();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Report.

const mb = (b: number) => (b / 1048576).toFixed(1);
const sysShare = (p: PhaseResult) => (p.serverCpuUs > 0 ? Math.round((100 * p.serverCpuSystemUs) / p.serverCpuUs) : 0);

function table(runs: RunResult[]): string {
  const id = (r: RunResult) => [r.server, String(r.subscribers)];
  const memory = render(
    ['server', 'conns', 'connected', 'RSS/conn KB', 'kernel/conn KB (both ends)', 'heap/conn KB', 'idle CPU % of 1 core (no clients)', 'idle loop max ms'],
    runs.map((r) => [...id(r), r.connect ? String(r.connect.ok) : (r.error ? 'ERR' : '-'),
      f(r.memory && r.memory.rssPerConn / 1024, 2),
      f(r.memory && (r.memory.kernelPerConn.tcpBuffers + r.memory.kernelPerConn.slab) / 1024, 2), f(r.memory && r.memory.heapUsedPerConn / 1024, 2),
      r.memory ? `${f(r.memory.idleCpuPct, 2)} (${f(r.memory.emptyIdleCpuPct, 2)})` : '-', f(r.memory?.idleEventLoopMaxMs, 1)]));
  const fanout = render(
    ['server', 'subs', 'burst msgs', 'deliveries/s', 'srv CPU us/deliv', 'burst p50/p99 ms', 'burst loop max ms',
      'paced msg/s', 'paced p50 ms', 'paced p99 ms', 'paced srv us/deliv', 'lost'],
    runs.map((r) => {
      const lost = (r.burst ? r.burst.expected - r.burst.deliveries : 0) + (r.paced ? r.paced.expected - r.paced.deliveries : 0);
      return [...id(r), r.burst ? String(r.burst.messages) : '-',
        r.burst ? r.burst.deliveriesPerSec.toLocaleString('en-US') : '-', f(r.burst?.serverCpuUsPerDelivery, 2),
        r.burst ? `${f(r.burst.latencyMs.p50, 1)}/${f(r.burst.latencyMs.p99, 1)}` : '-', f(r.burst?.serverEventLoopMaxMs, 1),
        r.paced ? String(r.paced.ratePerSec) : '-', f(r.paced?.latencyMs.p50, 2), f(r.paced?.latencyMs.p99, 2),
        f(r.paced?.serverCpuUsPerDelivery, 2), r.error ? 'ERR' : String(lost)];
    }));
  const errors = runs.filter((r) => r.error).map((r) => `${r.server} N=${r.subscribers}: ${r.error}`);
  return [memory, '', fanout, ...errors].join('\n');
}

async function main(): Promise<void> {
  const started = new Date();
  log(`single-node bench (${QUICK ? 'quick' : 'full'}): sizes ${SIZES.join(', ')}, ${CLIENT_PROCS} client processes, node ${process.version}`);
  const runs: RunResult[] = [];
  for (const n of SIZES) {
    for (const kind of SERVERS) {
      if (Date.now() > runDeadline) {
        runs.push({ server: kind, subscribers: n, clientProcesses: CLIENT_PROCS, url: '', error: 'skipped: run deadline passed' });
        continue;
      }
      runs.push(await runOne(kind, n));
    }
  }
  const out = {
    benchmark: 'single-node',
    mode: QUICK ? 'quick' : 'full',
    date: started.toISOString(),
    durationS: round((Date.now() - started.getTime()) / 1000, 1),
    environment: environment(),
    config: {
      sizes: SIZES, clientProcesses: CLIENT_PROCS, connectConcurrency: CONNECT_CONCURRENCY, burstConcurrency: BURST_CONCURRENCY,
      burstMessages: { '1000': 1000, '10000': 200 }, pacedDeliveriesPerSec: PACED_DELIVERIES_PER_S, pacedSeconds: Object.fromEntries(SIZES.map((n) => [n, pacedSeconds(n)])),
      payloadBytes: 'about 100 (data object)', publish: 'POST /v1/channels/bench/messages over undici Pool keep-alive',
      serverExecArgv: { ws: ['--expose-gc', ...SERVER_FLAGS], hashpub: ['--expose-gc', ...NODE_FLAGS, ...SERVER_FLAGS] }, idleWindowMs: IDLE_WINDOW_MS,
      notes: [
        'RSS/heap per connection = (after N connected+subscribed - before any client) / N, each after global.gc() twice and a settle.',
        'deliveries/s = deliveries received by all clients / (first publish -> last delivery).',
        'server CPU = the server process\'s own process.cpuUsage() delta (user+system) over the phase, divided by deliveries.',
        'idle CPU % = server CPU over the idle window after connecting, percent of one core; "loop max" = longest event-loop block (monitorEventLoopDelay) in a window.',
        'latency = client receive time - publisher timestamp in the payload (performance.timeOrigin + performance.now() on both sides).',
        'All processes share 2 cores: the clients and the publisher take CPU from the server during the burst.',
      ],
    },
    runs,
  };
  const dir = join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  const tag = argv.find((a) => a.startsWith('--tag='))?.slice('--tag='.length);
  const file = join(dir, `single-node-${started.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}${tag ? `-${tag}` : ''}.json`);
  await writeFile(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`\nsingle-node bench, ${out.mode}, node ${process.version}, ${out.environment.cpuModel} x${out.environment.cores}, ${out.durationS} s\n`);
  process.stdout.write(table(runs) + '\n');
  process.stdout.write(`results: ${file}\n`);
}

runMain(main, { log, killAll, hardStopMs: RUN_DEADLINE_MS + 120_000 });
