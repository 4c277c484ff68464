/*
 * Replication choice (issue 8): Hypercore/Corestore against primary-backup over `level`, measured on this machine.
 * Writer (channel owner) and reader (replica) run in separate processes (bench/replication/peer.ts) joined by one
 * real hyperswarm connection found through a loopback DHT bootstrap (lib/cluster/bootstrap.ts startBootstrap).
 * Backends: hypercore (one core per channel in one corestore, live download, ack = the core's
 * remote-contiguous-length reaching the appended length, i.e. the reader announced it wrote them; one block per
 * entry so block index = channel offset), hypercore-1block (the same with one block per commit), pb-level
 * (a minimal primary-backup prototype: group commit, one chained batch on each side per round, one frame per round
 * over the connection, ack when both copies are written; sync: false as the product's default), pb-level-fsync
 * (the same with sync: true on both sides) and pb-memory (a Map on both sides: the `--data :memory:` floor).
 * Entries are ~200-byte JSON strings. For each backend:
 *   1. ack latency, one batch at a time over 64 channels, batch sizes 1/10/100: time from append()/commit() until
 *      the writer knows the reader holds the entries (p50/p99), and until the local copy alone is written;
 *   2. pipelined load: 64 channels x 4 batches in flight each, 3 s per batch size -> acked entries/s, ack p50/p99,
 *      CPU of both processes per 1,000 entries;
 *   3. cost per channel, in fresh processes: stats with no channel, then open 1,000 channels on both sides
 *      (hypercore: 1,000 cores in one corestore each), append one entry to each and wait for every ack; RSS/heap/
 *      open files of both processes (after a forced GC) and bytes on disk; --channels=1000,10000 adds 10,000.
 * Then: fsync counts (strace -f -c) of a writer appending 2,000 single-entry batches with hypercore and with level,
 * and the fencing experiments of bench/replication/fencing.ts (in one process, corestores piped to each other).
 * Writes bench/results/replication-choice-<YYYY-MM-DD>.json and bench/results/replication-choice.md.
 *
 *   npm run bench:replication-choice [-- --quick] [-- --channels=1000,10000] [-- --only=hypercore,pb-level]
 *   node dist/bench/replication-choice.js --render=replication-choice-<date>.json   (only rewrites the .md)
 */
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBootstrap } from '../lib/cluster/bootstrap.js';
import { environment, runMain } from './support/main.js';
import { Peer, killChildren } from './support/proc.js';
import { fmt, renderTable } from './support/table.js';
import { fencingExperiments, type FencingResult } from './replication/fencing.js';
import type { Mode, PeerCommand, PeerEvent, PeerStats } from './replication/peer.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PEER = join(HERE, 'replication', 'peer.js');
const RESULTS = resolve(HERE, '..', '..', 'bench', 'results');
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const QUICK = process.argv.includes('--quick');
const MODES = (arg('only')?.split(',') ?? ['hypercore', 'hypercore-1block', 'pb-level', 'pb-level-fsync', 'pb-memory']) as Mode[];
const SCALE = (arg('channels') ?? '1000').split(',').map(Number);
const BATCHES = [1, 10, 100];
const LAT_CHANNELS = 64;
const ITER: Record<number, number> = QUICK ? { 1: 200, 10: 200, 100: 100 } : { 1: 1000, 10: 1000, 100: 400 };
const TP_MS = QUICK ? 1500 : 3000;
const log = (m: string) => console.error(`[replication-choice] ${m}`);

type Ev = PeerEvent;
const is = <K extends Ev['ev']>(k: K) => (m: Ev): m is Extract<Ev, { ev: K }> => m.ev === k || m.ev === 'fatal';
async function ask<K extends Ev['ev']>(p: Peer<Ev>, c: PeerCommand, k: K, timeoutMs = 300_000): Promise<Extract<Ev, { ev: K }>> {
  p.send(c);
  const m = await p.next(is(k), timeoutMs, `${c.cmd} -> ${k}`);
  if (m.ev === 'fatal') throw new Error(`${p.name}: ${(m as { error: string }).error}`);
  return m as Extract<Ev, { ev: K }>;
}

function duBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  try { return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]); } catch { return -1; }
}
function fileCount(dir: string): number {
  if (!existsSync(dir)) return 0;
  try { return Number(execFileSync('sh', ['-c', `find "${dir}" -type f | wc -l`], { encoding: 'utf8' }).trim()); } catch { return -1; }
}

