/**
 * One chaos run, start to end: start the cluster (CLI processes on loopback, or one per host of a virtual LAN
 * with `hosts`), set every channel's config and one ban per
 * channel as an operator would (and check they took), connect the subscribers, start the publishers, let the
 * nemesis run its rounds, stop publishing, read everything back, let the subscribers catch up, and hand the
 * history and the read-back to the checker. Used by run.ts (`npm run chaos`) and spec/e2e/chaos.test.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { sleep } from '../support/proc.js';
import { audit, configHolds, type Audit } from './checker.js';
import type { ClusterControl } from './cluster.js';
import { Generator } from './generator.js';
import { emptyHistory, type FaultKind, type History, type Position, type ReadBack } from './history.js';
import { call, closeHttp, describe } from './http.js';
import { HostCluster } from './host-cluster.js';
import { Nemesis } from './nemesis.js';
import { ProcessCluster } from './process-cluster.js';
import { banHolds, readBack, readConfig } from './readback.js';
import { seededRng } from './rng.js';
import { ChaosSubscriber } from './subscribers.js';

export interface ChaosSettings {
  nodes: number;
  /** Run each node on its own host of a virtual LAN (network namespaces, needs root) instead of loopback. */
  hosts: boolean;
  rounds: number;
  /** Fault kinds taken in turn, one per round. */
  faults: FaultKind[];
  publishers: number;
  subscribers: number;
  channels: number;
  /** Nodes run with `--data :memory:` (a restart comes back empty). */
  memory: boolean;
  /** Publishes per second over all publishers; 0 = as fast as answers come. */
  rate: number;
  /** Seeds the nemesis's choices (victims, pause lengths); the load's timing is not replayable. */
  seed: number;
  downMs: [number, number];
  pauseMs: [number, number];
  settleMs: number;
  warmupMs: number;
  convergeMs: number;
  failoverLimitMs: number;
  requestTimeoutMs: number;
  retryForMs: number;
  /** The history size the operator sets on every channel (at most 10,000). */
  historySize: number;
  ttlSeconds: number;
  /** More flags for every `hashpub start`. */
  nodeArgs: string[];
}

export function defaultSettings(): ChaosSettings {
  return {
    nodes: 3, hosts: false, rounds: 6, faults: ['kill'], publishers: 8, subscribers: 4, channels: 24, memory: false, rate: 0,
    seed: 1, downMs: [2000, 4000], pauseMs: [4000, 6000], settleMs: 2000, warmupMs: 2000, convergeMs: 30_000,
    failoverLimitMs: 20_000, requestTimeoutMs: 3000, retryForMs: 30_000, historySize: 10_000, ttlSeconds: 86_400, nodeArgs: [],
  };
}

export interface ChaosResult {
  audit: Audit;
  history: History;
  readBack: ReadBack;
  /** Wall time of the whole run and of the faulty part (publishers on). */
  durationMs: number;
  loadMs: number;
  /** CPU of this process (generator, subscribers, nemesis) during the load, in % of one core: near 100 = the client was the limit. */
  harnessCpuPercent: number;
}

export interface RunHooks {
  log: (msg: string) => void;
  /** Gets every spawned child process (to kill on exit). */
  track: (c: ChildProcess) => void;
  /** Seconds between progress lines; 0 = none. */
  progressEverySec?: number;
}

const BIN = fileURLToPath(new URL('../../bin/hashpub.js', import.meta.url));

/** Retries one setup call through random up nodes until it answers 200 (30 s). */
async function setupCall(control: ClusterControl, pick: () => string, method: string, path: string, body: unknown): Promise<unknown> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await call(pick(), method, path, control.apiKey, body, 5000);
    if (r.kind === 'http' && r.status === 200) return r.body;
    if (Date.now() > deadline) throw new Error(`setup ${method} ${path}: ${describe(r)}`);
    await sleep(200);
  }
}

