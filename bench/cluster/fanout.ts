/*
 * Cluster fan-out benchmark: what a cluster of hashpub node processes (spawned with the CLI exactly as a user
 * would: one `hashpub bootstrap` process + N `hashpub start` processes on loopback, each under ulimit -n 20000)
 * delivers, and how many subscribers the machine holds across them.
 *   A. For N = 1, 2 and 4 nodes: one channel with 10k WebSocket subscribers spread evenly over the nodes (one
 *      load-client process per node), REST publishes through node 0:
 *        - burst: M publishes as fast as a keep-alive publisher with bounded concurrency sends them ->
 *          deliveries/s (all deliveries / first publish to last delivery), node CPU per delivery (/proc);
 *        - paced: ~10k deliveries/s for a few seconds -> publish-to-delivery p50/p99;
 *        - inter-node traffic: deltas of every node's GET /metrics hashpub_peer_frames_total{direction="out"}
 *          and hashpub_peer_bytes_total{direction="out"}, summed over the nodes, per message published.
 *   B. Capacity: 6 node processes (--cap-nodes=N), one client process each (<= 15k sockets per process on
 *      either side), subscribers grown in steps (5k, 10k, 12.5k, 15k per node) until a step fails, memory runs
 *      low or time runs out; after each step one broadcast on the shared channel, counting deliveries (and the
 *      RSS of node and client processes).
 * Loopback only; every child process is killed on exit; every wait is bounded. Writes
 * bench/results/cluster-<date>[-quick][-capN when --cap-nodes is not the default].json and prints a table.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/cluster/fanout.js [--quick] [--cap-nodes=6]
 *     [--capacity-only] [--cap-steps=5000,10000 (per node)] [--out=<file name in bench/results>]
 * Each capacity step also records the failure detector's deaths (hashpub_cluster_deaths_total, summed over the nodes:
 * nothing is killed, so every one is false) and, for 10 s after the broadcast, how slowly GET /v1/cluster answered.
 *
 * The machine has 2 cores: nodes, load clients and the publisher share them, so more node processes do not
 * add CPU here; the figures show the cluster's overhead (inter-node frames, latency), not a speed-up.
 */
import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { freemem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FD_LIMIT, HashpubCluster } from '../hashpub-cluster.js';
import type { Histogram } from '../support/histogram.js';
import { nowMs, type ClientEvent, type ClientRequest } from '../support/ipc.js';
import { environment, runMain } from '../support/main.js';
import { collect, connectClients, type PhaseCounts, phaseCounts, publishPhase, Publisher, round, setPhase, sumReports } from '../support/phases.js';
import { children, killChildren, Peer, sleep, track } from '../support/proc.js';
import { fmt as f, renderTable as render } from '../support/table.js';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const NODE_COUNTS = [1, 2, 4];
const SUBSCRIBERS = QUICK ? 2000 : 10_000;
const API_KEY = 'k';
const CHANNEL = 'bench';
const CONNECT_CONCURRENCY = 500;
const BURST_CONCURRENCY = 32;
const BURST_MESSAGES = QUICK ? 100 : 200;
const PACED_DELIVERIES_PER_S = 10_000;
const PACED_SECONDS = QUICK ? 4 : 10;
/** Capacity phase: node processes and subscribers per node at each step. */
const DEFAULT_CAP_NODES = QUICK ? 2 : 6;
const CAP_NODES = Math.max(1, Number(argv.find((a) => a.startsWith('--cap-nodes='))?.split('=')[1] ?? DEFAULT_CAP_NODES));
const CAP_STEPS = argv.find((a) => a.startsWith('--cap-steps='))?.split('=')[1]!.split(',').map(Number).filter((x) => x > 0)
  ?? (QUICK ? [2000, 4000] : [5000, 7500, 10_000, 12_500, 15_000]);
