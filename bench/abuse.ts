/**
 * Abuse by one client (issue #14): a single anonymous WebSocket (`--allow-anonymous`) subscribes to N distinct
 * channels (default 50,000) as fast as the node answers, IN_FLIGHT requests outstanding at a time. Measured: how
 * many subscriptions the node accepted and refused (by code), when the first refusal came, whether and how the
 * node closed the connection, the time until every request was answered or the socket closed, and the node
 * process's RSS (VmRSS) before the client connected, at its peak, and 3 s after the client left.
 * The node is `hashpub start` as a child process (--data :memory:), so its RSS is its own.
 * Results: bench/results/abuse-<label>.json and a line on stdout.
 * Run: npm run build && node dist/bench/abuse.js [--label defaults] [--channels 50000] [--in-flight 1000] [--bin PATH/dist/bin/hashpub.js]
 *      [-- extra flags for hashpub start, e.g. --max-subscriptions-per-connection 0]
 *   --bin runs another build (e.g. main before the limits) to reproduce the baseline.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { environment, runMain } from './support/main.js';
import { killChildren, sleep, track } from './support/proc.js';

const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
const extra = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
const arg = (name: string, def: string) => {
  const at = own.indexOf(`--${name}`);
  return at >= 0 ? own[at + 1]! : def;
};
const BIN = arg('bin', fileURLToPath(new URL('../bin/hashpub.js', import.meta.url)));
const CHANNELS = Number(arg('channels', '50000'));
const LABEL = arg('label', 'defaults');
/** Subscribe requests outstanding at a time (50000 = all sent at once). */
const IN_FLIGHT = Number(arg('in-flight', '1000'));
const log = (msg: string) => process.stdout.write(`[abuse] ${msg}\n`);

/** VmRSS of a process, MB. */
function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

async function startNode(): Promise<{ url: string; pid: number }> {
  const child = track(spawn(process.execPath, [BIN, 'start', '--port', '0', '--data', ':memory:', '--allow-anonymous', '--log-level', 'error', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /hashpub node ready at (\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, pid: child.pid! });
    });
    child.once('exit', (code) => reject(new Error(`node exited (${code}) before it was ready: ${out}`)));
  });
}

async function main(): Promise<void> {
  const node = await startNode();
  await sleep(2000); // let start-up allocations settle
  const rssBefore = rssMB(node.pid);
  log(`node ${node.url} pid ${node.pid}, RSS ${rssBefore} MB; subscribing to ${CHANNELS} channels on one connection`);
  const ws = new WebSocket(node.url.replace(/^http/, 'ws') + '/v1/ws');
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  let peak = rssBefore;
  const sampler = setInterval(() => { peak = Math.max(peak, rssMB(node.pid)); }, 100);
  const t0 = performance.now();
  let accepted = 0;
  let firstRefusalAt: number | null = null;
  const refused: Record<string, number> = {};
  let sent = 0;
  let answered = 0;
  let closed: { code: number; reason: string; atMs: number } | null = null;
  const done = new Promise<void>((resolve) => {
    const sendMore = () => {
      while (sent < CHANNELS && sent - answered < IN_FLIGHT && ws.readyState === WebSocket.OPEN) {
        sent++;
        ws.send(JSON.stringify({ type: 'subscribe', id: sent, channel: `abuse-${sent}` }));
      }
    };
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type: string; id?: number; code?: string };
      if (f.type === 'connected') return sendMore();
      if (f.id === undefined) return;
      answered++;
      if (f.type === 'subscribed') accepted++;
      else if (f.type === 'error') {
        refused[f.code!] = (refused[f.code!] ?? 0) + 1;
        firstRefusalAt ??= answered;
      }
      if (answered >= CHANNELS) resolve();
      else sendMore();
    });
    ws.on('close', (code, reason) => {
      closed = { code, reason: reason.toString(), atMs: Math.round(performance.now() - t0) };
      resolve();
    });
    ws.send(JSON.stringify({ type: 'connect' }));
  });
  await done;
  const closedByNode = closed;
  const elapsedMs = Math.round(performance.now() - t0);
  const rssAtEnd = rssMB(node.pid);
  ws.close();
  await sleep(3000);
  clearInterval(sampler);
  const rssAfter = rssMB(node.pid);
  const result = {
    bench: 'abuse', label: LABEL, date: new Date().toISOString(), bin: BIN, flags: extra, channels: CHANNELS, inFlight: IN_FLIGHT,
    accepted, refused, unanswered: sent - answered, notSent: CHANNELS - sent, firstRefusalAtAnswer: firstRefusalAt, closedByNode, elapsedMs,
    rssMB: { before: rssBefore, peak: Math.max(peak, rssAtEnd), atEnd: rssAtEnd, after3s: rssAfter, growthAtEnd: Math.round((rssAtEnd - rssBefore) * 10) / 10 },
    environment: environment(),
  };
  log(`${LABEL}: accepted ${accepted}, refused ${JSON.stringify(refused)}, closed by node ${JSON.stringify(closedByNode)}, ${elapsedMs} ms, ` +
    `RSS ${rssBefore} -> ${result.rssMB.atEnd} MB (peak ${result.rssMB.peak})`);
  const outDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const file = `${outDir}abuse-${LABEL}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${file}`);
}

runMain(main, { log, killAll: killChildren, hardStopMs: 10 * 60_000 });
