/**
 * What two copies cost. For each store (the default data dir, and --data :memory:) and each --min-copies (2 = ack
 * after the owner's and the replica's durable copies, 1 = after the owner's own), one run on a fresh 3-node CLI
 * cluster on loopback:
 *   - publish latency: one publish at a time (REST, keep-alive) to the channel's owner node and, separately, to a
 *     node that forwards it to the owner: p50/p90/p99/max over the run;
 *   - publish throughput: 64 publishes in flight through random nodes over 24 channels for a fixed time;
 *   - inter-node bytes and frames per publish (deltas of hashpub_peer_bytes_total / hashpub_peer_frames_total with
 *     direction "out", summed over the nodes, split by kind: repl = replication, owner = forwarded requests);
 *   - replication frames per publish (hashpub_replication_frames_total{kind="append"}): batching shows as < 1.
 * Results: bench/results/replication-cost-<date>.json and a table on stdout.
 * Run: npm run build && node dist/bench/replication-cost.js [--quick]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { HashpubCluster, type NodeProc } from './hashpub-cluster.js';
import { Histogram } from './support/histogram.js';
import { environment, runMain } from './support/main.js';
import { round } from './support/phases.js';
import { killChildren, track } from './support/proc.js';
import { renderTable } from './support/table.js';

const BIN = fileURLToPath(new URL('../bin/hashpub.js', import.meta.url));
const API_KEY = 'bench-api-key';
const QUICK = process.argv.includes('--quick');
const LATENCY_PUBLISHES = QUICK ? 300 : 2000;
const THROUGHPUT_MS = QUICK ? 3000 : 10_000;
const CONCURRENCY = 64;
const CHANNELS = 24;
const log = (msg: string) => process.stdout.write(`[replication-cost] ${msg}\n`);

interface Traffic { bytes: Record<string, number>; frames: Record<string, number>; appendFrames: number }

async function traffic(nodes: NodeProc[]): Promise<Traffic> {
  const t: Traffic = { bytes: {}, frames: {}, appendFrames: 0 };
  for (const n of nodes) {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    for (const m of text.matchAll(/^hashpub_peer_(bytes|frames)_total\{direction="out",kind="(\w+)"\} (\S+)/gm)) {
      const bucket = m[1] === 'bytes' ? t.bytes : t.frames;
      bucket[m[2]!] = (bucket[m[2]!] ?? 0) + Number(m[3]);
    }
    t.appendFrames += Number(/^hashpub_replication_frames_total\{kind="append"\} (\S+)/m.exec(text)?.[1] ?? 0);
  }
  return t;
}

function perPublish(before: Traffic, after: Traffic, publishes: number) {
  const kinds = new Set([...Object.keys(before.bytes), ...Object.keys(after.bytes)]);
  const bytes: Record<string, number> = {};
  const frames: Record<string, number> = {};
  let totalBytes = 0;
  let totalFrames = 0;
  for (const k of kinds) {
    const b = (after.bytes[k] ?? 0) - (before.bytes[k] ?? 0);
    const f = (after.frames[k] ?? 0) - (before.frames[k] ?? 0);
    bytes[k] = round(b / publishes, 1);
    frames[k] = round(f / publishes, 3);
    totalBytes += b;
    totalFrames += f;
  }
  return {
    bytesPerPublish: round(totalBytes / publishes, 1), framesPerPublish: round(totalFrames / publishes, 3), bytes, frames,
    appendFramesPerPublish: round((after.appendFrames - before.appendFrames) / publishes, 3),
  };
}

async function post(pool: Pool, channel: string, i: number): Promise<boolean> {
  const res = await pool.request({
    path: `/v1/channels/${channel}/messages`, method: 'POST',
    body: JSON.stringify({ data: { i, pad: 'x'.repeat(60) } }),
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
  });
  await res.body.text();
  return res.statusCode === 200;
}

async function ownerUrl(nodes: NodeProc[], channel: string): Promise<{ owner: NodeProc; other: NodeProc }> {
  const r = await (await fetch(`${nodes[0]!.url}/v1/channels/${channel}/owner`, { headers: { authorization: `Bearer ${API_KEY}` } })).json() as { owner: string };
  const owner = nodes.find((n) => n.id === r.owner)!;
  return { owner, other: nodes.find((n) => n !== owner)! };
}

async function latency(url: string, channel: string, count: number): Promise<ReturnType<Histogram['summary']> & { failures: number }> {
  const pool = new Pool(url, { connections: 1, pipelining: 1 });
  const h = new Histogram();
  let failures = 0;
  for (let i = 0; i < 50; i++) await post(pool, channel, -i); // warm-up: channel loaded, replica synced
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    if (await post(pool, channel, i)) h.record(performance.now() - t0);
    else failures++;
  }
  await pool.destroy();
  return { ...h.summary(), failures };
}

async function throughput(nodes: NodeProc[], ms: number): Promise<{ publishes: number; perSec: number; failures: number }> {
  const pools = nodes.map((n) => new Pool(n.url, { connections: CONCURRENCY, pipelining: 1 }));
  const end = Date.now() + ms;
  let publishes = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    for (let i = 0; Date.now() < end; i++) {
      const ok = await post(pools[(w + i) % pools.length]!, `cost-${(w * 7 + i) % CHANNELS}`, i).catch(() => false);
      if (ok) publishes++;
      else failures++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  await Promise.all(pools.map((p) => p.destroy()));
  return { publishes, perSec: round(publishes / secs, 0), failures };
}

async function runOne(store: 'level' | 'memory', minCopies: 1 | 2) {
  log(`${store} store, --min-copies ${minCopies}: starting 3 nodes`);
  const cluster = await HashpubCluster.start({
    nodes: 3, bin: BIN, apiKey: API_KEY, cpus: null, track, name: `cost-${store}-${minCopies}-${process.pid}`,
    memory: store === 'memory', extraArgs: ['--min-copies', String(minCopies)],
  });
  try {
    const nodes = cluster.nodes;
    const { owner, other } = await ownerUrl(nodes, 'cost-latency');
    const viaOwner = await latency(owner.url, 'cost-latency', LATENCY_PUBLISHES);
    const viaOther = await latency(other.url, 'cost-latency', LATENCY_PUBLISHES);
    log(`  latency via owner p50 ${viaOwner.p50} ms p99 ${viaOwner.p99} ms; via another node p50 ${viaOther.p50} ms p99 ${viaOther.p99} ms`);
    for (let c = 0; c < CHANNELS; c++) await post(new Pool(nodes[c % 3]!.url), `cost-${c}`, -1).catch(() => false);
    const before = await traffic(nodes);
    const tp = await throughput(nodes, THROUGHPUT_MS);
    const after = await traffic(nodes);
    const per = perPublish(before, after, Math.max(1, tp.publishes));
    log(`  throughput ${tp.perSec}/s (${tp.failures} failures); ${per.bytesPerPublish} B and ${per.framesPerPublish} frames between nodes per publish, ` +
      `${per.appendFramesPerPublish} replication frames per publish`);
    return { store, minCopies, latencyViaOwner: viaOwner, latencyViaOther: viaOther, throughput: tp, interNode: per, cpuAfter: cluster.usage() };
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const runs: Array<Awaited<ReturnType<typeof runOne>>> = [];
  for (const store of ['level', 'memory'] as const) {
    for (const minCopies of [2, 1] as const) runs.push(await runOne(store, minCopies));
  }
  const rows = runs.map((r) => [
    r.store, String(r.minCopies), String(r.latencyViaOwner.p50), String(r.latencyViaOwner.p99), String(r.latencyViaOther.p50),
    String(r.latencyViaOther.p99), String(r.throughput.perSec), String(r.interNode.bytesPerPublish), String(r.interNode.appendFramesPerPublish),
  ]);
  const table = renderTable(['store', 'copies', 'owner p50 ms', 'owner p99 ms', 'other p50 ms', 'other p99 ms', 'publishes/s', 'peer B/publish', 'repl frames/publish'], rows);
  process.stdout.write(`${table}\n`);
  const ratio = (store: string) => {
    const two = runs.find((r) => r.store === store && r.minCopies === 2)!;
    const one = runs.find((r) => r.store === store && r.minCopies === 1)!;
    return { p50ViaOwner: round(two.latencyViaOwner.p50! / one.latencyViaOwner.p50!, 2), p50ViaOther: round(two.latencyViaOther.p50! / one.latencyViaOther.p50!, 2),
      throughput: round(two.throughput.perSec / one.throughput.perSec, 2) };
  };
  const summary = { level: ratio('level'), memory: ratio('memory') };
  log(`two copies vs one: ${JSON.stringify(summary)}`);
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}replication-cost-${new Date().toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}.json`;
  writeFileSync(file, `${JSON.stringify({ settings: { latencyPublishes: LATENCY_PUBLISHES, throughputMs: THROUGHPUT_MS, concurrency: CONCURRENCY, channels: CHANNELS },
    runs, twoCopiesVsOne: summary, environment: environment() }, null, 2)}\n`);
  log(`saved ${file}`);
}

runMain(main, { log, killAll: killChildren, hardStopMs: 15 * 60_000 });
