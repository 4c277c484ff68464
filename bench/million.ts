/**
 * The million: as many concurrent WebSocket subscribers as this machine holds, on one channel, across the node
 * processes of one `hashpub cluster --nodes N` (the CLI exactly as a user runs it, default settings, anonymous
 * clients allowed), every one of them reached by a broadcast.
 *
 * Load: one client process per node (bench/clients/lean-subscribers.ts: bare sockets, ~1/4 of the `ws`
 * client's memory), each holding that node's share (<= 19,000 sockets: the fd cap is 20,000 per process on
 * both sides), client i binding to source address 127.0.0.(2 + i mod --addresses) so no source address nears the
 * ~28k 4-tuple limit. Subscribers grow in steps (default 100k, 250k, 500k, 1M total); at each step it records:
 *   - connect: how many, how long, failed attempts (retried until the step's deadline);
 *   - memory: RSS of the node processes (sum, per node, per connection), of the client processes, and the
 *     kernel's share: /proc/net/sockstat TCP "mem" (socket buffers, pages) and /proc/meminfo Slab (socket
 *     objects), both for both ends of every loopback connection;
 *   - idle CPU of the node processes over 10 s with nothing published (keepalive pings, heartbeats);
 *   - one broadcast (REST publish through node 1): deliveries, time until the last one, p50/p99;
 *   - false deaths (hashpub_cluster_deaths_total summed over the nodes: nothing is killed), the fewest members any
 *     node lists, the slowest GET /v1/cluster over 10 s after the broadcast, and the largest event-loop stall of
 *     any node during the step (GET /v1/stats?history=1 through node 1: every member's per-second maxima of
 *     monitorEventLoopDelay; the window is the last 5 minutes of the step).
 * It stops when a step cannot complete, memory runs low (MemAvailable < 1.5 GB) or --minutes pass, and says why.
 * Results: bench/results/million-<date>.json (rewritten after every step, so a cut-off run keeps its steps).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/million.js [--nodes 54] [--steps 100000,250000,500000,1000000]
 *     [--addresses N (default: one per node)] [--memory] [--minutes 60] [--quick] [--out name.json] [--client-prof DIR]
 * Loopback only; every child (the cluster's nodes too) is killed on exit; every wait is bounded.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nowMs, type ClientEvent, type ClientRequest } from './support/ipc.js';
import { environment, runMain } from './support/main.js';
import { collect, connectClients, Publisher, round, setPhase, sumReports } from './support/phases.js';
import { kernel } from './support/kernel.js';
import { killChildren, Peer, sleep, track } from './support/proc.js';
import { renderTable } from './support/table.js';
import { ClusterProbe } from './support/cluster-probe.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return argv[i]!.includes('=') ? argv[i]!.split('=').slice(1).join('=') : argv[i + 1];
};
const QUICK = argv.includes('--quick');
const MEMORY = argv.includes('--memory');
/** --client-prof DIR: each load client writes a V8 CPU profile there when it exits (to find what holds its loop). */
const CLIENT_PROF = flag('client-prof');
const NODES = Number(flag('nodes') ?? (QUICK ? 3 : 54));
const STEPS = (flag('steps') ?? (QUICK ? '3000,6000' : '100000,250000,500000,1000000')).split(',').map(Number).filter((x) => x > 0);
/**
 * Source addresses (127.0.0.2, ...), one per client process by default. A client binds its address before it connects,
 * and bind() needs a port no socket of that address holds (TIME_WAIT included): one address has the ~28,000 ports of
 * ip_local_port_range for everything, whatever the destination, so 8 addresses (the old default) cap the run near
 * 226,000 and slow every bind() as they fill.
 */
