/*
 * `npm run chaos`: a chaos run with an audit (issue 8, item 6). Starts a `hashpub bootstrap` and N `hashpub start`
 * CLI processes on loopback (or, with --hosts, one per host of a virtual LAN of network namespaces), runs P REST publishers (random nodes, idempotency ids, retries with the same id) and
 * S WebSocket subscribers (reconnect and resume) on C channels, and kills (-9) / pauses (STOP/CONT) random nodes
 * for K rounds (with --hosts also cuts a random host's link off the LAN, then heals it: `partition`). Then it reads every channel back and audits: acknowledged publishes lost, duplicate ids,
 * conflicting offsets, silent vs signalled gaps, configs and bans kept, failover time per fault.
 *
 *   npm run chaos -- --rounds 6 --faults kill
 *   npm run chaos -- --rounds 12 --faults kill,pause --memory
 *   npm run chaos -- --hosts --rounds 30 --faults partition,partition,kill     (root: network namespaces)
 *   npm run chaos -- --help      (every flag, see USAGE below)
 * Output: a summary table, and JSON in bench/results/chaos-<date>[-label].json (or --out). Exit code 0 when the
 * audit is clean (nothing lost, no silent gap, no duplicate, no conflict, configs and bans kept), 3 otherwise.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runMain } from '../support/main.js';
import { killChildren, track } from '../support/proc.js';
import type { Audit } from './checker.js';
import type { FaultKind } from './history.js';
import { resultJson, summaryTable } from './report.js';
import { defaultSettings, runChaos, type ChaosSettings } from './scenario.js';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench', 'results');
const FAULTS: FaultKind[] = ['kill', 'pause', 'partition'];

const log = (msg: string) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** True when the audit shows nothing a user could have been hurt by. */
export function clean(a: Audit): boolean {
  return a.lost === 0 && a.subscribers.silentGaps === 0 && a.duplicates === 0 && a.conflictingOffsets === 0 &&
    a.inconsistentAcks === 0 && a.configLost === 0 && a.bansLost === 0;
}

function parse(argv: string[]): { settings: ChaosSettings; out: string | null; label: string; saveHistory: string | null; deadlineS: number } {
  const { values } = parseArgs({
    args: argv, strict: true, options: {
      nodes: { type: 'string' }, hosts: { type: 'boolean' }, rounds: { type: 'string' }, faults: { type: 'string' }, publishers: { type: 'string' },
      subscribers: { type: 'string' }, channels: { type: 'string' }, memory: { type: 'boolean' }, rate: { type: 'string' },
      seed: { type: 'string' }, 'down-ms': { type: 'string' }, 'pause-ms': { type: 'string' }, 'settle-ms': { type: 'string' },
      'warmup-ms': { type: 'string' }, 'request-timeout-ms': { type: 'string' }, 'retry-for-ms': { type: 'string' },
      'history-size': { type: 'string' }, 'node-args': { type: 'string' }, label: { type: 'string' }, out: { type: 'string' },
      'save-history': { type: 'string' }, 'deadline-s': { type: 'string' },
    },
  });
  const s = defaultSettings();
  const int = (name: string, v: string | undefined, fallback: number, min = 0) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  const range = (name: string, v: string | undefined, fallback: [number, number]): [number, number] => {
    if (v === undefined) return fallback;
    const [a, b = a] = v.split('-').map(Number);
    if (!Number.isFinite(a) || !Number.isFinite(b) || a! < 0 || b! < a!) throw new Error(`--${name} must be MS or MIN-MAX, got ${v}`);
    return [a!, b!];
  };
  const faults = (values.faults ?? 'kill').split(',').map((f) => f.trim()) as FaultKind[];
  for (const f of faults) if (!FAULTS.includes(f)) throw new Error(`--faults: unknown fault ${f} (known: ${FAULTS.join(', ')})`);
  if (faults.includes('partition') && !values.hosts) throw new Error('--faults partition needs --hosts (links are cut on a virtual LAN of network namespaces)');
  const settings: ChaosSettings = {
    ...s,
    nodes: int('nodes', values.nodes, s.nodes, 2), hosts: values.hosts ?? false, rounds: int('rounds', values.rounds, s.rounds), faults,
    publishers: int('publishers', values.publishers, s.publishers, 1), subscribers: int('subscribers', values.subscribers, s.subscribers),
    channels: int('channels', values.channels, s.channels, 1), memory: values.memory ?? false, rate: int('rate', values.rate, s.rate),
    seed: int('seed', values.seed, s.seed), downMs: range('down-ms', values['down-ms'], s.downMs), pauseMs: range('pause-ms', values['pause-ms'], s.pauseMs),
    settleMs: int('settle-ms', values['settle-ms'], s.settleMs), warmupMs: int('warmup-ms', values['warmup-ms'], s.warmupMs),
    requestTimeoutMs: int('request-timeout-ms', values['request-timeout-ms'], s.requestTimeoutMs, 1),
    retryForMs: int('retry-for-ms', values['retry-for-ms'], s.retryForMs), historySize: int('history-size', values['history-size'], s.historySize, 1),
    nodeArgs: values['node-args']?.split(/\s+/).filter(Boolean) ?? [],
  };
  if (settings.historySize > 10_000) throw new Error('--history-size must be at most 10000 (the server\'s limit)');
  return {
    settings, out: values.out ?? null, label: values.label ?? '', saveHistory: values['save-history'] ?? null,
    deadlineS: int('deadline-s', values['deadline-s'], 180 + 90 * settings.rounds, 1),
  };
}

