/*
 * Keepalive cost (issue 10, item 3: "keepalive pings for 20k sockets per node must cost under 2% of a core"): one
 * hashpub node (bench/servers/hashpub-server.js, the Node.js flags of `hashpub start`) first with no client, then
 * holding N idle WebSocket subscribers of one channel, each window a whole number of ping rounds long. What the
 * connections add is the difference of the two windows' server CPU; it is also given per 20,000 sockets and per
 * socket and round. The single-node bench's idle figure is one 25 s round against a 3 s empty baseline, too short to
 * tell 2.0% from 2.4%; this one runs several rounds of each.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/keepalive.js [--n=19000] [--rounds=4] [--windows=2] [--clients=2]
 *     [--ping-seconds=25] [--client-ping[=own]] [--memory] [--tag=T]
 *
 * --client-ping: the sockets behave like lib/client, which cannot see WebSocket pings in a browser: they connect with
 * `"ping": true` and answer the node's {"type":"ping"} text frames. --client-ping=own: like lib/client before
 * 2026-12-03, they send {"type":"ping"} themselves when they have heard nothing for 20 s. --memory: the in-memory
 * store. --windows: how many loaded windows to measure (the spread between them is the noise). Writes
 * bench/results/keepalive-<date>[-tag].json. The load clients share the 2 cores; their CPU is reported apart.
 */
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../lib/cli/node-flags.js';
import { metricReader } from '../lib/testing/rest.js';
import { type ClientEvent, type ClientRequest, nowMs, type PhaseReport, type ServerStats } from './support/ipc.js';
import { environment, runMain } from './support/main.js';
import { connectClients, round } from './support/phases.js';
import { killChildren, Peer, sleep } from './support/proc.js';
import { cpuPct, ServerProc, stopChildrenOnSignals } from './support/server-proc.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: number) => Number(argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const N = arg('n', 19_000);
const ROUNDS = arg('rounds', 4);
const WINDOWS = arg('windows', 2);
const CLIENT_PROCS = arg('clients', 2);
const PING_SECONDS = arg('ping-seconds', 25);
/** --client-ping (= text): sockets ask for text pings and answer them, as lib/client does; own: they ping when quiet 20 s, as lib/client did before. */
const CLIENT_PING_ARG = argv.find((a) => a === '--client-ping' || a.startsWith('--client-ping='));
const CLIENT_PING: 'text' | 'own' | null = CLIENT_PING_ARG === undefined ? null : CLIENT_PING_ARG.endsWith('=own') ? 'own' : 'text';
const MEMORY = argv.includes('--memory');
const TAG = argv.find((a) => a.startsWith('--tag='))?.slice('--tag='.length);
/** lib/client pings when it has heard nothing for this long. */
const CLIENT_QUIET_MS = 20_000;
const WINDOW_MS = ROUNDS * PING_SECONDS * 1000;

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = resolve(here, '../..');
const log = (msg: string) => process.stderr.write(`[keepalive ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
stopChildrenOnSignals(log);

interface Window {
  ms: number; serverCpuPct: number; loopMaxMs: number; clientCpuPct: number | null; closed: number | null;
  /** WebSocket pings the node sent in the window (hashpub_ws_pings_total; null on code without that counter). */
  pings: number | null;
}

/** The node's hashpub_ws_pings_total, or null if /metrics has none (code from before that counter). */
async function pingsSent(url: string): Promise<number | null> {
  const n = await metricReader(url)('hashpub_ws_pings_total');
  return Number.isNaN(n) ? null : n;
}

/** Server CPU (and the clients' when there are some) over `ms`. */
async function measure(server: ServerProc, clients: Array<Peer<ClientEvent>>, ms: number): Promise<Window> {
  const ask = async () => Promise.all(clients.map(async (c) => {
    c.send({ cmd: 'report' } satisfies ClientRequest);
    return c.next((m) => m.ev === 'report', 15_000, 'report') as Promise<PhaseReport>;
  }));
  const r0 = await ask();
  const p0 = await pingsSent(server.url);
  const s0: ServerStats = await server.stats(false);
  const t0 = nowMs();
  await sleep(ms);
  const s1 = await server.stats(false);
  const took = nowMs() - t0;
  const p1 = await pingsSent(server.url);
  const r1 = await ask();
  const clientUs = r1.reduce((a, r) => a + r.cpuUs, 0) - r0.reduce((a, r) => a + r.cpuUs, 0);
  return {
    ms: round(took, 0), serverCpuPct: cpuPct(s0, s1, took), loopMaxMs: s1.eld.maxMs,
    clientCpuPct: clients.length ? round(clientUs / (took * 10), 2) : null,
    closed: clients.length ? r1.reduce((a, r) => a + r.closed, 0) : null,
    pings: p0 !== null && p1 !== null ? p1 - p0 : null,
  };
}

async function main(): Promise<void> {
  const started = new Date();
  log(`${N} sockets, ${CLIENT_PROCS} client processes, pings every ${PING_SECONDS} s, windows of ${ROUNDS} rounds (${WINDOW_MS / 1000} s)` +
    `${CLIENT_PING === 'own' ? ', clients ping when quiet 20 s' : CLIENT_PING === 'text' ? ', clients ask for text pings' : ''}${MEMORY ? ', --data :memory:' : ''}`);
  const server = await ServerProc.start('hashpub', join(here, 'servers/hashpub-server.js'), ['--expose-gc', ...NODE_FLAGS], {
    BENCH_API_KEY: 'k', BENCH_PING_SECONDS: String(PING_SECONDS), ...(MEMORY ? { BENCH_HASHPUB_DATA: ':memory:' } : {}),
  });
  await sleep(2000);
  log(`empty node: measuring ${WINDOW_MS / 1000} s`);
  const empty = await measure(server, [], WINDOW_MS);
  log(`empty node: ${empty.serverCpuPct}% of a core`);

  const clients = Array.from({ length: CLIENT_PROCS }, (_, i) => new Peer<ClientEvent>(`client ${i}`,
    fork(join(here, 'clients/ws-subscribers.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  const shares = clients.map((_, i) => Math.floor(N / CLIENT_PROCS) + (i < N % CLIENT_PROCS ? 1 : 0));
  const connect = await connectClients(clients, {
    urls: clients.map(() => server.url.replace(/^http/, 'ws') + '/v1/ws'), counts: shares, batch: 250, protocol: 'hashpub',
    channel: 'bench', deadlineMs: 60_000 + N * 5, answerSlackMs: 20_000,
    ...(CLIENT_PING === 'own' ? { appPingQuietMs: CLIENT_QUIET_MS } : CLIENT_PING === 'text' ? { textPings: true } : {}),
  });
  log(`${connect.ok} connected in ${connect.ms} ms${connect.failed ? `, ${connect.failed} failed: ${connect.errors.join('; ')}` : ''}`);
  if (connect.ok === 0) throw new Error('no client connected');
  // One round (plus the connect timeout's slack) so every socket has had its first ping: after it, each is pinged once a round.
  const settleMs = PING_SECONDS * 1000 + 5000;
  log(`settling ${settleMs / 1000} s`);
  await sleep(settleMs);

  const loaded: Window[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    log(`${connect.ok} idle sockets: window ${w + 1}/${WINDOWS}, ${WINDOW_MS / 1000} s`);
    const win = await measure(server, clients, WINDOW_MS);
    loaded.push(win);
    const added = win.serverCpuPct - empty.serverCpuPct;
    log(`  server ${win.serverCpuPct}% (+${round(added, 2)}% over empty = ${round((added * 20_000) / connect.ok, 2)}% per 20k), ` +
      `clients ${win.clientCpuPct}%, loop max ${win.loopMaxMs} ms, ${win.closed} closed, ${win.pings ?? '?'} pings sent`);
  }
  await Promise.all(clients.map((c) => c.stop({ cmd: 'close' } satisfies ClientRequest)));
  await server.stop();

  const added = loaded.map((w) => round(w.serverCpuPct - empty.serverCpuPct, 2));
  const per20k = added.map((a) => round((a * 20_000) / connect.ok, 2));
  const usPerSocketRound = added.map((a) => round((a / 100) * 1e6 * PING_SECONDS / connect.ok, 2));
  const out = {
    benchmark: 'keepalive', date: started.toISOString(), durationS: round((Date.now() - started.getTime()) / 1000, 1),
    environment: environment(),
    config: {
      sockets: N, connected: connect.ok, clientProcesses: CLIENT_PROCS, pingSeconds: PING_SECONDS, roundsPerWindow: ROUNDS,
      windowMs: WINDOW_MS,
      clientPing: CLIENT_PING === 'own' ? `{"type":"ping"} when quiet ${CLIENT_QUIET_MS} ms (lib/client's rule before 2026-12-03)`
        : CLIENT_PING === 'text' ? 'connect with "ping": true, answer the node\'s {"type":"ping"} (lib/client)' : false,
      data: MEMORY ? ':memory:' : 'level (temp dir)', serverExecArgv: ['--expose-gc', ...NODE_FLAGS],
      notes: [
        'server CPU = the node process\'s process.cpuUsage() (user + system) over a window, percent of one core.',
        'added = loaded window - empty window; per 20k = added x 20,000 / connected; us per socket and round = added CPU / (sockets x rounds).',
        'The kernel\'s loopback write of a ping does the receiving end\'s TCP work too, inside the server\'s system time.',
      ],
    },
    connect, empty, loaded,
    addedPct: added, addedPctPer20k: per20k, usPerSocketRound,
  };
  const dir = join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `keepalive-${started.toISOString().slice(0, 10)}${TAG ? `-${TAG}` : ''}.json`);
  await writeFile(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`keepalive: ${connect.ok} sockets, empty ${empty.serverCpuPct}%, loaded ${loaded.map((w) => w.serverCpuPct).join(' / ')}% ` +
    `-> added per 20k ${per20k.join(' / ')}% of a core (${usPerSocketRound.join(' / ')} us per socket and round)\nresults: ${file}\n`);
}

runMain(main, { log, killAll: killChildren, hardStopMs: (3 + (WINDOWS + 1) * WINDOW_MS / 60_000 + 5) * 60_000 });