interface ScaleResult {
  channels: number; openMs: number; fillMs: number; before: { writer: PeerStats; reader: PeerStats }; writer: PeerStats; reader: PeerStats;
  perChannel: { writerHeapKB: number; writerRssKB: number; readerHeapKB: number; readerRssKB: number; writerFds: number; readerFds: number };
  writerDiskBytes: number; readerDiskBytes: number; writerFiles: number; readerFiles: number;
}
interface ModeResult {
  mode: Mode;
  connectMs: number;
  latency: Array<{ batch: number; ack: unknown; local: unknown }>;
  throughput: Array<{ batch: number; entriesPerSec: number; batchesPerSec: number; rounds: number | null; ack: unknown; writerCpuMsPer1k: number; readerCpuMsPer1k: number }>;
  scale: ScaleResult[];
}

/** A writer and a reader process of `mode`, connected over hyperswarm; `open` opens channels on both sides. */
async function withPair<T>(mode: Mode, bootstrapPort: number, fn: (p: { writer: Peer<Ev>; reader: Peer<Ev>; root: string; connectMs: number;
  open(from: number, count: number): Promise<void>; stats(): Promise<{ writer: PeerStats; reader: PeerStats }> }) => Promise<T>): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), `hashpub-repl-${mode}-`));
  const topic = randomBytes(32).toString('hex');
  const spawn = (role: 'writer' | 'reader') => new Peer<Ev>(`${mode} ${role}`, fork(PEER, [mode, role, join(root, role), String(bootstrapPort), topic], {
    execArgv: ['--expose-gc', '--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  }));
  const writer = spawn('writer');
  let reader: Peer<Ev> | null = null;
  try {
    await writer.next(is('ready'), 30_000, 'ready');
    const t0 = Date.now();
    reader = spawn('reader');
    const r = reader;
    await Promise.all([writer.next(is('connected'), 60_000, 'connected'), r.next(is('connected'), 60_000, 'connected')]);
    const connectMs = Date.now() - t0;
    const open = async (from: number, count: number) => {
      const { keys } = await ask(writer, { cmd: 'open', from, count }, 'opened', 900_000);
      await ask(r, { cmd: 'open', from, count, keys }, 'opened', 900_000);
      await ask(writer, { cmd: 'wait-peers' }, 'ok');
    };
    const stats = async () => ({ writer: (await ask(writer, { cmd: 'stats' }, 'stats')).stats, reader: (await ask(r, { cmd: 'stats' }, 'stats')).stats });
    const out = await fn({ writer, reader: r, root, connectMs, open, stats });
    await Promise.all([writer.stop({ cmd: 'exit' }, 10_000), r.stop({ cmd: 'exit' }, 10_000)]);
    return out;
  } finally {
    await Promise.all([writer.stop({ cmd: 'exit' }, 5000), reader?.stop({ cmd: 'exit' }, 5000)]);
    rmSync(root, { recursive: true, force: true });
  }
}

async function runMode(mode: Mode, bootstrapPort: number): Promise<ModeResult> {
  const out = await withPair(mode, bootstrapPort, async ({ writer, connectMs, open, stats }) => {
    await open(0, LAT_CHANNELS);
    const res: ModeResult = { mode, connectMs, latency: [], throughput: [], scale: [] };
    for (const batch of BATCHES) {
      const r = await ask(writer, { cmd: 'latency', batch, iterations: ITER[batch]!, warmup: 50, channels: LAT_CHANNELS }, 'latency');
      res.latency.push({ batch, ack: r.ack, local: r.local });
      log(`${mode} latency batch ${batch}: ack p50 ${r.ack.p50} p99 ${r.ack.p99} ms (local p50 ${r.local.p50})`);
    }
    for (const batch of BATCHES) {
      const s0 = await stats();
      const r = await ask(writer, { cmd: 'throughput', batch, channels: LAT_CHANNELS, window: 4, durationMs: TP_MS }, 'throughput');
      const s1 = await stats();
      const cpu = (a: PeerStats, b: PeerStats) => Math.round(((b.cpuUserMs + b.cpuSystemMs - a.cpuUserMs - a.cpuSystemMs) / (r.entries / 1000)) * 10) / 10;
      res.throughput.push({
        batch, entriesPerSec: Math.round(r.entries / (r.elapsedMs / 1000)), batchesPerSec: Math.round(r.batches / (r.elapsedMs / 1000)),
        rounds: r.rounds, ack: r.ack, writerCpuMsPer1k: cpu(s0.writer, s1.writer), readerCpuMsPer1k: cpu(s0.reader, s1.reader),
      });
      log(`${mode} throughput batch ${batch}: ${res.throughput.at(-1)!.entriesPerSec} entries/s, ack p50 ${r.ack.p50} p99 ${r.ack.p99} ms`);
    }
    return res;
  });
  for (const n of SCALE) out.scale.push(await runScale(mode, n, bootstrapPort));
  return out;
}

/** Fresh processes: stats with no channel, then n channels opened on both sides and one entry acked on each. */
async function runScale(mode: Mode, n: number, bootstrapPort: number): Promise<ScaleResult> {
  return withPair(mode, bootstrapPort, async ({ writer, root, open, stats }) => {
    const before = await stats();
    const t0 = Date.now();
    await open(0, n);
    const openMs = Date.now() - t0;
    const { ms } = await ask(writer, { cmd: 'fill', channels: n, concurrency: 256 }, 'ok', 900_000);
    const after = await stats();
    const kb = (a: number, b: number) => Math.round(((b - a) * 1024 / n) * 10) / 10;
    const s: ScaleResult = {
      channels: n, openMs, fillMs: Math.round(ms), before, writer: after.writer, reader: after.reader,
      perChannel: {
        writerHeapKB: kb(before.writer.heapUsedMB, after.writer.heapUsedMB), writerRssKB: kb(before.writer.rssMB, after.writer.rssMB),
        readerHeapKB: kb(before.reader.heapUsedMB, after.reader.heapUsedMB), readerRssKB: kb(before.reader.rssMB, after.reader.rssMB),
        writerFds: Math.round(((after.writer.openFds - before.writer.openFds) / n) * 1000) / 1000,
        readerFds: Math.round(((after.reader.openFds - before.reader.openFds) / n) * 1000) / 1000,
      },
      writerDiskBytes: duBytes(join(root, 'writer')), readerDiskBytes: duBytes(join(root, 'reader')),
      writerFiles: fileCount(join(root, 'writer')), readerFiles: fileCount(join(root, 'reader')),
    };
    log(`${mode} ${n} channels: open ${openMs} ms, fill ${s.fillMs} ms; per channel writer heap ${s.perChannel.writerHeapKB} KB rss ${s.perChannel.writerRssKB} KB, ` +
      `reader heap ${s.perChannel.readerHeapKB} KB rss ${s.perChannel.readerRssKB} KB; fds w/r ${after.writer.openFds}/${after.reader.openFds}`);
    return s;
  });
}

/** fsync-family syscalls of a process appending 2,000 single-entry batches locally (strace -f -c), or null. */
function fsyncProbe(kind: 'hypercore' | 'level' | 'level-sync'): { appends: number; syscalls: Record<string, number> } | null {
  if (spawnSync('strace', ['-V']).status !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), `hashpub-fsync-${kind}-`));
  const out = join(dir, 'strace.txt');
  try {
    const r = spawnSync('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync,sync_file_range,syncfs', '-o', out,
      process.execPath, join(HERE, 'replication', 'fsync-probe.js'), kind, join(dir, 'db'), '2000'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`fsync probe ${kind} failed: ${r.stderr}`);
    const syscalls: Record<string, number> = {};
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
      if (m && m[2] !== 'total') syscalls[m[2]!] = Number(m[1]);
    }
    return { appends: 2000, syscalls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function versions(): Record<string, string> {
  const v: Record<string, string> = {};
  for (const p of ['hypercore', 'corestore', 'hypercore-storage', 'rocksdb-native', 'hyperswarm', 'hyperdht', 'level', 'classic-level']) {
    const f = resolve(HERE, '..', '..', 'node_modules', p, 'package.json');
    if (existsSync(f)) v[p] = (JSON.parse(readFileSync(f, 'utf8')) as { version: string }).version;
  }
  return v;
}

type FsyncProbe = ReturnType<typeof fsyncProbe>;
interface Results {
  date: string; quick: boolean; versions: Record<string, string>; environment: ReturnType<typeof environment>;
  modes: ModeResult[]; fsync: Record<string, FsyncProbe>; fencing: FencingResult[];
}

/** Key ratios, computed from this run (nothing here is typed in by hand). */
function summary(r: Results): string {
  const mode = (m: Mode) => r.modes.find((x) => x.mode === m);
  const tp = (m: Mode, b: number) => mode(m)?.throughput.find((t) => t.batch === b);
  const lat = (m: Mode, b: number) => (mode(m)?.latency.find((l) => l.batch === b)?.ack as { p50: number } | undefined)?.p50;
  const big = (m: Mode) => mode(m)?.scale.at(-1);
  const lines: string[] = [];
  const x = (a: number | undefined, b: number | undefined) => (a && b ? `${fmt(a / b, 1)}x` : '-');
  for (const b of BATCHES) {
    lines.push(`- batch ${b}: ack p50 hypercore ${fmt(lat('hypercore', b), 2)} ms / hypercore-1block ${fmt(lat('hypercore-1block', b), 2)} ms / pb-level ${fmt(lat('pb-level', b), 2)} ms` +
      ` (hypercore ${x(lat('hypercore', b), lat('pb-level', b))} pb-level); pipelined entries/s hypercore ${tp('hypercore', b)?.entriesPerSec ?? '-'} / hypercore-1block ${tp('hypercore-1block', b)?.entriesPerSec ?? '-'}` +
      ` / pb-level ${tp('pb-level', b)?.entriesPerSec ?? '-'} (pb-level ${x(tp('pb-level', b)?.entriesPerSec, tp('hypercore', b)?.entriesPerSec)} hypercore).`);
  }
  const h = big('hypercore');
  const l = big('pb-level');
  if (h && l) {
    lines.push(`- ${h.channels} channels: hypercore RSS ${fmt(h.writer.rssMB, 0)}/${fmt(h.reader.rssMB, 0)} MB (writer/reader), ~${fmt(h.perChannel.writerRssKB, 0)}/${fmt(h.perChannel.readerRssKB, 0)} KB and ` +
      `${fmt(h.perChannel.writerHeapKB, 0)}/${fmt(h.perChannel.readerHeapKB, 0)} KB heap per channel, opening them took ${fmt(h.openMs / 1000, 1)} s; pb-level ${fmt(l.writer.rssMB, 0)}/${fmt(l.reader.rssMB, 0)} MB. ` +
      `Open files do not grow with channels on either (one RocksDB per corestore: ${h.writer.openFds} fds; level: ${l.writer.openFds}).`);
  }
  const f = r.fsync;
  if (f.hypercore && f['level-sync']) {
    const n = (p: FsyncProbe) => Object.values(p?.syscalls ?? {}).reduce((a, b) => a + b, 0);
    lines.push(`- fsync-family syscalls for ${f.hypercore.appends} appends: hypercore ${n(f.hypercore)}, level sync:false ${n(f.level)}, level sync:true ${n(f['level-sync'])}: ` +
      'hypercore never fsyncs an append (rocksdb-native passes no write options; RocksDB\'s default is sync: false).');
  }
  return lines.join('\n');
}

function markdown(file: string, r: Results): string {
  const s = (h: unknown, k: 'p50' | 'p99') => fmt((h as Record<string, number | null>)[k], 2);
  const lat = renderTable(['backend', 'batch', 'ack p50 ms', 'ack p99 ms', 'local-only p50 ms', 'local-only p99 ms'],
    r.modes.flatMap((m) => m.latency.map((l) => [m.mode, String(l.batch), s(l.ack, 'p50'), s(l.ack, 'p99'), s(l.local, 'p50'), s(l.local, 'p99')])));
  const tp = renderTable(['backend', 'batch', 'acked entries/s', 'batches/s', 'rounds/s (hypercore: appends/s)', 'ack p50 ms', 'ack p99 ms', 'writer CPU ms/1k entries', 'reader CPU ms/1k entries'],
    r.modes.flatMap((m) => m.throughput.map((t) => [m.mode, String(t.batch), String(t.entriesPerSec), String(t.batchesPerSec), t.rounds === null ? '-' : String(Math.round(t.rounds / (TP_MS / 1000))),
      s(t.ack, 'p50'), s(t.ack, 'p99'), fmt(t.writerCpuMsPer1k, 1), fmt(t.readerCpuMsPer1k, 1)])));
  const sc = renderTable(['backend', 'channels', 'open ms', 'fill ms', 'writer heap KB/ch', 'writer RSS KB/ch', 'reader heap KB/ch', 'reader RSS KB/ch',
    'fds w/r (0 ch)', 'fds w/r', 'RSS MB w/r', 'disk files w/r', 'disk MB w/r'],
  r.modes.flatMap((m) => m.scale.map((x) => [m.mode, String(x.channels), String(x.openMs), String(x.fillMs), fmt(x.perChannel.writerHeapKB, 1), fmt(x.perChannel.writerRssKB, 1),
    fmt(x.perChannel.readerHeapKB, 1), fmt(x.perChannel.readerRssKB, 1), `${x.before.writer.openFds}/${x.before.reader.openFds}`, `${x.writer.openFds}/${x.reader.openFds}`,
    `${fmt(x.writer.rssMB, 0)}/${fmt(x.reader.rssMB, 0)}`, `${x.writerFiles}/${x.readerFiles}`, `${fmt(x.writerDiskBytes / 1048576, 1)}/${fmt(x.readerDiskBytes / 1048576, 1)}`])));
  const fs = renderTable(['storage', 'appends', 'fsync', 'fdatasync', 'sync_file_range'], Object.entries(r.fsync).map(([k, p]) =>
    [k, String(p?.appends ?? '-'), String(p?.syscalls.fsync ?? 0), String(p?.syscalls.fdatasync ?? 0), String(p?.syscalls.sync_file_range ?? 0)]));
  const fen = r.fencing.map((f) => `- **${f.name}**: ${f.observed}`).join('\n');
  const v = Object.entries(r.versions).map(([k, ver]) => `${k} ${ver}`).join(', ');
  const e = r.environment;
  return `# Replication choice: Hypercore vs primary-backup over level\n\n` +
    `Generated by \`npm run bench:replication-choice\` (bench/replication-choice.ts) on ${r.date.slice(0, 16)} UTC${r.quick ? ' (quick)' : ''}. Raw data: [${file}](${file}).\n` +
    `${e.cpuModel} x${e.cores}, Node ${e.node}, load average at the end ${e.loadavgAtEnd.join(' ')} (a shared machine: compare rows of one run, not runs). Versions: ${v}.\n\n` +
    `Writer (owner) and reader (replica) in separate processes over one hyperswarm connection (loopback DHT bootstrap); ~200-byte JSON ` +
    `entries; 64 channels. Ack = the writer knows the reader has written the entries to its storage. hypercore: one block per entry ` +
    `(block index = channel offset), group commit per core; hypercore-1block: one block per commit; pb-*: the primary-backup prototype ` +
    `(one chained batch per side and one frame per round across all channels).\n\n## Summary\n\n${summary(r)}\n\n` +
    `## Ack latency, one batch at a time\n\n${lat}\n\n## Pipelined: 64 channels x 4 batches in flight\n\n${tp}\n\n` +
    `## Cost per channel: fresh processes, N channels opened on both sides, one entry acked on each\n\n` +
    `After a forced GC; per channel = (after - before) / N. pb-*: only the prototype's replication state, not hashpub's channel state (which both designs have).\n\n${sc}\n\n` +
    `## fsync-family syscalls (strace -f -c), single-entry appends, one process, open to close\n\n${fs}\n\n` +
    `## Fencing experiments (hypercore, one process, two corestores piped together)\n\n${fen}\n`;
}

async function main(): Promise<void> {
  const render = arg('render');
  if (render) {
    const r = JSON.parse(readFileSync(join(RESULTS, render), 'utf8')) as Results;
    await writeFile(join(RESULTS, 'replication-choice.md'), markdown(render, r));
    log(`rendered bench/results/replication-choice.md from ${render}`);
    return;
  }
  const bootstrap = await startBootstrap('127.0.0.1', 0);
  const modes: ModeResult[] = [];
  try {
    for (const mode of MODES) {
      log(`--- ${mode}`);
      modes.push(await runMode(mode, bootstrap.port));
    }
  } finally {
    await bootstrap.close();
  }
  log('fsync probes');
  const fsync = { hypercore: fsyncProbe('hypercore'), level: fsyncProbe('level'), 'level-sync': fsyncProbe('level-sync') };
  log('fencing experiments');
  const fencing = await fencingExperiments();
  for (const f of fencing) log(`${f.name}: ${f.observed}`);
  const results: Results = { date: new Date().toISOString(), quick: QUICK, versions: versions(), environment: environment(), modes, fsync, fencing };
  const file = `replication-choice-${results.date.slice(0, 10)}${QUICK ? '-quick' : ''}.json`;
  await mkdir(RESULTS, { recursive: true });
  await writeFile(join(RESULTS, file), JSON.stringify(results, null, 1) + '\n');
  await writeFile(join(RESULTS, 'replication-choice.md'), markdown(file, results));
  log(`wrote bench/results/${file} and bench/results/replication-choice.md`);
}

runMain(main, { log, killAll: killChildren, hardStopMs: 60 * 60_000 });
