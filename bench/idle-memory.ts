/*
 * Idle node memory (issue 10, item 3): what one idle `hashpub start` process costs. Runs `hashpub cluster --nodes N`
 * (the CLI, default settings, its own in-process DHT bootstrap on loopback, a temp data dir or --memory), waits until
 * the cluster formed and then --settle seconds, and records for every node process:
 *   - from /proc/<pid>/status: VmRSS, RssAnon (this process's own pages), RssFile (mostly the node binary's text,
 *     shared by every node process on the machine), and from /proc/<pid>/smaps_rollup: Pss (RSS with shared pages
 *     divided among the processes sharing them);
 *   - from GET /metrics (hashpub_process_memory_bytes): V8 heap total/used, external, array buffers;
 *   - CPU (user+sys) of the node over a --cpu window while idle (heartbeats, timers).
 * A bare `node` process idle for the same settle time is measured too (the floor no setting can go below).
 * Writes bench/results/idle-memory-<date>[-<label>].json and prints the averages.
 *
 *   npx tsc -p tsconfig.json && flock /tmp/hashpub-heavy.lock node dist/bench/idle-memory.js [--nodes=16] [--settle=20]
 *     [--cpu=20] [--memory] [--label=x] [--node-options='--flag ...'] (extra NODE_OPTIONS for the node processes)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { environment } from './support/main.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const NODES = Number(flag('nodes') ?? 16);
const SETTLE_S = Number(flag('settle') ?? 20);
const CPU_S = Number(flag('cpu') ?? 20);
const MEMORY = argv.includes('--memory');
const LABEL = flag('label');
const NODE_OPTIONS = flag('node-options') ?? '';
const DEADLINE_MS = 5 * 60_000 + (SETTLE_S + CPU_S) * 1000;

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = resolve(here, '../..');
const BIN = join(root, 'dist/bin/hashpub.js');
const log = (msg: string) => process.stderr.write(`[idle-memory ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const KB = 1024;
const mb = (bytes: number) => Math.round(bytes / 1048576 * 10) / 10;

interface ProcMem { rss: number; rssAnon: number; rssFile: number; pss: number; pssAnon: number }

/** Bytes from /proc/<pid>/status and smaps_rollup. */
function procMem(pid: number): ProcMem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * KB;
  return {
    rss: field(status, 'VmRSS'), rssAnon: field(status, 'RssAnon'), rssFile: field(status, 'RssFile'),
    pss: field(rollup, 'Pss'), pssAnon: field(rollup, 'Pss_Anon'),
  };
}

/** utime+stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // fields 14 and 15 of stat; USER_HZ is 100 on Linux
}

async function v8Memory(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^hashpub_process_memory_bytes\{kind="(\w+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

const avg = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

/** A bare node process (no modules loaded) after the same settle: the floor. */
async function bareNode(): Promise<ProcMem> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS } });
  try {
    await sleep(Math.min(SETTLE_S, 5) * 1000);
    return procMem(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const base = MEMORY ? ':memory:' : mkdtempSync(join(tmpdir(), 'hashpub-idle-'));
  const env = { ...process.env, NODE_OPTIONS, HASHPUB_LOG_LEVEL: 'warn' };
  log(`starting a ${NODES}-node cluster (data ${base}${NODE_OPTIONS ? `, NODE_OPTIONS=${NODE_OPTIONS}` : ''})`);
  const cluster: ChildProcess = spawn(process.execPath, [BIN, 'cluster', '--nodes', String(NODES), '--port', '0', '--data', base,
    '--allow-anonymous', '--timeout', '180'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  const nodes: { index: number; url: string; pid: number }[] = [];
  const killAll = () => {
    for (const n of nodes) try { process.kill(n.pid, 'SIGKILL'); } catch { /* gone */ }
    try { process.kill(-cluster.pid!, 'SIGKILL'); } catch { /* gone */ }
  };
  process.on('exit', () => { killAll(); if (!MEMORY) rmSync(base, { recursive: true, force: true }); });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const hard = setTimeout(() => { log('deadline passed'); process.exit(2); }, DEADLINE_MS);
  hard.unref();
  createInterface({ input: cluster.stderr! }).on('line', (l) => process.stderr.write(`[cluster] ${l}\n`));
  const formed = new Promise<void>((res, rej) => {
    cluster.once('exit', (code) => rej(new Error(`hashpub cluster exited (${code}) before the cluster formed`)));
    createInterface({ input: cluster.stdout! }).on('line', (line) => {
      const m = /^node (\d+)\/\d+ ready at (\S+) \(pid (\d+)\)/.exec(line);
      if (m) nodes.push({ index: Number(m[1]), url: m[2]!, pid: Number(m[3]) });
      if (line.startsWith('cluster formed')) res();
    });
  });
  const t0 = Date.now();
  await formed;
  const formedS = (Date.now() - t0) / 1000;
  log(`cluster formed in ${formedS.toFixed(1)} s; settling ${SETTLE_S} s`);
  await sleep(SETTLE_S * 1000);
  const cpu0 = nodes.map((n) => cpuSeconds(n.pid));
  await sleep(CPU_S * 1000);
  const cpu1 = nodes.map((n) => cpuSeconds(n.pid));
  const per = await Promise.all(nodes.sort((a, b) => a.index - b.index).map(async (n, i) => ({
    node: n.index, pid: n.pid, ...procMem(n.pid), v8: await v8Memory(n.url),
    cpuPercent: Math.round((cpu1[i]! - cpu0[i]!) / CPU_S * 1000) / 10,
  })));
  const bare = await bareNode();
  cluster.kill('SIGTERM');
  await Promise.race([new Promise((r) => cluster.once('exit', r)), sleep(15_000)]);
  killAll();

  const mean = (pick: (p: (typeof per)[number]) => number | undefined) => mb(avg(per.map((p) => pick(p) ?? NaN)));
  const summary = {
    rssMB: mean((p) => p.rss), rssAnonMB: mean((p) => p.rssAnon), rssFileMB: mean((p) => p.rssFile), pssMB: mean((p) => p.pss),
    heapTotalMB: mean((p) => p.v8.heap_total), heapUsedMB: mean((p) => p.v8.heap_used), externalMB: mean((p) => p.v8.external),
    arrayBuffersMB: mean((p) => p.v8.array_buffers), cpuPercent: Math.round(avg(per.map((p) => p.cpuPercent)) * 100) / 100,
    bareNodeRssMB: mb(bare.rss), bareNodeRssAnonMB: mb(bare.rssAnon),
  };
  const result = {
    bench: 'idle-memory', date: new Date().toISOString(), label: LABEL ?? null,
    config: { nodes: NODES, settleS: SETTLE_S, cpuWindowS: CPU_S, data: MEMORY ? ':memory:' : 'temp dir', nodeOptions: NODE_OPTIONS, formedS },
    summary, nodes: per.map((p) => ({ ...p, rss: undefined, rssMB: mb(p.rss), rssAnonMB: mb(p.rssAnon), rssFileMB: mb(p.rssFile), pssMB: mb(p.pss),
      pssAnon: undefined, rssAnon: undefined, rssFile: undefined, pss: undefined })),
    environment: environment(),
  };
  const file = join(root, 'bench/results', `idle-memory-${result.date.slice(0, 10)}${LABEL ? `-${LABEL}` : ''}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\nwritten ${file}\n`);
}

main().then(() => process.exit(0), (err) => { log(`fatal: ${String((err as Error)?.stack ?? err)}`); process.exit(1); });
