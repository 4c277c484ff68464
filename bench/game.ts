/**
 * The game demo under load: `hashpub demo --nodes 3` in its own process (one process holds the 3 nodes and the
 * game loop, as the demo runs) and N headless bot players in this process, spread over the 3 nodes, each with the
 * official client over WebSocket. Bots change their input (turn/thrust/fire) every 250 ms as client publishes on
 * game:input and receive game:state, cut per reader by the deliver hook. Measured over the window, after a warm-up:
 *   - updates/s per player (the loop runs at 20 ticks/s: 20 is every tick);
 *   - tick-to-screen latency: from the server's tick time (`t` in the state) to the bot's handler, p50/p99/max;
 *   - inputs acknowledged and refused; CPU of the demo process (user+system, % of one core).
 * Results: bench/results/game-<date>.json and a summary on stdout.
 * Run: npm run build && node dist/bench/game.js [--players 50] [--nodes 3] [--seconds 30] [--warmup 5] [--out FILE]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { connect, type Client } from '../lib/client/client.js';
import { Histogram } from './support/histogram.js';
import { environment, runMain } from './support/main.js';
import { round } from './support/phases.js';
import { killChildren, sleep, track } from './support/proc.js';

const BIN = fileURLToPath(new URL('../bin/hashpub.js', import.meta.url));
const { values: args } = parseArgs({ options: {
  players: { type: 'string', default: '50' }, nodes: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '30' }, warmup: { type: 'string', default: '5' }, out: { type: 'string' },
} });
const PLAYERS = Number(args.players);
const NODES = Number(args.nodes);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const log = (msg: string) => process.stderr.write(`[game] ${msg}\n`);

interface Bot { name: string; url: string; client: Client; updates: number; measuring: boolean; latency: Histogram; acked: number; refused: number }

/** utime+stime of a process, seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function startDemo(): Promise<{ pid: number; urls: string[] }> {
  const child = track(spawn(process.execPath, [BIN, 'demo', '--nodes', String(NODES), '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo not ready in 60 s: ${out}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^\s+nodes\s+(.+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ pid: child.pid!, urls: m[1]!.trim().split(/\s+/) });
      }
    });
    child.on('exit', (code) => reject(new Error(`demo exited (${code}): ${out}`)));
  });
}

async function bot(i: number, url: string): Promise<Bot> {
  const name = `bot${i}`;
  const res = await fetch(`${url}/demo/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  const { token } = await res.json() as { token: string };
  const client = connect(url, { token, WebSocket: WebSocket as never, transports: ['websocket'] });
  const b: Bot = { name, url, client, updates: 0, measuring: false, latency: new Histogram(), acked: 0, refused: 0 };
  client.subscribe('game:state', (m) => {
    if (!b.measuring) return;
    b.updates++;
    b.latency.record(Date.now() - (m.data as { t: number }).t);
  });
  return b;
}

async function main(): Promise<void> {
  const demo = await startDemo();
  log(`demo up: ${demo.urls.join(' ')}; ${PLAYERS} bots joining`);
  const bots: Bot[] = [];
  for (let i = 0; i < PLAYERS; i++) bots.push(await bot(i, demo.urls[i % demo.urls.length]!));
  let steering = true;
  const steer = (async () => {
    while (steering) {
      await Promise.all(bots.map(async (b) => {
        const input = { turn: Math.floor(Math.random() * 3) - 1, thrust: Math.random() < 0.6, fire: Math.random() < 0.3 };
        try {
          await b.client.publish('game:input', input);
          if (b.measuring) b.acked++;
        } catch {
          if (b.measuring) b.refused++;
        }
      }));
      await sleep(250);
    }
  })();
  await sleep(WARMUP * 1000);
  const cpu0 = cpuSeconds(demo.pid);
  const t0 = Date.now();
  for (const b of bots) b.measuring = true;
  await sleep(SECONDS * 1000);
  for (const b of bots) b.measuring = false;
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = (cpuSeconds(demo.pid) - cpu0) / elapsed;
  steering = false;
  await steer;
  for (const b of bots) b.client.close();

  const rates = bots.map((b) => b.updates / elapsed).sort((a, b) => a - b);
  const all = new Histogram();
  for (const b of bots) all.merge(b.latency.toJSON());
  const lat = all.summary();
  const result = {
    bench: 'game',
    what: 'game demo: bots across nodes, updates/s per player and tick-to-screen latency',
    date: new Date().toISOString(),
    config: { players: PLAYERS, nodes: NODES, seconds: SECONDS, warmupSeconds: WARMUP, ticksPerSecond: 20, inputEveryMs: 250, demoProcesses: 1 },
    updatesPerSecondPerPlayer: { min: round(rates[0]!, 2), p50: round(rates[Math.floor(rates.length / 2)]!, 2), mean: round(rates.reduce((a, b) => a + b, 0) / rates.length, 2), max: round(rates.at(-1)!, 2) },
    tickToScreenMs: { p50: round(lat.p50 ?? 0, 2), p90: round(lat.p90 ?? 0, 2), p99: round(lat.p99 ?? 0, 2), max: round(lat.max ?? 0, 2), mean: round(lat.mean ?? 0, 2), samples: lat.count },
    inputs: { acknowledged: bots.reduce((n, b) => n + b.acked, 0), refused: bots.reduce((n, b) => n + b.refused, 0) },
    demoProcessCpuPercentOfOneCore: round(cpu * 100, 1),
    environment: environment(),
  };
  const out = args.out ?? fileURLToPath(new URL(`../../bench/results/game-${result.date.slice(0, 10)}.json`, import.meta.url));
  mkdirSync(new URL('.', `file://${out}`).pathname, { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  log(`updates/s per player: min ${result.updatesPerSecondPerPlayer.min}, median ${result.updatesPerSecondPerPlayer.p50} (20 = every tick)`);
  log(`tick-to-screen: p50 ${result.tickToScreenMs.p50} ms, p99 ${result.tickToScreenMs.p99} ms, max ${result.tickToScreenMs.max} ms`);
  log(`inputs acknowledged ${result.inputs.acknowledged}, refused ${result.inputs.refused}; demo process CPU ${result.demoProcessCpuPercentOfOneCore}% of one core`);
  log(`saved ${out}`);
}

runMain(main, { log, killAll: killChildren, hardStopMs: (SECONDS + WARMUP + 120) * 1000 });