const USAGE = `npm run chaos -- [flags]   (or: node dist/bench/chaos/run.js [flags])
  --nodes 3              hashpub start processes (plus one hashpub bootstrap)
  --hosts                one node per host of a virtual LAN (Linux network namespaces on a bridge; needs root)
  --rounds 6             fault rounds
  --faults kill          kinds used in turn: kill (kill -9, restart on the same data dir and port), pause (SIGSTOP/SIGCONT),
                         partition (--hosts only: a host's link cut for --pause-ms, then healed; the node keeps running)
  --publishers 8         REST publishers (random channel, random node, retries with the same id)
  --subscribers 4        WebSocket subscribers on every channel (reconnect and resume)
  --channels 24          channels chaos-0 .. chaos-N-1
  --memory               nodes run with --data :memory: (a restarted node comes back empty)
  --rate 0               publishes/s over all publishers (0: as fast as answers come)
  --seed 1               seeds the nemesis's choices
  --down-ms 2000-4000    a killed node stays down this long (and until the probe's first ack)
  --pause-ms 4000-6000   a paused node stays stopped (a cut host stays cut off) this long
  --settle-ms 2000  --warmup-ms 2000  --request-timeout-ms 3000  --retry-for-ms 30000  --history-size 10000
  --node-args "..."      more flags for every hashpub start (e.g. "--min-copies 1")
  --label NAME  --out FILE  --save-history FILE (the whole history and read-back, for digging)
  --deadline-s N         hard stop (default 180 + 90 per round): every child is killed, exit 2
Exit code: 0 when the audit is clean, 3 when it is not, 1 on an error.`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

let opts: ReturnType<typeof parse>;
try {
  opts = parse(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`chaos: ${(err as Error).message}\n${USAGE}\n`);
  process.exit(64);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    log(`${sig}: killing every child process`);
    killChildren();
    process.exit(130);
  });
}

runMain(async () => {
  const { settings, label } = opts;
  log(`settings: ${JSON.stringify(settings)}`);
  const result = await runChaos(settings, { log, track, progressEverySec: 5 });
  process.stdout.write(`\n${summaryTable(result.audit, settings.channels, result.history)}\n\n`);
  log(`load ${Math.round(result.loadMs / 1000)} s, ${Math.round((result.history.acks.length / Math.max(1, result.loadMs)) * 1000)} acks/s; ` +
    `this process used ${result.harnessCpuPercent}% of one core${result.harnessCpuPercent > 85 ? ' (the load client may be the limit)' : ''}`);
  const stamp = new Date().toISOString().slice(0, 16).replace(':', '');
  const file = opts.out ?? join(RESULTS, `chaos-${stamp}${label ? `-${label}` : ''}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(resultJson(result, settings, label), null, 2) + '\n');
  log(`saved ${file}`);
  if (opts.saveHistory) {
    await writeFile(opts.saveHistory, JSON.stringify({ history: result.history, readBack: result.readBack }));
    log(`saved the full history and read-back to ${opts.saveHistory}`);
  }
  if (!clean(result.audit)) {
    log('audit: NOT clean (see the table)');
    process.exitCode = 3;
  }
}, { log, killAll: killChildren, hardStopMs: opts.deadlineS * 1000 });
