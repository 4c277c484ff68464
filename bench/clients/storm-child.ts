/**
 * What both reconnect-storm load children (storm-clients.ts: official clients; lean-storm-clients.ts: bare sockets)
 * do the same way: open the clients at the asked pace, say `ready` once all are subscribed (and arm the
 * counters: any loss after that is the kill's), report progress each second after the kill, and on `finish` wait
 * until every client has the last offsets (or the timeout) and send the report.
 */

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

/** The parent's requests (bench/reconnect-storm.ts) and the children's answers. */
export type StormRequest =
  | { cmd: 'start'; urls: string[]; count: number; first: number; channels: string[]; perClient: number; localAddress: string;
      backoff: { baseMs: number; capMs: number }; openPerSecond: number }
  | { cmd: 'kill'; at: number }
  | { cmd: 'finish'; last: Record<string, number>; timeoutMs: number };
export type StormEvent =
  | { ev: 'ready'; connected: number; subscribed: number; onFirstUrl: number }
  | { ev: 'progress'; resumed: number }
  | { ev: 'report'; clients: number; resumed: number; resumeMs: number[]; failedAttempts: number; busyRefusals: number;
      silentGaps: number; announcedGaps: number; messages: number; behind: number; notResumed: number;
      /** Clients that were not connected to the killed node (urls[0]) at the kill: left out of resumed/notResumed. */
      elsewhereAtKill: number;
      /** Failed attempts after the kill by node (A = the killed one, B) and error: where the tail comes from. */
      failedBy: Record<string, number>;
      /** The slowest 2% of this process's resumed clients, on average: what made them late. */
      tail: TailStats };


/** The counters a child keeps across its clients; `armed` once every client was subscribed. */
export interface StormTally {
  armed: boolean;
  killAt: number;
  silentGaps: number;
  announcedGaps: number;
  messages: number;
  /** Failed attempts after the kill by node (A = the killed one, B) and error. */
  failedBy: Record<string, number>;
}

/** One client as the report sees it. */
export interface StormWatched {
  readonly subs: ReadonlyArray<{ channel: string; offset: number; subscribed: boolean }>;
  resumedAt: number;
  failed: number;
  busy: number;
  /** Time spent after the kill between starting a TCP connect and its completion, ms (lean clients only). */
  connectWaitMs?: number;
  /** Connects after the kill that took >= 900 ms: a SYN the node's full accept queue dropped (retried at 1, 3, 7 s). */
  slowConnects?: number;
}

/** Averages over a group of clients: resume time, failed attempts, busy refusals, connect wait, slow connects. */
export interface TailStats { clients: number; resumeMs: number; failed: number; busy: number; connectWaitMs: number; slowConnects: number }

/** The slowest `share` of `resumed` (by resume time after `killAt`), averaged. */
export function tailStats(resumed: readonly StormWatched[], killAt: number, share = 0.02): TailStats {
  const tail = [...resumed].sort((a, b) => b.resumedAt - a.resumedAt).slice(0, Math.max(1, Math.ceil(resumed.length * share)));
  const avg = (f: (c: StormWatched) => number) => tail.length ? Math.round((10 * tail.reduce((x, c) => x + f(c), 0)) / tail.length) / 10 : 0;
  return { clients: resumed.length ? tail.length : 0, resumeMs: avg((c) => c.resumedAt - killAt), failed: avg((c) => c.failed), busy: avg((c) => c.busy),
    connectWaitMs: avg((c) => c.connectWaitMs ?? 0), slowConnects: avg((c) => c.slowConnects ?? 0) };
}

/** Several processes' tails as one: each average weighted by the clients behind it. */
export function mergeTails(tails: readonly TailStats[]): TailStats {
  const clients = tails.reduce((x, t) => x + t.clients, 0);
  const avg = (k: Exclude<keyof TailStats, 'clients'>) => clients ? Math.round((10 * tails.reduce((x, t) => x + t[k] * t.clients, 0)) / clients) / 10 : 0;
  return { clients, resumeMs: avg('resumeMs'), failed: avg('failed'), busy: avg('busy'), connectWaitMs: avg('connectWaitMs'), slowConnects: avg('slowConnects') };
}

