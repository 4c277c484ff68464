/*
 * Reconnect-storm benchmark (issue #10, item 5). A CLI cluster on loopback (bench/hashpub-cluster.ts: one
 * `hashpub bootstrap`, explicit bootstrap for every node): node A holds CLIENTS WebSocket clients, node B is
 * where they go, node C is an idle witness that only watches B's heartbeats (and keeps a majority when A is
 * gone: with two nodes, the survivor alone is no majority and refuses writes). The clients run in PROCS child
 * processes, each under ulimit -n 20000 and bound to its own 127.0.0.x: by default lean clients (bench/clients/
 * lean-storm-clients.ts: bare sockets with the official client's reconnect rule, nextTry from lib/client), with
 * --client official full lib/client instances (storm-clients.ts, 1.3-1.5 cores for 18,000 of them). Every client
 * is subscribed to PER_CLIENT of CHANNELS channels, with URLs [A, B] ([A, B, C] / [A, C, B] with --spread).
 * A publisher posts one message per channel every PUBLISH_MS through B. Then A is killed with SIGKILL and the
 * clients run the client's reconnect algorithm to B (or B and C) and resume.
 * Reported: clients resumed, p50/p99/max time from the kill to resumed (connected and every subscription
 * subscribed again), failed attempts, busy refusals (client side and B's hashpub_accept_refused_total), silent
 * gaps (offsets that jump without an announced gap: must be 0), clients behind at the end, and the failure
 * detector counters of B and C (C must never suspect B, B never C).
 *   --mode baseline: every node `--accept-per-second 0` and clients that retry after a uniform random 0-3 s
 *                    (backoff base = cap = 3000 ms): the issue's baseline shape, main's behaviour.
 *   --mode budget:   nodes at the default --accept-per-second, clients with the client's default backoff.
 * Writes bench/results/reconnect-storm-<mode>-<YYYY-MM-DD>.json.
 *
 *   npx tsc -p tsconfig.json && flock /tmp/hashpub-heavy.lock node dist/bench/reconnect-storm.js --mode budget [--clients 18000]
 *     [--budget N] (--accept-per-second of every node) [--tag T] (appended to the file name)
 *     [--publish-ms N] (one message per channel every N ms, default 1000: the fan-out the storm happens under)
 *     [--busy-core F] (a process keeps F (0-1) of one core busy for the whole run: a busier host)
 */
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeTails, type StormEvent, type StormRequest } from './clients/storm-child.js';
import { FD_LIMIT, HashpubCluster } from './hashpub-cluster.js';
import { environment, runMain } from './support/main.js';
import { burnCore, children, killChildren, Peer, sleep, track } from './support/proc.js';

const arg = (name: string, def: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1]! : def; };
const MODE = arg('mode', 'budget') as 'baseline' | 'budget';
const CLIENTS = Number(arg('clients', '18000'));
const PROCS = Number(arg('procs', String(Math.max(1, Math.ceil(CLIENTS / 6000)))));
const CHANNELS = Number(arg('channels', '4'));
const PER_CLIENT = 2;
/** lean (default): bare sockets with the official client's retry rules (lean-storm-clients.ts); official: lib/client. */
const CLIENT = arg('client', 'lean') as 'lean' | 'official';
/**
 * --spread: the clients' URLs name both survivors, [A, B, C] for half of them and [A, C, B] for the others (lean
 * clients), as an app would hand out its node list; without it [A, B]: the whole herd on one node.
 */
const SPREAD = process.argv.includes('--spread');
/** One message per channel every PUBLISH_MS (--publish-ms): the fan-out load the storm happens under. */
const PUBLISH_MS = Number(arg('publish-ms', '1000'));
const BUDGET_ARGS = MODE === 'baseline' ? ['--accept-per-second', '0'] : arg('budget', '') ? ['--accept-per-second', arg('budget', '')] : [];
/** --busy-core F: another process takes F of one core throughout (a neighbour on a shared host). */
const BUSY_CORE = Number(arg('busy-core', '0'));
const BACKOFF = MODE === 'baseline' ? { baseMs: 3000, capMs: 3000 } : { baseMs: 500, capMs: 20_000 };
const API_KEY = 'storm-bench-api-key';
const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(HERE, '../bin/hashpub.js');
const RESULTS = resolve(HERE, '../../bench/results');