const ADDRESSES = Math.max(1, Math.min(250, Number(flag('addresses') ?? NODES)));
const MINUTES = Number(flag('minutes') ?? (QUICK ? 5 : 60));
const PER_PROCESS_CAP = 19_000;
const SOURCES = Array.from({ length: ADDRESSES }, (_, i) => `127.0.0.${2 + i}`);
const EXEMPT = ['127.0.0.1', '::1', ...SOURCES];
const MIN_AVAILABLE_MB = 1536;
/** During a step, connecting stops when less than this is left (so the OOM killer never picks a node). */
const HALT_AVAILABLE_MB = 1024;
const API_KEY = 'million-bench-key';
const CHANNEL = 'everyone';
/** Sockets each client process opens at once. */
const BATCH = QUICK ? 50 : 40;

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = resolve(here, '../..');
const BIN = join(root, 'dist/bin/hashpub.js');
const CLIENT = join(here, 'clients/lean-subscribers.js');
const started = new Date();
const OUT = flag('out') ?? `million-${started.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}${MEMORY ? '-memory' : ''}.json`;
const log = (msg: string) => process.stderr.write(`[million ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------
// The cluster: `hashpub cluster`, its node pids read from its progress lines.

interface Node { index: number; url: string; pid: number }
interface Cluster { proc: ChildProcess; nodes: Node[]; data: string | null }

let cluster: Cluster | null = null;
function killAll(): void {
  for (const n of cluster?.nodes ?? []) { try { process.kill(n.pid, 'SIGKILL'); } catch { /* gone */ } }
  killChildren();
  if (cluster?.data) rmSync(cluster.data, { recursive: true, force: true });
}

async function startCluster(): Promise<Cluster> {
  const data = MEMORY ? null : mkdtempSync(join(tmpdir(), 'hashpub-million-'));
  const args = [BIN, 'cluster', '--nodes', String(NODES), '--port', '0', '--data', data ?? ':memory:', '--api-key', API_KEY,
    '--allow-anonymous', '--timeout', '600'];
  log(`starting: hashpub ${args.slice(1).join(' ')}`);
  // The load clients' source addresses skip the per-address limits (1000 connections, 20 new per second): an
  // operator load-testing from known addresses sets the same (--limit-exempt-addresses).
  const env = { ...process.env, HASHPUB_LIMIT_EXEMPT_ADDRESSES: EXEMPT.join(',') };
  const proc = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  const c: Cluster = { proc, nodes: [], data };
  cluster = c;
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  await new Promise<void>((resolveFormed, reject) => {
    const timer = setTimeout(() => reject(new Error(`the cluster did not form in 10 minutes; last output:\n${out.slice(-2000)}`)), 600_000);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`hashpub cluster exited (${code}):\n${out.slice(-2000)}`)); });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (;;) {
        const nl = out.indexOf('\n');
        if (nl < 0) break;
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^node (\d+)\/\d+ ready at (\S+) \(pid (\d+)\)/.exec(line);
        if (m) {
          c.nodes.push({ index: Number(m[1]), url: m[2]!, pid: Number(m[3]) });
          if (c.nodes.length % 8 === 0 || c.nodes.length === NODES) log(`${c.nodes.length}/${NODES} nodes ready`);
        }
        if (line.startsWith('cluster formed')) {
          clearTimeout(timer);
          resolveFormed();
        }
      }
    });
  });
  c.nodes.sort((a, b) => a.index - b.index);
  return c;
}

// ---------------------------------------------------------------------------------------------------
// Memory and CPU from /proc.

const CLK_TCK = 100;
function procStat(pid: number): { cpuS: number; rss: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK, rss: m ? Number(m[1]) * 1024 : 0 };
  } catch { return { cpuS: 0, rss: 0 }; }
}


const MB = (b: number) => round(b / 1048576, 1);

// ---------------------------------------------------------------------------------------------------
// The steps.

interface Step {
  target: number;
  /** Subscribers open when the clients finished connecting. */
  connected: number;
  /** Subscribers that were connected and closed again before the clients finished (not reopened). */
  closedWhileConnecting: number;
  /** The longest event-loop delay of any load client while connecting. */
  clientMaxLoopDelayMs: number;
  failedAttempts: number;
  errors: string[];
  connectS: number;
  nodeRssMB: { sum: number; min: number; max: number };
  nodeRssPerConnKB: number | null;
  clientRssMB: number;
  kernel: { tcpBuffersMB: number; slabMB: number; perConnKB: number | null; note: string };
  availableMB: number;
  idleNodeCpuPercentOfCore: { sum: number; perNode: number };
  broadcast?: { deliveries: number; expected: number; elapsedMs: number; timedOut: boolean; p50Ms: number | null; p99Ms: number | null; published: boolean; error?: string;
    /** Subscriber sockets the load clients saw closed since they connected (each one a subscriber the broadcast cannot reach). */
    closedSockets: number;
    /** Why they closed: the server's close code, "no close frame" (dropped: a missed ping, a reset), or a socket error. */
    closeReasons: Record<string, number> };
  falseDeaths?: number;
  /** WebSocket connections the nodes ended or saw end since the cluster started, by reason (hashpub_ws_disconnects_total). */
  serverDisconnects?: Record<string, number>;
  membersMin?: number;
  clusterAnswerMaxMs?: number | null;
  largestStallMs?: number | null;
  largestStallNode?: string | null;
  /** Members whose samples the stall could not be read from. */
  stallUnanswered?: number;
}

interface Result {
  bench: 'million';
  date: string;
  config: Record<string, unknown>;
  cluster?: { nodes: number; formedS: number; idleRssMB: { sum: number; perNode: number }; idleCpuPercentOfCore: { sum: number; perNode: number } };
  steps: Step[];
  reached: number;
  stopReason: string;
  error?: string;
  environment?: ReturnType<typeof environment>;
}

function save(r: Result): void {
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, OUT), JSON.stringify({ ...r, environment: environment() }, null, 2) + '\n');
}

async function idleCpu(nodes: Node[], ms: number): Promise<{ sum: number; perNode: number }> {
  const a = nodes.map((n) => procStat(n.pid).cpuS);
  await sleep(ms);
  const b = nodes.map((n) => procStat(n.pid).cpuS);
  const sum = b.reduce((acc, x, i) => acc + x - a[i]!, 0) / (ms / 1000) * 100;
  return { sum: round(sum, 1), perNode: round(sum / nodes.length, 2) };
}

async function main(): Promise<void> {
  const result: Result = {
    bench: 'million', date: started.toISOString(), steps: [], reached: 0, stopReason: 'all steps done',
    config: { nodes: NODES, steps: STEPS, sourceAddresses: SOURCES, nodeEnv: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('HASHPUB_'))), HASHPUB_LIMIT_EXEMPT_ADDRESSES: EXEMPT.join(',') }, store: MEMORY ? ':memory:' : 'default data dir', clientProcesses: NODES,
      client: 'bench/clients/lean-subscribers.ts', connectBatchPerProcess: BATCH, perProcessCap: PER_PROCESS_CAP, minutes: MINUTES },
  };
  const deadline = Date.now() + MINUTES * 60_000;
  const maxTarget = NODES * PER_PROCESS_CAP;
  for (const t of STEPS) if (t > maxTarget) throw new Error(`step ${t} needs more than ${PER_PROCESS_CAP} sockets per node with --nodes ${NODES}: use --nodes ${Math.ceil(t / PER_PROCESS_CAP)} or more`);
  const k0 = kernel();
  const t0 = Date.now();
  const c = await startCluster();
  const formedS = round((Date.now() - t0) / 1000, 1);
  log(`cluster of ${c.nodes.length} formed in ${formedS} s; measuring idle CPU for 10 s`);
  await sleep(3000);
  const idle = await idleCpu(c.nodes, 10_000);
  const rss0 = c.nodes.map((n) => procStat(n.pid).rss);
  result.cluster = { nodes: c.nodes.length, formedS, idleRssMB: { sum: MB(rss0.reduce((a, b) => a + b, 0)), perNode: MB(rss0.reduce((a, b) => a + b, 0) / c.nodes.length) }, idleCpuPercentOfCore: idle };
  log(`idle: ${result.cluster.idleRssMB.sum} MB RSS (${result.cluster.idleRssMB.perNode} per node), CPU ${idle.sum}% of a core (${idle.perNode}% per node)`);
  save(result);

  const probe = new ClusterProbe(c.nodes.map((n) => n.url), API_KEY);
  const clients = c.nodes.map((n, i) => new Peer<ClientEvent>(`client ${i}`, fork(CLIENT, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: CLIENT_PROF ? ['--cpu-prof', '--cpu-prof-interval=10000', `--cpu-prof-dir=${CLIENT_PROF}`] : [] })));
  const clientRss0 = clients.reduce((a, cl) => a + procStat(cl.child.pid!).rss, 0);
  const k1 = kernel();
  const pub = new Publisher(c.nodes[0]!.url, { connections: 1, apiKey: API_KEY, path: `/v1/channels/${CHANNEL}/messages` });
  let phase = 0;
  try {
    for (const target of STEPS) {
      if (Date.now() > deadline) { result.stopReason = `time limit (${MINUTES} min)`; break; }
      if (kernel().availableBytes < MIN_AVAILABLE_MB * 1048576) { result.stopReason = `memory: MemAvailable below ${MIN_AVAILABLE_MB} MB`; break; }
      const stepStart = Date.now();
      const counts = c.nodes.map((_, i) => Math.floor(target / NODES) + (i < target % NODES ? 1 : 0));
      log(`step ${target.toLocaleString('en-US')}: growing to ${counts[0]} per node`);
      const stepDeadlineMs = Math.min(deadline - Date.now(), 20 * 60_000);
      let haltedForMemory = false;
      let ticks = 0;
      const progress = setInterval(() => {
        const k = kernel();
        if (!haltedForMemory && k.availableBytes < HALT_AVAILABLE_MB * 1048576) {
          haltedForMemory = true;
          log(`  memory: ${Math.round(k.availableBytes / 1048576)} MB available: the clients stop connecting`);
          for (const cl of clients) cl.send({ cmd: 'halt' } satisfies ClientRequest);
        }
        if (++ticks % 15 === 0) {
          void probe.disconnects().then((d) => log(`  ... ${(k.tcpInUse - k1.tcpInUse) >> 1} connections open, ${Math.round(k.availableBytes / 1048576)} MB available; ` +
            `server-side disconnects so far ${JSON.stringify(d)}`));
        }
      }, 1000);
      const conn = await connectClients(clients, {
        urls: c.nodes.map((n) => n.url.replace(/^http/, 'ws') + '/v1/ws'), counts, batch: BATCH, protocol: 'hashpub', channel: CHANNEL,
        deadlineMs: stepDeadlineMs, answerSlackMs: 60_000, localAddresses: c.nodes.map((_, i) => SOURCES[i % ADDRESSES]!),
      }).finally(() => clearInterval(progress));
      await sleep(3000);
      const nodeRss = c.nodes.map((n) => procStat(n.pid).rss);
      const rssSum = nodeRss.reduce((a, b) => a + b, 0);
      const clientRss = clients.reduce((a, cl) => a + procStat(cl.child.pid!).rss, 0);
      const k = kernel();
      const kernelGrowth = (k.tcpMemBytes - k0.tcpMemBytes) + (k.slabBytes - k0.slabBytes);
      const step: Step = {
        target, connected: conn.ok, closedWhileConnecting: conn.closed ?? 0, clientMaxLoopDelayMs: conn.maxLoopDelayMs ?? 0, failedAttempts: conn.failed, errors: conn.errors.slice(0, 20), connectS: round(conn.ms / 1000, 1),
        nodeRssMB: { sum: MB(rssSum), min: MB(Math.min(...nodeRss)), max: MB(Math.max(...nodeRss)) },
        nodeRssPerConnKB: conn.ok > 0 ? round((rssSum - rss0.reduce((a, b) => a + b, 0)) / conn.ok / 1024, 2) : null,
        clientRssMB: MB(clientRss),
        kernel: {
          tcpBuffersMB: MB(k.tcpMemBytes - k0.tcpMemBytes), slabMB: MB(k.slabBytes - k0.slabBytes),
          perConnKB: conn.ok > 0 ? round(kernelGrowth / conn.ok / 1024, 2) : null,
          note: 'growth since before the cluster started; loopback: both ends of every connection (client and server socket) are in it',
        },
        availableMB: Math.round(k.availableBytes / 1048576),
        idleNodeCpuPercentOfCore: await idleCpu(c.nodes, 10_000),
      };
      result.steps.push(step);
      log(`step ${target}: ${conn.ok} connected in ${step.connectS} s, ${step.closedWhileConnecting} closed again meanwhile, longest client loop delay ${step.clientMaxLoopDelayMs} ms (${conn.failed} failed attempts${conn.errors.length ? ': ' + conn.errors.slice(0, 3).join('; ') : ''}); ` +
        `nodes ${step.nodeRssMB.sum} MB (${step.nodeRssPerConnKB} KB/conn), clients ${step.clientRssMB} MB (${MB(clientRss - clientRss0)} MB grown), ` +
        `kernel +${step.kernel.tcpBuffersMB} MB buffers +${step.kernel.slabMB} MB slab (${step.kernel.perConnKB} KB/conn, both ends), ` +
        `${step.availableMB} MB available; idle CPU ${step.idleNodeCpuPercentOfCore.sum}% of a core (${step.idleNodeCpuPercentOfCore.perNode}% per node)`);
      save(result);

      const d0 = await probe.deaths();
      await setPhase(clients, ++phase, 1);
      const b0 = nowMs();
      const published = await pub.publish(phase, 0);
      const { reports, timedOut } = await collect(clients, phase, Date.now() + 120_000);
      const s = sumReports(reports);
      const h = s.hist.summary();
      step.broadcast = { deliveries: s.deliveries, expected: s.expected, elapsedMs: round(s.lastAt > 0 ? s.lastAt - b0 : 0, 0), timedOut,
        p50Ms: h.p50, p99Ms: h.p99, published, ...(published ? {} : { error: pub.lastError }), closedSockets: s.closed, closeReasons: s.closeReasons };
      const views = await probe.slowestViews(10_000);
      step.clusterAnswerMaxMs = views.some((v) => v === null) ? null : Math.max(...(views as number[]));
      step.membersMin = Math.min(...await probe.memberCounts());
      step.falseDeaths = await probe.deaths() - d0;
      step.serverDisconnects = await probe.disconnects();
      const stall = await probe.largestStall(stepStart);
      step.largestStallMs = stall.ms;
      step.largestStallNode = stall.node;
      step.stallUnanswered = stall.unanswered;
      log(`step ${target}: broadcast ${published ? '' : `(publish FAILED: ${pub.lastError}) `}reached ${s.deliveries}/${s.expected} in ${step.broadcast.elapsedMs} ms ` +
        `(p50 ${h.p50} p99 ${h.p99}; ${s.closed} subscriber sockets closed: ${JSON.stringify(s.closeReasons)}); false deaths ${step.falseDeaths}; fewest members seen ${step.membersMin}/${NODES}; ` +
        `slowest /v1/cluster ${step.clusterAnswerMaxMs ?? 'no answer'} ms; server-side disconnects ${JSON.stringify(step.serverDisconnects)}; largest event-loop stall ${stall.ms} ms (${stall.node}${stall.unanswered ? `, ${stall.unanswered} nodes unanswered` : ''})`);
      save(result);
      if (s.deliveries === s.expected && s.expected > 0 && published) result.reached = Math.max(result.reached, s.deliveries);
      if (haltedForMemory) { result.stopReason = `memory: MemAvailable fell below ${HALT_AVAILABLE_MB} MB at ${conn.ok} connections`; break; }
      if (conn.ok < target * 0.98) { result.stopReason = `step ${target}: only ${conn.ok} connected`; break; }
      if (!published || s.deliveries < s.expected) { result.stopReason = `step ${target}: the broadcast reached ${s.deliveries} of ${s.expected}`; break; }
    }
  } catch (err) {
    result.error = String((err as Error)?.stack ?? err);
    result.stopReason = 'error';
    log(`FAILED: ${result.error}`);
  } finally {
    save(result);
    await pub.close().catch(() => {});
    await Promise.all(clients.map((cl) => cl.stop({ cmd: 'close' } satisfies ClientRequest, 20_000)));
    c.proc.kill('SIGINT');
    await new Promise((r) => { c.proc.once('exit', r); setTimeout(r, 30_000); });
  }
  process.stdout.write(renderTable(
    ['subscribers', 'connected', 'connect s', 'node RSS MB', 'KB/conn', 'kernel KB/conn (both ends)', 'clients MB', 'available MB', 'idle CPU %', 'broadcast', 'broadcast ms', 'false deaths', 'min members', 'largest stall ms'],
    result.steps.map((s) => [String(s.target), String(s.connected), String(s.connectS), String(s.nodeRssMB.sum), String(s.nodeRssPerConnKB),
      String(s.kernel.perConnKB), String(s.clientRssMB), String(s.availableMB), String(s.idleNodeCpuPercentOfCore.sum),
      s.broadcast ? `${s.broadcast.deliveries}/${s.broadcast.expected}` : '-', String(s.broadcast?.elapsedMs ?? '-'), String(s.falseDeaths ?? '-'),
      String(s.membersMin ?? '-'), String(s.largestStallMs ?? '-')])) + '\n');
  process.stdout.write(`reached: ${result.reached} subscribers all reached by one broadcast (stop: ${result.stopReason}); saved bench/results/${OUT}\n`);
  save(result);
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => { log(`${sig}: stopping`); killAll(); process.exit(130); });
runMain(main, { log, killAll, hardStopMs: (MINUTES + 20) * 60_000 });