const CAPACITY_ONLY = argv.includes('--capacity-only');
const CAP_PHASE_MS = (QUICK ? 3 : 8) * 60_000;
/** Stop growing when less memory than this is left. */
const MIN_FREE_MEM = 2 * 1024 ** 3;
const RUN_DEADLINE_MS = (QUICK ? 5 : 20) * 60_000;

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench/cluster
const root = resolve(here, '../../..');
const BIN = join(root, 'dist/bin/hashpub.js');
const CLIENT_SCRIPT = join(here, '../clients/ws-subscribers.js');
const runDeadline = Date.now() + RUN_DEADLINE_MS;

const log = (msg: string) => process.stderr.write(`[cluster-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on exit, error or signal.

const tempDirs: string[] = [];

function killAll(): void {
  killChildren();
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: killing ${children.size} child processes`);
    killAll();
    process.exit(130);
  });
}

type ClientPeer = Peer<ClientEvent>;

function startClient(name: string): ClientPeer {
  return new Peer<ClientEvent>(name, fork(CLIENT_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
}

// ---------------------------------------------------------------------------------------------------
// The cluster: bench/hashpub-cluster.ts (CLI processes, each under `ulimit -n 20000`), plus its inter-node traffic.

type Cluster = HashpubCluster;

const startCluster = (n: number, name: string): Promise<Cluster> =>
  HashpubCluster.start({ nodes: n, bin: BIN, apiKey: API_KEY, cpus: null, track, name, dataDirs: tempDirs });

async function api(url: string, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** Sum over the nodes of hashpub_peer_{frames,bytes}_total{direction="out"}. */
async function peerOut(cluster: Cluster): Promise<{ frames: number; bytes: number }> {
  let frames = 0, bytes = 0;
  for (const n of cluster.nodes) {
    const text = (await api(n.url, '/metrics')).text;
    frames += metric(text, 'hashpub_peer_frames_total', 'out');
    bytes += metric(text, 'hashpub_peer_bytes_total', 'out');
  }
  return { frames, bytes };
}

/** CPU seconds (user+system) of all node processes, from /proc. */
function cpuSeconds(cluster: Cluster): number {
  const u = cluster.usage();
  return (u.user + u.system) / 1e6;
}

function rssOf(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}

/** Sum of a counter over every label set with this direction (kinds: owner, push, repl, cluster). */
function metric(text: string, name: string, direction: string): number {
  const re = new RegExp(`^${name}\\{[^}]*direction="${direction}"[^}]*\\}\\s+(\\S+)`, 'gm');
  let sum = 0;
  for (const m of text.matchAll(re)) sum += Number(m[1]);
  return sum;
}

// ---------------------------------------------------------------------------------------------------
// Publishing and phases (the same client protocol as bench/single-node.ts).

let phaseSeq = 0;
const newPublisher = (url: string) => new Publisher(url, { connections: BURST_CONCURRENCY, apiKey: API_KEY, path: `/v1/channels/${CHANNEL}/messages` });

interface PhaseResult extends PhaseCounts {
  /** All node processes' CPU (user+system, /proc) over the phase, per delivery. */
  nodeCpuUsPerDelivery: number | null;
  /** Sum over nodes of peer frames/bytes out during the phase, divided by messages published. */
  peerFramesPerPublish: number | null;
  peerBytesPerPublish: number | null;
  latencyMs: ReturnType<Histogram['summary']>;
}

async function runPhase(cluster: Cluster, pub: Publisher, clients: ClientPeer[], opts: {
  messages: number; ratePerSec: number | null; drainMs: number;
}): Promise<PhaseResult> {
  const phase = ++phaseSeq;
  await setPhase(clients, phase, opts.messages);
  const peer0 = await peerOut(cluster);
  const cpu0 = cpuSeconds(cluster);
  const failures0 = pub.failures;
  const t0 = nowMs();
  const published = await publishPhase(pub, phase, t0, { messages: opts.messages, ratePerSec: opts.ratePerSec, concurrency: Math.min(BURST_CONCURRENCY, opts.messages) });
  const publishMs = nowMs() - t0;
  const { reports, timedOut } = await collect(clients, phase, Date.now() + opts.drainMs);
  const cpu1 = cpuSeconds(cluster);
  const peer1 = await peerOut(cluster);

  const sums = sumReports(reports);
  const { deliveries } = sums;
  return {
    ...phaseCounts({ messages: opts.messages, published, failures: pub.failures - failures0, lastError: pub.lastError, timedOut, t0, publishMs, sums }),
    nodeCpuUsPerDelivery: deliveries > 0 ? round(((cpu1 - cpu0) * 1e6) / deliveries, 3) : null,
    peerFramesPerPublish: published > 0 ? round((peer1.frames - peer0.frames) / published, 2) : null,
    peerBytesPerPublish: published > 0 ? round((peer1.bytes - peer0.bytes) / published, 1) : null,
    latencyMs: sums.hist.summary(),
  };
}

/** Connects `counts[i]` sockets in total (cumulative) from client i to node i's WebSocket endpoint. */
function connectAll(cluster: Cluster, clients: ClientPeer[], counts: number[]) {
  return connectClients(clients, {
    urls: cluster.nodes.map((n) => n.url.replace(/^http/, 'ws') + '/v1/ws'), counts,
    batch: Math.max(20, Math.ceil(CONNECT_CONCURRENCY / clients.length)), protocol: 'hashpub', channel: CHANNEL,
    deadlineMs: 60_000 + Math.max(...counts) * 8, answerSlackMs: 30_000,
  });
}

// ---------------------------------------------------------------------------------------------------
// A. fan-out at 1, 2, 4 nodes.

interface FanoutRun {
  nodes: number;
  subscribers: number;
  owner?: number;
  connect?: Awaited<ReturnType<typeof connectAll>>;
  warmup?: PhaseResult;
  burst?: PhaseResult;
  paced?: PhaseResult & { ratePerSec: number; seconds: number };
  nodeRssMB?: number[];
  error?: string;
}

async function runFanout(n: number): Promise<FanoutRun> {
  const result: FanoutRun = { nodes: n, subscribers: SUBSCRIBERS };
  let cluster: Cluster | null = null;
  let clients: ClientPeer[] = [];
  let pub: Publisher | null = null;
  try {
    cluster = await startCluster(n, `fanout-${process.pid}-${n}`);
    const owner = JSON.parse((await api(cluster.nodes[0]!.url, `/v1/channels/${CHANNEL}/owner`)).text) as { owner: string };
    result.owner = cluster.nodes.findIndex((x) => x.id === owner.owner);
    log(`${n} node(s) up (owner of "${CHANNEL}": node ${result.owner}); connecting ${SUBSCRIBERS} subscribers`);
    clients = cluster.nodes.map((_, i) => startClient(`client ${i}`));
    const shares = clients.map((_, i) => Math.floor(SUBSCRIBERS / n) + (i < SUBSCRIBERS % n ? 1 : 0));
    result.connect = await connectAll(cluster, clients, shares);
    log(`${n} node(s): ${result.connect.ok} connected in ${result.connect.ms} ms` + (result.connect.failed ? `, ${result.connect.failed} failed: ${result.connect.errors.join('; ')}` : ''));
    if (result.connect.ok === 0) throw new Error('no client connected');
    await sleep(1000);

    pub = newPublisher(cluster.nodes[0]!.url);
    result.warmup = await runPhase(cluster, pub, clients, { messages: 10, ratePerSec: null, drainMs: 20_000 });
    result.burst = await runPhase(cluster, pub, clients, { messages: BURST_MESSAGES, ratePerSec: null, drainMs: 60_000 });
    const b = result.burst;
    log(`${n} node(s): burst ${b.deliveries}/${b.expected} in ${b.elapsedMs} ms = ${b.deliveriesPerSec}/s, ` +
      `nodes ${b.nodeCpuUsPerDelivery} us CPU/delivery, ${b.peerFramesPerPublish} peer frames and ${b.peerBytesPerPublish} B per publish`);
    await sleep(500);
    const rate = Math.max(1, Math.round(PACED_DELIVERIES_PER_S / result.connect.ok));
    const paced = await runPhase(cluster, pub, clients, { messages: rate * PACED_SECONDS, ratePerSec: rate, drainMs: 10_000 });
    result.paced = { ...paced, ratePerSec: rate, seconds: PACED_SECONDS };
    log(`${n} node(s): paced ${rate} msg/s: p50 ${paced.latencyMs.p50} ms, p99 ${paced.latencyMs.p99} ms (${paced.deliveries}/${paced.expected}), ` +
      `${paced.peerFramesPerPublish} peer frames and ${paced.peerBytesPerPublish} B per publish`);
    result.nodeRssMB = cluster.usage().rssPerNode.map((b) => round(b / 1048576, 1));
  } catch (err) {
    result.error = String((err as Error)?.message ?? err);
    log(`${n} node(s): FAILED: ${result.error}`);
  } finally {
    await pub?.close().catch(() => {});
    await Promise.all(clients.map((c) => c.stop({ cmd: 'close' } satisfies ClientRequest)));
    await cluster?.stop();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------
// B. capacity.

interface CapacityStep {
  perNode: number;
  target: number;
  connected: number;
  failed: number;
  errors: string[];
  connectMs: number;
  broadcast?: { deliveries: number; expected: number; elapsedMs: number; timedOut: boolean; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  nodeRssMB: number[];
  rssPerConnKB: number | null;
  /** Sum of the load-client processes' RSS. */
  clientRssMB: number;
  /** Members each node listed (GET /v1/cluster) after connecting and after the broadcast: < node processes = a node was dropped (e.g. keepalive timeout under CPU overload). */
  membersAfterConnect: number[];
  membersAfterBroadcast?: number[];
  /** When a node was dropped: ms until every node listed all members again (null: not within 20 s). */
  membershipRecoveredMs?: number | null;
  /** Every subscriber got the broadcast and every node still listed every member afterwards. */
  healthy?: boolean;
  /** Peers declared dead during the step, summed over the nodes (all false: nothing was killed). */
  falseDeaths?: number;
  /** Slowest GET /v1/cluster answer over the 10 s after the broadcast, per node (ms; null = no answer in 10 s). */
  clusterAnswerMaxMs?: Array<number | null>;
  freeMemMB: number;
}

interface CapacityResult {
  nodeProcesses: number;
  clientProcesses: number;
  steps: CapacityStep[];
  /** Largest step in which every subscriber got the broadcast. */
  maxSubscribersAllDelivered: number;
  /** Largest step that was `healthy` (all delivered, cluster membership intact). */
  maxSubscribersHealthy: number;
  stopReason: string;
  error?: string;
}

/** hashpub_cluster_deaths_total summed over the nodes (a node that does not answer counts 0). */
async function deaths(cluster: Cluster): Promise<number> {
  const all = await Promise.all(cluster.nodes.map(async (n) => {
    try {
      return (await api(n.url, '/metrics')).text.split('\n').filter((l) => l.startsWith('hashpub_cluster_deaths_total'))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    } catch { return 0; }
  }));
  return all.reduce((a, b) => a + b, 0);
}

/** Polls every node's GET /v1/cluster for `ms`; per node the slowest answer (null: one took over 10 s or failed). */
async function slowestViews(cluster: Cluster, ms: number): Promise<Array<number | null>> {
  const worst: Array<number | null> = cluster.nodes.map(() => 0);
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await Promise.all(cluster.nodes.map(async (n, i) => {
      const t = Date.now();
      try {
        if ((await api(n.url, '/v1/cluster')).status !== 200) worst[i] = null;
      } catch { worst[i] = null; }
      if (worst[i] !== null) worst[i] = Math.max(worst[i]!, Date.now() - t);
    }));
    await sleep(250);
  }
  return worst;
}

async function runCapacity(): Promise<CapacityResult> {
  const result: CapacityResult = { nodeProcesses: CAP_NODES, clientProcesses: CAP_NODES, steps: [], maxSubscribersAllDelivered: 0, maxSubscribersHealthy: 0, stopReason: 'all steps done' };
  let cluster: Cluster | null = null;
  let clients: ClientPeer[] = [];
  let pub: Publisher | null = null;
  const phaseDeadline = Math.min(runDeadline, Date.now() + CAP_PHASE_MS);
  try {
    cluster = await startCluster(CAP_NODES, `capacity-${process.pid}`);
    await sleep(1000);
    const rss0 = cluster.usage().rssPerNode;
    clients = cluster.nodes.map((_, i) => startClient(`cap client ${i}`));
    pub = newPublisher(cluster.nodes[0]!.url);
    for (const perNode of CAP_STEPS) {
      if (Date.now() > phaseDeadline) { result.stopReason = 'time limit'; break; }
      if (freemem() < MIN_FREE_MEM) { result.stopReason = `free memory below ${MIN_FREE_MEM >> 20} MB`; break; }
      const target = perNode * CAP_NODES;
      log(`capacity: growing to ${perNode} per node (${target} total)`);
      const c = await connectAll(cluster, clients, cluster.nodes.map(() => perNode));
      await sleep(2000);
      const rss = cluster.usage().rssPerNode;
      const step: CapacityStep = {
        perNode, target, connected: c.ok, failed: c.failed, errors: c.errors, connectMs: c.ms,
        nodeRssMB: rss.map((b) => round(b / 1048576, 1)),
        clientRssMB: Math.round(clients.reduce((a, cl) => a + rssOf(cl.child.pid), 0) / 1048576),
        membersAfterConnect: await cluster.memberCounts(),
        rssPerConnKB: c.ok > 0 ? round((rss.reduce((a, b) => a + b, 0) - rss0.reduce((a, b) => a + b, 0)) / c.ok / 1024, 2) : null,
        freeMemMB: Math.round(freemem() / 1048576),
      };
      result.steps.push(step);
      log(`capacity: ${c.ok}/${target} connected in ${c.ms} ms` + (c.failed ? ` (${c.failed} failed: ${c.errors.join('; ')})` : '') +
        `, node RSS ${step.nodeRssMB.join('/')} MB, clients ${step.clientRssMB} MB, free ${step.freeMemMB} MB`);
      // One broadcast to everyone.
      const deaths0 = await deaths(cluster);
      const phase = ++phaseSeq;
      await setPhase(clients, phase, 1);
      const t0 = nowMs();
      const ok = await pub.publish(phase, 0);
      const { reports, timedOut } = await collect(clients, phase, Date.now() + 60_000);
      const { hist, deliveries, expected, lastAt } = sumReports(reports);
      const s = hist.summary();
      step.membersAfterBroadcast = await cluster.memberCounts();
      step.clusterAnswerMaxMs = await slowestViews(cluster, 10_000);
      step.falseDeaths = (await deaths(cluster)) - deaths0;
      step.broadcast = { deliveries, expected, elapsedMs: round(lastAt > 0 ? lastAt - t0 : 0, 1), timedOut, p50Ms: s.p50, p99Ms: s.p99, maxMs: s.max };
      log(`capacity: broadcast ${ok ? '' : '(publish FAILED: ' + pub.lastError + ') '}reached ${deliveries}/${expected} in ${step.broadcast.elapsedMs} ms; ` +
        `false deaths ${step.falseDeaths}; slowest /v1/cluster answer ${Math.max(...step.clusterAnswerMaxMs.map((x) => x ?? Infinity))} ms`);
      const intact = (v: number[]) => v.every((x) => x === CAP_NODES);
      const allDelivered = ok && deliveries === expected && expected > 0;
      step.healthy = allDelivered && intact(step.membersAfterConnect) && intact(step.membersAfterBroadcast);
      if (allDelivered) result.maxSubscribersAllDelivered = Math.max(result.maxSubscribersAllDelivered, deliveries);
      if (step.healthy) result.maxSubscribersHealthy = Math.max(result.maxSubscribersHealthy, deliveries);
      if (!intact(step.membersAfterBroadcast)) {
        const t1 = Date.now();
        step.membershipRecoveredMs = null;
        while (Date.now() - t1 < 20_000) {
          if (intact(await cluster.memberCounts())) { step.membershipRecoveredMs = Date.now() - t1; break; }
          await sleep(250);
        }
        log(`capacity: membership broke (${step.membersAfterBroadcast.join(',')} members seen); ` +
          (step.membershipRecoveredMs === null ? 'not whole again within 20 s' : `whole again after ${step.membershipRecoveredMs} ms`));
      }
      if (c.failed > target * 0.02 || !ok || deliveries < expected) { result.stopReason = `step ${target} incomplete`; break; }
      if (!step.healthy && step.membershipRecoveredMs === null) { result.stopReason = `step ${target}: cluster membership broke and did not recover`; break; }
    }
  } catch (err) {
    result.error = String((err as Error)?.message ?? err);
    result.stopReason = 'error';
    log(`capacity: FAILED: ${result.error}`);
  } finally {
    await pub?.close().catch(() => {});
    await Promise.all(clients.map((c) => c.stop({ cmd: 'close' } satisfies ClientRequest, 10_000)));
    await cluster?.stop();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Report.

function tables(runs: FanoutRun[], cap: CapacityResult | null): string {
  const fanout = render(
    ['nodes', 'subs', 'connected', 'burst deliveries/s', 'node CPU us/deliv', 'paced msg/s', 'p50 ms', 'p99 ms',
      'peer frames/publish', 'peer bytes/publish', 'lost'],
    runs.map((r) => {
      const lost = (r.burst ? r.burst.expected - r.burst.deliveries : 0) + (r.paced ? r.paced.expected - r.paced.deliveries : 0);
      return [String(r.nodes), String(r.subscribers), r.connect ? String(r.connect.ok) : '-',
        r.burst ? r.burst.deliveriesPerSec.toLocaleString('en-US') : '-', f(r.burst?.nodeCpuUsPerDelivery, 2),
        r.paced ? String(r.paced.ratePerSec) : '-', f(r.paced?.latencyMs.p50, 1), f(r.paced?.latencyMs.p99, 1),
        `${f(r.burst?.peerFramesPerPublish, 2)} / ${f(r.paced?.peerFramesPerPublish, 2)}`,
        `${f(r.burst?.peerBytesPerPublish, 0)} / ${f(r.paced?.peerBytesPerPublish, 0)}`, r.error ? 'ERR' : String(lost)];
    }));
  const out = [fanout, '(peer frames/bytes: burst / paced, summed over all nodes\' "out" counters)'];
  for (const r of runs) if (r.error) out.push(`${r.nodes} node(s): ${r.error}`);
  if (cap) {
    out.push('', render(
      ['node procs', 'per node', 'connected', 'connect ms', 'broadcast delivered', 'broadcast ms', 'node RSS MB min-max (sum)', 'node RSS/conn KB', 'clients RSS MB', 'free MB', 'min members seen', 'healthy'],
      cap.steps.map((s) => [String(cap.nodeProcesses), String(s.perNode), `${s.connected}/${s.target}`, String(s.connectMs),
        s.broadcast ? `${s.broadcast.deliveries}/${s.broadcast.expected}` : '-', f(s.broadcast?.elapsedMs, 0),
        `${Math.min(...s.nodeRssMB).toFixed(0)}-${Math.max(...s.nodeRssMB).toFixed(0)} (${s.nodeRssMB.reduce((a, b) => a + b, 0).toFixed(0)})`,
        f(s.rssPerConnKB, 1), String(s.clientRssMB), String(s.freeMemMB),
        String(Math.min(...s.membersAfterConnect, ...(s.membersAfterBroadcast ?? []))),
        s.healthy ? 'yes' : s.membershipRecoveredMs != null ? `no (whole again in ${s.membershipRecoveredMs} ms)` : 'no'])));
    out.push(`capacity: ${cap.maxSubscribersHealthy} concurrent subscribers all reached by one broadcast with the cluster intact; ` +
      `${cap.maxSubscribersAllDelivered} all reached (stop: ${cap.stopReason})${cap.error ? `; error: ${cap.error}` : ''}`);
    out.push('("min members seen": fewest members any node listed in GET /v1/cluster after connecting or after the broadcast; -1 = no answer in 10 s)');
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const started = new Date();
  log(`cluster fan-out bench (${QUICK ? 'quick' : 'full'}), node ${process.version}`);
  const runs: FanoutRun[] = [];
  for (const n of CAPACITY_ONLY ? [] : NODE_COUNTS) {
    if (Date.now() > runDeadline) { runs.push({ nodes: n, subscribers: SUBSCRIBERS, error: 'skipped: run deadline passed' }); continue; }
    runs.push(await runFanout(n));
  }
  const capacity = Date.now() < runDeadline ? await runCapacity() : null;
  const out = {
    benchmark: 'cluster-fanout',
    mode: QUICK ? 'quick' : 'full',
    date: started.toISOString(),
    durationS: round((Date.now() - started.getTime()) / 1000, 1),
    environment: {
      ...environment(), fdLimitPerProcess: FD_LIMIT,
    },
    config: {
      nodeCounts: NODE_COUNTS, subscribers: SUBSCRIBERS, burstMessages: BURST_MESSAGES, burstConcurrency: BURST_CONCURRENCY,
      pacedDeliveriesPerSec: PACED_DELIVERIES_PER_S, pacedSeconds: PACED_SECONDS, connectConcurrency: CONNECT_CONCURRENCY,
      capacity: { nodeProcesses: CAP_NODES, perNodeSteps: CAP_STEPS, minFreeMemMB: MIN_FREE_MEM >> 20 },
      notes: [
        'Nodes are `hashpub start` processes (CLI) with their own data dirs, joined through a `hashpub bootstrap` process; anonymous clients allowed.',
        'Subscribers: one bench/clients/ws-subscribers process per node, connected to that node only; publishes: REST POST through node 0 (undici Pool keep-alive).',
        'deliveries/s = deliveries received by all clients / (first publish -> last delivery).',
        'node CPU = sum of utime+stime of all node processes (/proc/<pid>/stat) over the phase, per delivery.',
        'peer frames/bytes per publish = sum over nodes of the delta of hashpub_peer_{frames,bytes}_total{direction="out"} over the phase / messages published (includes forwarding the publish to the owner and its answer when node 0 is not the owner, and any heartbeats in the window).',
        'latency = client receive time - publisher timestamp in the payload.',
        'All processes share the machine\'s cores: more node processes add overhead here, not CPU.',
      ],
    },
    fanout: runs,
    capacity,
  };
  const dir = join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, argv.find((a) => a.startsWith('--out='))?.split('=')[1] ?? `cluster-${started.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}${CAP_NODES !== DEFAULT_CAP_NODES ? `-cap${CAP_NODES}` : ''}.json`);
  await writeFile(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`\ncluster fan-out bench, ${out.mode}, node ${process.version}, ${out.environment.cpuModel} x${out.environment.cores}, ${out.durationS} s\n`);
  process.stdout.write(tables(runs, capacity) + '\n');
  process.stdout.write(`results: ${file}\n`);
}

runMain(main, { log, killAll, hardStopMs: RUN_DEADLINE_MS + 120_000 });