const log = (msg: string) => process.stderr.write(`[reconnect-storm ${MODE}] ${msg}\n`);

async function metrics(url: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    for (const line of (await res.text()).split('\n')) {
      const m = /^(hashpub_(?:cluster_\w+|accept_refused_total|connections|errors_total))(?:\{[^}]*\})? (\S+)$/.exec(line);
      if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
    }
  } catch { /* no answer: left empty */ }
  return out;
}

/** CPU seconds (user + system, or system only) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid: number, systemOnly = false): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((systemOnly ? 0 : Number(f[11])) + Number(f[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch { return 0; }
}

/** The machine's CPU time so far, seconds: all of it, idle, and softirq (where loopback TCP work often lands). */
function machineCpu(): { total: number; idle: number; softirq: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: f.reduce((x, y) => x + y, 0) / 100, idle: (f[3]! + f[4]!) / 100, softirq: f[6]! / 100 };
}

/** TCP sockets in use and in TIME_WAIT on the machine (/proc/net/sockstat). */
function tcpSockets(): { inuse: number; tw: number } {
  const m = /TCP: inuse (\d+) orphan \d+ tw (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'));
  return { inuse: Number(m?.[1] ?? 0), tw: Number(m?.[2] ?? 0) };
}

/** The kernel's count of connections dropped because a listening socket's accept queue was full (all sockets). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0]!.split(' ');
  const values = lines[1]!.split(' ');
  return Number(values[names.indexOf('ListenOverflows')]);
}

const pct = (xs: number[], p: number) => xs.length ? xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]! : null;

async function main(): Promise<void> {
  await quietPorts();
  const neighbour = BUSY_CORE > 0 ? burnCore(BUSY_CORE) : null;
  // The client processes bind 127.0.0.2, .3, ...: 6,000 clients from one address are a load generator, not an
  // abuser, so the per-address limits (1,000 connections, refused-attempt rate) skip those addresses.
  const sources = Array.from({ length: PROCS }, (_, p) => `127.0.0.${2 + p}`);
  const nodeArgs = [...BUDGET_ARGS, '--limit-exempt-addresses', ['127.0.0.1', '::1', ...sources].join(',')];
  // --pin: the nodes on CPU 0, the client processes on CPU 1 (taskset), so 18,000 full clients in Node cannot
  // starve the node they are storming (18,000 official clients use 1.3-1.5 cores unpinned); pinned, they run slower.
  const PIN = process.argv.includes('--pin');
  const cluster = await HashpubCluster.start({ nodes: 3, bin: BIN, apiKey: API_KEY, cpus: PIN ? '0' : null, track, name: `storm-${MODE}`,
    extraArgs: nodeArgs });
  const [a, b, c] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
  log(`cluster up: A ${a.url} B ${b.url} C ${c.url}`);
  const channels = Array.from({ length: CHANNELS }, (_, i) => `storm-${i}`);
  const script = resolve(HERE, CLIENT === 'official' ? 'clients/storm-clients.js' : 'clients/lean-storm-clients.js');
  const peers: Array<Peer<StormEvent>> = [];
  const per = Math.ceil(CLIENTS / PROCS);
  for (let p = 0; p < PROCS; p++) {
    const taskset = PIN ? '/usr/bin/taskset -c 1 ' : '';
    const child = spawn('/bin/sh', ['-c', `ulimit -n ${FD_LIMIT} && exec ${taskset}'${process.execPath}' '${script}'`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const peer = new Peer<StormEvent>(`clients-${p}`, child);
    peers.push(peer);
    const count = Math.min(per, CLIENTS - p * per);
    peer.send({ cmd: 'start', urls: SPREAD ? [a.url, b.url, c.url] : [a.url, b.url], count, first: p * per, channels, perClient: PER_CLIENT, localAddress: sources[p]!,
      backoff: BACKOFF, openPerSecond: 800 / PROCS } satisfies StormRequest);
  }
  const setupAt = Date.now();
  const timeWaitAtStart = tcpSockets().tw;
  const ready = await Promise.all(peers.map((p) => p.next((m) => m.ev === 'ready', 300_000, 'clients ready'))) as Array<Extract<StormEvent, { ev: 'ready' }>>;
  const onA = ready.reduce((x, r) => x + r.onFirstUrl, 0);
  log(`${CLIENTS} clients subscribed in ${Date.now() - setupAt} ms, ${onA} of them on A`);

  let publishing = true;
  let publishFailures = 0;
  const last: Record<string, number> = {};
  const publisher = (async () => {
    for (let n = 0; publishing; n++) {
      const started = Date.now();
      await Promise.all(channels.map(async (ch) => {
        const body = JSON.stringify({ data: { n }, id: `${ch}-${n}` });
        for (let attempt = 0; attempt < 30 && publishing; attempt++) {
          try {
            const res = await fetch(`${b.url}/v1/channels/${ch}/messages`, { method: 'POST', body, signal: AbortSignal.timeout(5000),
              headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' } });
            if (res.status === 200) { last[ch] = Math.max(last[ch] ?? 0, ((await res.json()) as { offset: number }).offset); return; }
            await res.text();
          } catch { /* timeout or refused: retry */ }
          publishFailures++;
          await sleep(250);
        }
      }));
      await sleep(PUBLISH_MS - (Date.now() - started));
    }
  })();
  await sleep(5000);
  const before = { b: await metrics(b.url), c: await metrics(c.url), a: await metrics(a.url) };

  const killAt = Date.now();
  process.kill(a.pid, 'SIGKILL');
  log('node A killed');
  // When each survivor's view dropped A (GET /v1/cluster every 100 ms): until then subscribes to A's channels wait.
  const aGoneMs: Record<'b' | 'c', number | null> = { b: null, c: null };
  const watchView = async (side: 'b' | 'c', url: string) => {
    while (Date.now() - killAt < 60_000) {
      try {
        const res = await fetch(`${url}/v1/cluster`, { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(2000) });
        const v = (await res.json()) as { members: Array<{ id: string }> };
        if (!v.members.some((m) => m.id === a.id)) { aGoneMs[side] = Date.now() - killAt; return; }
      } catch { /* busy: ask again */ }
      await sleep(100);
    }
  };
  const watching = Promise.all([watchView('b', b.url), watchView('c', c.url)]);
  for (const p of peers) p.send({ cmd: 'kill', at: killAt } satisfies StormRequest);
  const resumedNow = new Map<Peer<StormEvent>, number>();
  const progress: Array<[number, number]> = [];
  // Per second after the kill: CPU (% of one core) of B, C and the client processes together (and the clients' share
  // spent in the kernel), the kernel's accept-queue overflows (the machine's: only B's and C's ports are being
  // knocked on), and the machine's TCP sockets in use and in TIME_WAIT, to tell who set the pace.
  const load: Array<{ t: number; b: number; c: number; clients: number; clientsSystem: number; machineIdle: number; machineSoftirq: number;
    listenOverflows: number; tcpInUse: number; tcpTimeWait: number }> = [];
  const cpuNow = () => ({ at: Date.now(), b: cpuSeconds(b.pid), c: cpuSeconds(c.pid),
    clients: peers.reduce((x, p) => x + cpuSeconds(p.child.pid!), 0), clientsSystem: peers.reduce((x, p) => x + cpuSeconds(p.child.pid!, true), 0),
    overflows: listenOverflows(), machine: machineCpu() });
  let lastCpu = cpuNow();
  const deadline = killAt + 120_000;
  while (Date.now() < deadline) {
    const nowCpu = cpuNow();
    const dt = (nowCpu.at - lastCpu.at) / 1000;
    if (dt > 0.5) {
      const share = (k: 'b' | 'c' | 'clients' | 'clientsSystem') => Math.round((100 * (nowCpu[k] - lastCpu[k])) / dt);
      const tcp = tcpSockets();
      // Machine-wide shares in % of one core (200 = both of two cores), like the per-process ones.
      const machine = (k: 'idle' | 'softirq') => Math.round((100 * cpus().length * (nowCpu.machine[k] - lastCpu.machine[k])) / Math.max(0.01, nowCpu.machine.total - lastCpu.machine.total));
      load.push({ t: nowCpu.at - killAt, b: share('b'), c: share('c'), clients: share('clients'), clientsSystem: share('clientsSystem'),
        machineIdle: machine('idle'), machineSoftirq: machine('softirq'),
        listenOverflows: nowCpu.overflows - lastCpu.overflows, tcpInUse: tcp.inuse, tcpTimeWait: tcp.tw });
      lastCpu = nowCpu;
    }
    for (const p of peers) {
      for (;;) {
        const m = await p.next((x) => x.ev === 'progress', 1, 'progress').catch(() => null);
        if (!m) break;
        resumedNow.set(p, (m as Extract<StormEvent, { ev: 'progress' }>).resumed);
      }
    }
    const total = [...resumedNow.values()].reduce((x, y) => x + y, 0);
    progress.push([Date.now() - killAt, total]);
    if (total >= CLIENTS) break;
    await sleep(1000);
  }
  log(`resumed: ${progress.at(-1)?.[1]} of ${CLIENTS} after ${Date.now() - killAt} ms`);
  await watching;
  await sleep(3000); // a few more messages after everyone is back
  publishing = false;
  await publisher;
  for (const p of peers) p.send({ cmd: 'finish', last, timeoutMs: 30_000 } satisfies StormRequest);
  const reports = await Promise.all(peers.map((p) => p.next((m) => m.ev === 'report', 60_000, 'report'))) as Array<Extract<StormEvent, { ev: 'report' }>>;
  const after = { b: await metrics(b.url), c: await metrics(c.url) };
  const resumeMs = reports.flatMap((r) => r.resumeMs).sort((x, y) => x - y);
  const sum = (k: 'resumed' | 'failedAttempts' | 'busyRefusals' | 'silentGaps' | 'announcedGaps' | 'messages' | 'behind' | 'notResumed' | 'elsewhereAtKill') =>
    reports.reduce((x, r) => x + r[k], 0);
  const delta = (side: 'b' | 'c', k: string) => (after[side][k] ?? 0) - (before[side][k] ?? 0);
  const result = {
    bench: 'reconnect-storm', mode: MODE, date: new Date().toISOString(),
    setup: { clients: CLIENTS, clientProcesses: PROCS, channels: CHANNELS, subscriptionsPerClient: PER_CLIENT, publishEveryMs: PUBLISH_MS,
      nodeArgs, clientBackoff: BACKOFF, busyCore: BUSY_CORE, pinned: PIN ? 'nodes on CPU 0, client processes on CPU 1' : 'no', client: CLIENT === 'official' ? 'lib/client (official client, full instances) with the ws package as WebSocket'
        : 'lean: bare sockets with lib/client\'s retry rules (nextTry, backoffDelay, 10 s connect timeout, resume by position)',
      nodes: SPREAD ? 'A (clients, killed), B and C (targets: half the clients list B first, half C); one hashpub bootstrap; loopback'
        : 'A (clients, killed), B (target), C (idle witness); one hashpub bootstrap; loopback' },
    results: {
      resumed: sum('resumed'), notResumed: sum('notResumed'),
      // Clients that had settled on B while they were opened (A busy): never stormed, left out of the figures.
      elsewhereAtKill: sum('elsewhereAtKill'),
      resumeMs: { p50: pct(resumeMs, 50), p90: pct(resumeMs, 90), p99: pct(resumeMs, 99), max: resumeMs.at(-1) ?? null },
      failedAttempts: sum('failedAttempts'), busyRefusalsSeenByClients: sum('busyRefusals'),
      failedBy: reports.reduce<Record<string, number>>((all, r) => {
        for (const [k, n] of Object.entries(r.failedBy)) all[k] = (all[k] ?? 0) + n;
        return all;
      }, {}),
      acceptRefusedOnB: delta('b', 'hashpub_accept_refused_total'),
      /**
       * The slowest 2% of the resumed clients of each load process, averaged over the processes: failed attempts, busy
       * refusals, time waiting for TCP connects, connects that took >= 900 ms (a SYN dropped at a full accept queue).
       */
      slowestTwoPercent: mergeTails(reports.map((r) => r.tail)),
      silentGaps: sum('silentGaps'), announcedGaps: sum('announcedGaps'), clientsBehindAtEnd: sum('behind'),
      messagesDelivered: sum('messages'), publishRetries: publishFailures, lastOffsets: last,
      failureDetector: {
        b: Object.fromEntries(Object.keys(after.b).filter((k) => k.startsWith('hashpub_cluster_')).map((k) => [k, delta('b', k)])),
        c: Object.fromEntries(Object.keys(after.c).filter((k) => k.startsWith('hashpub_cluster_')).map((k) => [k, delta('c', k)])),
        note: 'deltas from 5 s before the kill to the end; the one death on B and C is A (real). C suspecting B, or B suspecting C, would be a false suspicion',
      },
      /** TCP sockets in TIME_WAIT when the clients started (an earlier run's leftovers make bind() slow). */
      timeWaitAtStart,
      /** ms from the kill until B's and C's GET /v1/cluster no longer listed A (polled every 100 ms). */
      viewDroppedAMs: aGoneMs,
      connectionsOnBAtEnd: after.b.hashpub_connections ?? null, connectionsOnCAtEnd: after.c.hashpub_connections ?? null,
      resumedOverTime: progress,
      loadOverTime: load,
    },
    environment: environment(),
  };
  await mkdir(RESULTS, { recursive: true });
  const tag = arg('tag', '');
  const file = join(RESULTS, `reconnect-storm-${MODE}${arg('budget', '') ? `-${arg('budget', '')}` : ''}-${CLIENTS}-${new Date().toISOString().slice(0, 10)}${tag ? `-${tag}` : ''}.json`);
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  log(JSON.stringify(result.results, (k, v) => k === 'resumedOverTime' || k === 'loadOverTime' ? undefined : v));
  log(`wrote ${file}`);
  // The nodes go first, at once: their ends close first and keep the TIME_WAITs, not the clients' bound ports (see
  // quietPorts()); the clients see the close, then go.
  for (const n of [b, c]) { try { process.kill(n.pid, 'SIGKILL'); } catch { /* gone */ } }
  await sleep(2000);
  for (const p of peers) p.child.kill('SIGKILL');
  neighbour?.kill('SIGKILL');
  await cluster.stop();
}

/**
 * Waits (up to 3 minutes) until fewer than 2,000 TCP sockets are in TIME_WAIT. The clients bind their source address
 * (127.0.0.x) before connecting, and bind() must find a port no socket of that address holds, TIME_WAIT included:
 * with an earlier run's 30,000+ closed client ports still in TIME_WAIT (60 s), 6,000 clients reconnecting spent
 * 10-25 s in the kernel hunting for ports (clients at 150% CPU, 95% of it system time, nothing reaching the
 * nodes; bench/results/reconnect-storm-budget-18000-2026-12-02-spread-diag2.json).
 */
async function quietPorts(): Promise<void> {
  const until = Date.now() + 180_000;
  for (let tw = tcpSockets().tw; tw >= 2000 && Date.now() < until; tw = tcpSockets().tw) {
    log(`waiting for ${tw} TCP sockets in TIME_WAIT (an earlier run's) to expire`);
    await sleep(5000);
  }
}

const killAll = () => { killChildren(); for (const c of children) c.kill('SIGKILL'); };
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130); });
runMain(main, { log, killAll, hardStopMs: 15 * 60_000 });
