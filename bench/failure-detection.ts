/*
 * Failure detection benchmark: how fast a `kill -9` of a node is detected, and how many nodes are wrongly
 * declared dead while nodes are busy. A CLI cluster (bench/hashpub-cluster.ts: one `hashpub bootstrap` and
 * NODES `hashpub start` processes on loopback, default settings) goes through three phases:
 *   1. kills: KILLS times, SIGKILL a random node, then poll every survivor's GET /v1/cluster every POLL_MS
 *      until none lists it (detection = SIGKILL to the last survivor's view without it, poll resolution
 *      included), then restart it on its data dir and port (same node id, as a crashed node comes back) and
 *      wait until every view has NODES members again;
 *   2. busy: for BUSY_S seconds, with HOGS busy-loop processes saturating the cores, one random node after
 *      another is stopped (SIGSTOP) for a random 0.5-2.5 s and continued; every running node's view is polled,
 *      and at the end hashpub_cluster_deaths_total is read from every node: any death there is a false one;
 *   3. kills under load: LOAD_KILLS kills as in 1 while the hogs run.
 * Runs once with a data dir per node and once with `--data :memory:`. Writes
 * bench/results/failure-detection-<YYYY-MM-DD>.json and prints a table.
 *
 *   npx tsc -p tsconfig.json && flock /tmp/hashpub-heavy.lock node dist/bench/failure-detection.js [--quick]
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HashpubCluster, type NodeProc } from './hashpub-cluster.js';
import { environment, runMain } from './support/main.js';
import { round } from './support/phases.js';
import { children, killChildren, sleep, track } from './support/proc.js';
import { fmt, renderTable } from './support/table.js';

const QUICK = process.argv.includes('--quick');
const NODES = 5;
const KILLS = QUICK ? 5 : 20;
const LOAD_KILLS = QUICK ? 3 : 10;
const BUSY_S = QUICK ? 15 : 45;
const HOGS = 2;
const POLL_MS = 20;
const API_KEY = 'failure-bench-api-key';
const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(HERE, '../bin/hashpub.js');
const RESULTS = resolve(HERE, '../../bench/results');

const log = (msg: string) => process.stderr.write(`[failure-detection] ${msg}\n`);

async function view(n: NodeProc, timeoutMs = 2000): Promise<string[] | null> {
  try {
    const res = await fetch(`${n.url}/v1/cluster`, { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) return null;
    return ((await res.json()) as { members: Array<{ id: string }> }).members.map((m) => m.id);
  } catch { return null; }
}

/** The failure-detector counters on a node's /metrics, summed over labels. */
async function failureMetrics(n: NodeProc): Promise<Record<string, number>> {
  const res = await fetch(`${n.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^hashpub_cluster_(\w+?)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  return { n: s.length, min: round(s[0] ?? 0, 0), p50: round(q(0.5), 0), p90: round(q(0.9), 0), max: round(s.at(-1) ?? 0, 0),
    mean: round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), 0) };
};

/** SIGKILLs a random node, times until no survivor lists it, restarts it (same id). Answers per-survivor times (ms). */
async function killOne(cluster: HashpubCluster): Promise<{ detectionMs: number; perSurvivorMs: number[]; rejoinMs: number }> {
  const i = Math.floor(Math.random() * cluster.nodes.length);
  const victim = cluster.nodes[i]!;
  const survivors = cluster.nodes.filter((n) => n !== victim);
  const seenAt = new Map<NodeProc, number>();
  const t0 = performance.now();
  victim.proc.child.kill('SIGKILL');
  while (seenAt.size < survivors.length) {
    if (performance.now() - t0 > 30_000) throw new Error(`kill of node ${i} not detected in 30 s`);
    await Promise.all(survivors.filter((s) => !seenAt.has(s)).map(async (s) => {
      const v = await view(s);
      if (v && !v.includes(victim.id)) seenAt.set(s, performance.now() - t0);
    }));
    await sleep(POLL_MS);
  }
  const perSurvivorMs = [...seenAt.values()].map((v) => round(v, 0));
  const t1 = performance.now();
  await cluster.startNode(i, true);
  await cluster.converged(60_000);
  return { detectionMs: Math.max(...perSurvivorMs), perSurvivorMs, rejoinMs: round(performance.now() - t1, 0) };
}

function startHogs(): () => void {
  const hogs = Array.from({ length: HOGS }, () => track(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' })));
  return () => { for (const h of hogs) h.kill('SIGKILL'); };
}

/** Stalls random nodes (SIGSTOP 0.5-2.5 s) for `seconds` while polling views; answers what it saw. */
async function busyPhase(cluster: HashpubCluster, seconds: number) {
  const n = cluster.nodes.length;
  const before = await Promise.all(cluster.nodes.map(failureMetrics));
  const stopped = new Set<NodeProc>();
  let smallestView = n;
  let polls = 0;
  let running = true;
  const poller = (async () => {
    while (running) {
      await Promise.all(cluster.nodes.filter((x) => !stopped.has(x)).map(async (x) => {
        const v = await view(x, 5000);
        if (v && !stopped.has(x)) { smallestView = Math.min(smallestView, v.length); polls++; }
      }));
      await sleep(100);
    }
  })();
  const stalls: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const node = cluster.nodes[Math.floor(Math.random() * n)]!;
    const ms = 500 + Math.random() * 2000;
    stopped.add(node);
    node.proc.child.kill('SIGSTOP');
    const t0 = performance.now();
    await sleep(ms);
    node.proc.child.kill('SIGCONT');
    stalls.push(round(performance.now() - t0, 0));
    stopped.delete(node);
    await sleep(300 + Math.random() * 1200);
  }
  await sleep(2000); // let the last stalled node catch up
  running = false;
  await poller;
  const after = await Promise.all(cluster.nodes.map(failureMetrics));
  const delta = (k: string) => after.reduce((sum, a, i) => sum + (a[k] ?? 0) - (before[i]![k] ?? 0), 0);
  return {
    seconds, stalls: stalls.length, stallMs: stats(stalls), longestStallMs: Math.max(...stalls),
    falseDeaths: delta('deaths_total'), smallestViewSeen: smallestView, viewPolls: polls,
    suspicions: delta('suspicions_total'), recovered: delta('suspicions_recovered_total'), refutations: delta('refutations_total'),
    healthMultiplierAtEnd: after.map((a) => a.health_multiplier ?? 1),
  };
}

async function runStore(memory: boolean) {
  const store = memory ? ':memory:' : 'data dir';
  log(`${store}: starting ${NODES} nodes`);
  const cluster = await HashpubCluster.start({ nodes: NODES, bin: BIN, apiKey: API_KEY, cpus: null, track, name: `fd-${process.pid}-${memory ? 'm' : 'd'}`,
    memory, stablePorts: true });
  try {
    const kills = [];
    for (let k = 0; k < KILLS; k++) {
      const r = await killOne(cluster);
      log(`${store}: kill ${k + 1}/${KILLS}: detected after ${r.detectionMs} ms (${r.perSurvivorMs.join('/')}), restarted and rejoined in ${r.rejoinMs} ms`);
      kills.push(r);
    }
    const stopHogs = startHogs();
    let busy;
    const loadKills = [];
    try {
      log(`${store}: busy phase, ${BUSY_S} s of SIGSTOP stalls with ${HOGS} CPU hogs`);
      busy = await busyPhase(cluster, BUSY_S);
      log(`${store}: busy: ${busy.stalls} stalls up to ${busy.longestStallMs} ms, false deaths ${busy.falseDeaths}, smallest view ${busy.smallestViewSeen}`);
      for (let k = 0; k < LOAD_KILLS; k++) {
        const r = await killOne(cluster);
        log(`${store}: kill under load ${k + 1}/${LOAD_KILLS}: detected after ${r.detectionMs} ms`);
        loadKills.push(r);
      }
    } finally {
      stopHogs();
    }
    const deathsAtEnd = (await Promise.all(cluster.nodes.map(failureMetrics))).map((m) => m.deaths_total ?? 0);
    return {
      store, nodes: NODES,
      kills: { runs: kills, detectionMs: stats(kills.map((r) => r.detectionMs)) },
      busy,
      killsUnderLoad: { hogs: HOGS, runs: loadKills, detectionMs: stats(loadKills.map((r) => r.detectionMs)) },
      deathsCountedByLiveNodesAtEnd: deathsAtEnd,
    };
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const runs = [await runStore(false), await runStore(true)];
  const result = {
    benchmark: 'failure-detection', date: started.toISOString(), quick: QUICK,
    config: { nodes: NODES, kills: KILLS, loadKills: LOAD_KILLS, busySeconds: BUSY_S, hogs: HOGS, pollMs: POLL_MS,
      heartbeatMs: 250, failureTimeoutMs: 3000, note: 'CLI defaults; detection times include the view poll (every 20 ms) and one HTTP round trip' },
    runs, environment: environment(),
  };
  await mkdir(RESULTS, { recursive: true });
  const file = join(RESULTS, `failure-detection-${started.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  const rows = runs.flatMap((r) => [
    [r.store, 'kill -9, idle', String(r.kills.detectionMs.n), fmt(r.kills.detectionMs.p50, 0), fmt(r.kills.detectionMs.p90, 0), fmt(r.kills.detectionMs.max, 0), '-'],
    [r.store, `kill -9, ${HOGS} CPU hogs`, String(r.killsUnderLoad.detectionMs.n), fmt(r.killsUnderLoad.detectionMs.p50, 0),
      fmt(r.killsUnderLoad.detectionMs.p90, 0), fmt(r.killsUnderLoad.detectionMs.max, 0), '-'],
    [r.store, `${r.busy!.stalls} stalls <= ${r.busy!.longestStallMs} ms + hogs`, '-', '-', '-', '-', String(r.busy!.falseDeaths)],
  ]);
  process.stdout.write(`${renderTable(['store', 'phase', 'kills', 'p50 ms', 'p90 ms', 'max ms', 'false deaths'], rows)}\n`);
  log(`wrote ${file}`);
}

runMain(main, { log, killAll: () => { if (children.size) killChildren(); }, hardStopMs: 30 * 60_000 });
