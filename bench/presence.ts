/**
 * Presence at scale: N authenticated users (each its own token and WebSocket) join one channel, 256 subscribe
 * attempts in flight, on one node process (two for more than 10,000 users, users split between them), with the
 * channel's presence join/leave events off and on. Measured per run:
 *   - time from the first connection until every subscription was answered;
 *   - presence frames written to clients (counted by the clients) and their bytes;
 *   - with events on: time until every user's member list is complete (all N users in it);
 *   - server CPU (user+system of the node processes) over the run.
 * Clients run in their own processes (bench/clients/presence-users.ts), at most 10,000 users each.
 * Results: bench/results/presence-<date>.json and a table on stdout.
 * Run: npm run build && node dist/bench/presence.js [--users 10000,20000] [--events off,on] [--legacy] [--out FILE]
 *   --legacy: do not set presenceEvents (for servers from before it existed: every change is a frame).
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HashpubCluster } from './hashpub-cluster.js';
import type { PresenceClientReport, PresenceClientRequest } from './clients/presence-users.js';
import { nowMs } from './support/ipc.js';
import { environment, runMain } from './support/main.js';
import { round } from './support/phases.js';
import { killChildren, Peer, sleep, track } from './support/proc.js';
import { renderTable } from './support/table.js';

const BIN = fileURLToPath(new URL('../bin/hashpub.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./clients/presence-users.js', import.meta.url));
const API_KEY = 'bench-api-key';
const JWT_SECRET = 'bench-jwt-secret-0123456789';
const IN_FLIGHT = 256;
const PER_PROCESS = 10_000;
const arg = (name: string, def: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1]! : def;
};
const USERS = arg('users', '10000,20000').split(',').map(Number);
const EVENTS = arg('events', 'off,on').split(',') as Array<'off' | 'on'>;
const LEGACY = process.argv.includes('--legacy');
const JOIN_DEADLINE_MS = Number(arg('deadline', '300000'));
const log = (msg: string) => process.stdout.write(`[presence] ${msg}\n`);

type Event = { ev: 'ready' } | { ev: 'joined' } | PresenceClientReport;

async function runOne(users: number, events: 'off' | 'on') {
  const nodes = users > PER_PROCESS ? 2 : 1;
  log(`${users} users, presence events ${events}${LEGACY ? ' (legacy server)' : ''}: ${nodes} node process(es)`);
  const cluster = await HashpubCluster.start({ nodes, bin: BIN, apiKey: API_KEY, cpus: null, track, name: `presence-${process.pid}-${users}-${events}` });
  const channel = 'room';
  const clients: Array<Peer<Event>> = [];
  try {
    if (!LEGACY) {
      const r = await fetch(`${cluster.nodes[0]!.url}/v1/channels/${channel}/config`, {
        method: 'PUT', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ presenceEvents: events === 'on' }),
      });
      if (r.status !== 200) throw new Error(`config: ${r.status} ${await r.text()}`);
    }
    const procs = Math.ceil(users / PER_PROCESS);
    for (let p = 0; p < procs; p++) clients.push(new Peer<Event>(`client-${p}`, fork(CLIENT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
    const cpu0 = cluster.usage();
    const t0 = nowMs();
    const per = Math.ceil(users / procs);
    clients.forEach((c, p) => {
      const names = Array.from({ length: Math.min(per, users - p * per) }, (_, i) => `user-${p * per + i}`);
      const req: PresenceClientRequest = { cmd: 'join', url: cluster.nodes[p % nodes]!.url, channel, jwtSecret: JWT_SECRET, users: names,
        total: users, inFlight: Math.ceil(IN_FLIGHT / procs), t0, deadlineMs: JOIN_DEADLINE_MS };
      c.send(req);
    });
    await Promise.all(clients.map((c) => c.next((m) => m.ev === 'ready', 60_000, 'tokens signed')));
    // Progress while users join.
    const progress = setInterval(() => {
      void Promise.all(clients.map((c) => { c.send({ cmd: 'report' }); return c.next((m) => m.ev === 'report', 10_000, 'report'); }))
        .then((rs) => log(`  ${round((nowMs() - t0) / 1000, 1)} s: ${rs.reduce((n, r) => n + (r as PresenceClientReport).subscribed, 0)} subscribed`))
        .catch(() => {});
    }, 5000);
    await Promise.all(clients.map((c) => c.next((m) => m.ev === 'joined', JOIN_DEADLINE_MS + 30_000, 'joined')));
    clearInterval(progress);
    await sleep(200);
    const reportAll = async () => Promise.all(clients.map(async (c) => {
      c.send({ cmd: 'report' });
      return await c.next((m) => m.ev === 'report', 30_000, 'report') as PresenceClientReport;
    }));
    let reports = await reportAll();
    const subscribed = reports.reduce((n, r) => n + r.subscribed, 0);
    if (events === 'on' || LEGACY) {
      // Member lists keep filling after the last subscription: wait until complete (or 60 s more).
      const until = Date.now() + 60_000;
      while (reports.reduce((n, r) => n + r.complete, 0) < subscribed && Date.now() < until) {
        await sleep(500);
        reports = await reportAll();
      }
    }
    const cpu1 = cluster.usage();
    const sum = (f: (r: PresenceClientReport) => number) => reports.reduce((n, r) => n + f(r), 0);
    const maxOf = (f: (r: PresenceClientReport) => number | null) => reports.reduce<number | null>((m, r) => (f(r) === null ? m : Math.max(m ?? 0, f(r)!)), null);
    const result = {
      users, events, legacy: LEGACY, nodes, subscribed, failed: sum((r) => r.failed), errors: reports.flatMap((r) => r.errors).slice(0, 10),
      allSubscribedMs: maxOf((r) => r.lastSubscribedMs), presenceFrames: sum((r) => r.presenceFrames), presenceBytes: sum((r) => r.presenceBytes),
      completeLists: sum((r) => r.complete), sampledListsWrong: sum((r) => r.sampledWrong), allCompleteMs: events === 'on' || LEGACY ? maxOf((r) => r.lastCompleteMs) : null,
      serverCpuMs: round((cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000, 0), rssMB: round(cpu1.rss / 1048576, 1),
    };
    log(`  all ${subscribed} subscribed in ${round((result.allSubscribedMs ?? 0) / 1000, 2)} s; ${result.presenceFrames} presence frames ` +
      `(${round(result.presenceBytes / 1048576, 1)} MB); member lists complete: ${result.completeLists}` +
      `${result.allCompleteMs !== null ? ` after ${round(result.allCompleteMs / 1000, 2)} s` : ''}; server CPU ${result.serverCpuMs} ms`);
    return result;
  } finally {
    for (const c of clients) c.send({ cmd: 'close' });
    await sleep(500);
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const runs = [];
  for (const users of USERS) for (const events of EVENTS) runs.push(await runOne(users, events));
  const f = (v: number | null, d = 2) => (v === null ? '-' : String(round(v / 1000, d)));
  process.stdout.write(`${renderTable(['users', 'events', 'nodes', 'subscribed', 'all subscribed s', 'presence frames', 'frames MB', 'lists complete s', 'server CPU s'],
    runs.map((r) => [String(r.users), r.legacy ? 'legacy' : r.events, String(r.nodes), String(r.subscribed), f(r.allSubscribedMs), String(r.presenceFrames),
      String(round(r.presenceBytes / 1048576, 1)), f(r.allCompleteMs), f(r.serverCpuMs)]))}\n`);
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = arg('out', `${dir}presence-${new Date().toISOString().slice(0, 10)}${LEGACY ? '-baseline' : ''}.json`);
  writeFileSync(file, `${JSON.stringify({ settings: { inFlight: IN_FLIGHT, perProcess: PER_PROCESS }, runs, environment: environment() }, null, 2)}\n`);
  log(`saved ${file}`);
}

runMain(main, { log, killAll: killChildren, hardStopMs: 60 * 60_000 });
