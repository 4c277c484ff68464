/**
 * Bench server child, peer: Pushpin (Debian package `pushpin`, 1.3x) serving Server-Sent Events.
 * This child is the glue: it writes a config into a temp dir (every port on 127.0.0.1, run and log dirs in the
 * temp dir, the per-second message rate limiter effectively off: message_rate / message_hwm 1e8 instead of
 * the stock 2500 / 25000), runs `pushpin --config` (condure + zurl + pushpin-proxy + pushpin-handler) and is the
 * origin: GET /stream answers a GRIP hold-stream response (Grip-Hold: stream, Grip-Channel: <channel>) with a
 * ":ok" preamble. Publishing goes straight to Pushpin's HTTP publish endpoint (POST /publish/ on the handler's
 * push_in_http_port) with an http-stream item "data: <json>\n\n".
 * Stats over IPC (same shape as bench/servers/control.ts) are the SUM over Pushpin's own processes (the
 * `pushpin` runner and its descendants), read from /proc/<pid>/stat (utime+stime) and /proc/<pid>/status
 * (VmRSS); this Node origin is not counted (it only answers each subscriber's first request).
 * Prints {"url","publishUrl"} as JSON on stdout. Env: BENCH_SERVER_CPU (taskset -c list for Pushpin),
 * BENCH_CHANNEL (default "bench"), PUSHPIN_BIN (default /usr/bin/pushpin).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerRequest, ServerStats } from '../support/ipc.js';

if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');
const BIN = process.env.PUSHPIN_BIN ?? '/usr/bin/pushpin';
const CHANNEL = process.env.BENCH_CHANNEL ?? 'bench';
const CLK_TCK = 100;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`pushpin: port ${port} not listening after ${ms} ms`);
}

/** The pid and every descendant of it (from /proc/<pid>/stat ppid fields). */
function tree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

function usage(pids: number[]): { userUs: number; sysUs: number; rss: number; procs: Record<string, number> } {
  let user = 0, sys = 0, rss = 0;
  const procs: Record<string, number> = {};
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]);
      sys += Number(f[12]);
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      const r = m ? Number(m[1]) * 1024 : 0;
      rss += r;
      procs[name] = (procs[name] ?? 0) + r;
    } catch { /* gone */ }
  }
  return { userUs: (user * 1e6) / CLK_TCK, sysUs: (sys * 1e6) / CLK_TCK, rss, procs };
}

if (!existsSync(BIN)) {
  process.stdout.write(JSON.stringify({ error: `${BIN} not found` }) + '\n');
  process.exit(3);
}

const dir = await mkdtemp(join(tmpdir(), 'hashpub-bench-pushpin-'));
await mkdir(join(dir, 'run'));
await mkdir(join(dir, 'log'));

const origin: Server = createServer((req, res) => {
  if (!(req.url ?? '').startsWith('/stream')) return void res.writeHead(404).end();
  res.writeHead(200, {
    'content-type': 'text/event-stream', 'cache-control': 'no-cache',
    'grip-hold': 'stream', 'grip-channel': CHANNEL,
  }).end(':ok\n\n');
});
origin.keepAliveTimeout = 60_000;
await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
const originPort = (origin.address() as AddressInfo).port;
const [httpPort, pushIn, pushInSub, pushHttp, command] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];

const conf = `[global]
include={libdir}/internal.conf
rundir=${dir}/run
ipc_prefix=pushpin-bench-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:${httpPort}
logdir=${dir}/log
log_level=1
client_buffer_size=8192
client_maxconn=20000

[proxy]
routesfile=${dir}/routes
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=bench-not-secret
updates_check=off
zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in
zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream
zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out

[handler]
push_in_spec=tcp://127.0.0.1:${pushIn}
push_in_sub_specs=tcp://127.0.0.1:${pushInSub}
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=${pushHttp}
push_in_http_max_headers_size=10000
push_in_http_max_body_size=1000000
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=tcp://127.0.0.1:${command}
# stock: message_rate=2500, message_hwm=25000 (caps deliveries at ~2.5k/s); effectively off here
message_rate=100000000
message_hwm=100000000
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
`;
await writeFile(join(dir, 'pushpin.conf'), conf);
await writeFile(join(dir, 'routes'), `* 127.0.0.1:${originPort}\n`);

const cpu = process.env.BENCH_SERVER_CPU;
const useTaskset = !!cpu && existsSync('/usr/bin/taskset');
const pp: ChildProcess = spawn(useTaskset ? '/usr/bin/taskset' : BIN,
  [...(useTaskset ? ['-c', cpu!, BIN] : []), '--config', join(dir, 'pushpin.conf')],
  { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: false });
let errTail = '';
pp.stderr!.on('data', (b: Buffer) => { errTail = (errTail + b).slice(-2000); });

let exiting = false;
async function exit(code = 0): Promise<void> {
  if (exiting) return;
  exiting = true;
  setTimeout(() => process.exit(code), 6000).unref();
  const pids = pp.pid ? tree(pp.pid) : [];
  if (pp.exitCode === null && pp.signalCode === null) {
    const gone = new Promise<void>((r) => pp.once('exit', () => r()));
    pp.kill('SIGTERM');
    await Promise.race([gone, sleep(3000)]);
  }
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  origin.closeAllConnections();
  origin.close();
  await rm(dir, { recursive: true, force: true }).catch(() => {});
  process.exit(code);
}
pp.once('exit', (code, signal) => {
  if (!exiting) {
    process.stderr.write(`pushpin exited (${code} ${signal}): ${errTail}\n`);
    void exit(4);
  }
});
process.on('disconnect', () => void exit());
process.on('SIGTERM', () => void exit());
process.on('SIGINT', () => void exit());

process.on('message', (raw) => {
  const m = raw as ServerRequest;
  if (m.cmd === 'exit') return void exit();
  if (m.cmd === 'stats') {
    const u = usage(tree(pp.pid!).filter((p) => p !== process.pid));
    const reply: ServerStats & { procs: Record<string, number> } = {
      ev: 'stats', id: m.id,
      mem: { rss: u.rss, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 },
      cpu: { user: u.userUs, system: u.sysUs },
      eld: { maxMs: 0, p99Ms: 0, meanMs: 0 },
      procs: u.procs,
    };
    process.send!(reply);
  }
});

try {
  await waitPort(httpPort, 20_000);
  await waitPort(pushHttp, 20_000);
} catch (err) {
  process.stderr.write(`${String(err)}: ${errTail}\n`);
  await exit(5);
}
// The runner's own pid is the root of the tree; confirm its services are up.
const names = Object.keys(usage(tree(pp.pid!)).procs);
process.stdout.write(JSON.stringify({
  url: `http://127.0.0.1:${httpPort}`, publishUrl: `http://127.0.0.1:${pushHttp}`, pid: process.pid,
  server: 'pushpin', processes: names,
  version: spawnSync(BIN, ['--version'], { encoding: 'utf8' }).stdout.trim(),
}) + '\n');