export async function runChaos(s: ChaosSettings, hooks: RunHooks): Promise<ChaosResult> {
  const { log } = hooks;
  const started = performance.now();
  const now = () => Math.round(performance.now() - started);
  const runId = randomBytes(3).toString('hex');
  const channels = Array.from({ length: s.channels }, (_, i) => `chaos-${i}`);
  const config = { history: { size: s.historySize, ttlSeconds: s.ttlSeconds }, maxSubscribers: 1000 };
  const bans = channels.map((channel, i) => ({ channel, user: `banned-${i}` }));
  const history = emptyHistory(channels, config, bans);
  const control: ClusterControl = s.hosts ? new HostCluster({ nodes: s.nodes, memory: s.memory, extraArgs: s.nodeArgs }) : new ProcessCluster({
    nodes: s.nodes, bin: BIN, memory: s.memory, apiKey: `chaos-key-${runId}`, jwtSecret: `chaos-jwt-secret-${runId}-0123456789`,
    name: `chaos-${runId}`, secret: `chaos-secret-${runId}`, extraArgs: s.nodeArgs, track: hooks.track,
  });
  const setupRng = seededRng(s.seed + 3);
  const pickUrl = () => setupRng.pick(control.nodes().filter((n) => n.state === 'up'))!.url;
  const subs: ChaosSubscriber[] = [];
  let progress: NodeJS.Timeout | undefined;
  try {
    await control.start();
    log(`cluster of ${s.nodes} up (${control.mode}, ${s.memory ? '--data :memory:' : 'data dirs'}): ${control.nodes().map((n) => n.url).join(' ')}`);

    // --- the operator's setup, checked before any fault
    for (const b of bans) {
      const path = `/v1/channels/${encodeURIComponent(b.channel)}`;
      await setupCall(control, pickUrl, 'PUT', `${path}/config`, config);
      await setupCall(control, pickUrl, 'POST', `${path}/kick`, { user: b.user, ban: s.ttlSeconds, reason: 'chaos audit' });
      if (!configHolds(config, await readConfig(pickUrl(), control.apiKey, b.channel))) throw new Error(`setup: config of ${b.channel} did not take`);
      if (!await banHolds(pickUrl(), control.jwtSecret, b.channel, b.user)) throw new Error(`setup: ban on ${b.channel} did not take`);
    }
    log(`set config ${JSON.stringify(config)} and one ban on each of ${channels.length} channels`);

    const subOpts = { channels, staleMs: 3000, pingMs: 1000, connectTimeoutMs: 3000, resumeCheckMs: 3000, resubscribeMs: 500, minBackoffMs: 100, maxBackoffMs: 2000 };
    const subRng = seededRng(s.seed + 2);
    for (let i = 0; i < s.subscribers; i++) {
      const sub = new ChaosSubscriber(`s${i}`, `reader-${i}`, { control, now, rng: subRng }, subOpts);
      subs.push(sub);
      history.subscribers.push(sub.log);
    }
    await Promise.all(subs.map((x) => x.start()));
    log(`${subs.length} subscribers on every channel`);

    const ctx = { control, history, now, rng: seededRng(s.seed + 1) };
    // Every message must stay in history for the read-back: leave room for the failover probes' publishes.
    const maxPerChannel = Math.max(1, s.historySize - Math.min(s.historySize / 2, 10 * (s.rounds + 1)));
    const generator = new Generator(ctx, {
      publishers: s.publishers, channels, maxPerChannel, rate: s.rate, runId,
      retry: { requestTimeoutMs: s.requestTimeoutMs, retryForMs: s.retryForMs, minBackoffMs: 50, maxBackoffMs: 1000, honourRetryAfter: true },
    });
    const nemesis = new Nemesis({ ...ctx, rng: seededRng(s.seed), log }, {
      rounds: s.rounds, faults: s.faults, downMs: s.downMs, pauseMs: s.pauseMs, settleMs: s.settleMs, convergeMs: s.convergeMs,
      failoverLimitMs: s.failoverLimitMs, channels, runId,
    });
    const loadStart = now();
    const cpuStart = process.cpuUsage();
    generator.start();
    if (hooks.progressEverySec) {
      let lastAcked = 0;
      progress = setInterval(() => {
        const frames = subs.reduce((n, x) => n + x.log.frames.length, 0);
        const conns = subs.reduce((n, x) => n + x.log.connections, 0);
        log(`t=${Math.round(now() / 1000)}s ${nemesis.status} | acked ${generator.acked} (+${generator.acked - lastAcked}) ` +
          `failed ${generator.failed} attempts ${history.attempts.length}${generator.full ? ' (channels full)' : ''} | subscribers: ${frames} frames, ${conns} connections`);
        lastAcked = generator.acked;
      }, hooks.progressEverySec * 1000);
      progress.unref();
    }
    await sleep(s.warmupMs);
    await nemesis.run();
    log('rounds done: stopping the publishers (retries in flight finish)');
    await generator.stop();
    const loadMs = now() - loadStart;
    const cpu = process.cpuUsage(cpuStart);
    const harnessCpuPercent = Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, loadMs)) * 100);
    clearInterval(progress);

    try {
      await control.converge(s.convergeMs);
    } catch (err) {
      log(`final convergence: ${(err as Error).message}`);
    }
    log('reading back every channel');
    const rb = await readBack(control, setupRng, bans);
    const finals = new Map<string, Position>();
    for (const [c, r] of Object.entries(rb.channels)) if (r.epoch !== null) finals.set(c, { epoch: r.epoch, offset: r.offset });
    const deadline = Date.now() + 15_000;
    while (!subs.every((x) => x.caughtUp(finals)) && Date.now() < deadline) await sleep(100);
    await Promise.all(subs.map((x) => x.stop()));
    return { audit: audit(history, rb), history, readBack: rb, durationMs: now(), loadMs, harnessCpuPercent };
  } finally {
    clearInterval(progress);
    await Promise.all(subs.map((x) => x.stop()));
    await control.stop();
    await closeHttp();
  }
}