export interface StormChild<C extends StormWatched> {
  /** Opens client `index` (its channels follow from it). */
  open(r: Extract<StormRequest, { cmd: 'start' }>, index: number): C;
  connected(c: C): boolean;
  /** Whether `c` is connected to urls[0], the node the parent kills (or already lost it to the kill). */
  onFirstUrl(c: C): boolean;
}

export function newTally(): StormTally {
  return { armed: false, killAt: 0, silentGaps: 0, announcedGaps: 0, messages: 0, failedBy: {} };
}

/** Answers the parent's requests (bench/reconnect-storm.ts) with `child` opening and judging the clients. */
export function runStormChild<C extends StormWatched>(child: StormChild<C>, tally: StormTally): void {
  if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');
  const send = (m: StormEvent) => process.send!(m);
  const clients: C[] = [];
  const elsewhere = new Set<C>();
  // STORM_CLIENT_PROF=dir: a CPU profile of this load process from the kill to the report (where its time goes).
  let profiler: Session | null = null;
  process.on('message', (raw) => {
    const r = raw as StormRequest;
    if (r.cmd === 'start') {
      let i = 0;
      const batch = Math.max(1, Math.round(r.openPerSecond / 10));
      const t = setInterval(() => {
        for (let k = 0; k < batch && i < r.count; k++, i++) clients.push(child.open(r, r.first + i));
        if (i >= r.count) clearInterval(t);
      }, 100);
      const check = setInterval(() => {
        const subscribed = clients.filter((c) => c.subs.every((s) => s.subscribed)).length;
        if (clients.length < r.count || subscribed < r.count) return;
        clearInterval(check);
        tally.armed = true;
        send({ ev: 'ready', connected: clients.filter((c) => child.connected(c)).length, subscribed,
          onFirstUrl: clients.filter((c) => child.onFirstUrl(c)).length });
      }, 500);
    } else if (r.cmd === 'kill') {
      tally.killAt = r.at;
      // A client that had to settle on another node while the clients were opened never loses its connection: it
      // is no part of the storm (its resume time would be "never").
      for (const c of clients) if (!child.onFirstUrl(c)) elsewhere.add(c);
      if (process.env.STORM_CLIENT_PROF) {
        profiler = new Session();
        profiler.connect();
        profiler.post('Profiler.enable', () => profiler!.post('Profiler.start'));
      }
      const stormed = () => clients.filter((c) => !elsewhere.has(c));
      setInterval(() => send({ ev: 'progress', resumed: stormed().filter((c) => c.resumedAt).length + elsewhere.size }), 1000).unref();
    } else {
      const deadline = Date.now() + r.timeoutMs;
      const caughtUp = (c: C) => c.subs.every((s) => s.offset >= (r.last[s.channel] ?? 0));
      const t = setInterval(() => {
        if (!clients.every(caughtUp) && Date.now() < deadline) return;
        clearInterval(t);
        profiler?.post('Profiler.stop', (err, res) => {
          if (!err) writeFileSync(`${process.env.STORM_CLIENT_PROF}/storm-client-${process.pid}.cpuprofile`, JSON.stringify(res.profile));
        });
        const stormed = clients.filter((c) => !elsewhere.has(c));
        const resumed = stormed.filter((c) => c.resumedAt);
        send({
          ev: 'report', clients: clients.length, resumed: resumed.length, resumeMs: resumed.map((c) => Math.max(0, c.resumedAt - tally.killAt)),
          failedAttempts: clients.reduce((a, c) => a + c.failed, 0), busyRefusals: clients.reduce((a, c) => a + c.busy, 0),
          silentGaps: tally.silentGaps, announcedGaps: tally.announcedGaps, messages: tally.messages,
          behind: clients.filter((c) => !caughtUp(c)).length, notResumed: stormed.length - resumed.length, failedBy: tally.failedBy,
          elsewhereAtKill: elsewhere.size, tail: tailStats(resumed, tally.killAt),
        });
      }, 250);
    }
  });
  process.on('disconnect', () => process.exit(0));
}
