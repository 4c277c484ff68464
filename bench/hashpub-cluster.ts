/**
 * A minimal hashpub cluster for bench/run.ts and bench/cluster/fanout.ts: one `hashpub bootstrap` process plus N
 * `hashpub start` processes on loopback, spawned with the CLI exactly as a user would (each under `ulimit -n 20000`,
 * optionally pinned with `taskset -c`). Ready when every node's GET /healthz is 200 and its GET /v1/cluster lists all N members.
 * CPU and RSS come from /proc/<pid>/stat and /proc/<pid>/status of the node processes (summed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../lib/cli/node-flags.js';
import { sleep } from './support/proc.js';

const CLK_TCK = 100; // Linux USER_HZ
/** `ulimit -n` of every node process. */
export const FD_LIMIT = 20_000;

/** A spawned CLI process: the child, its stdout so far (last 20 kB) and its stderr tail (last 4 kB). */
export interface CliProc { child: ChildProcess; out: () => string; tail: () => string }

export interface ClusterOptions {
  nodes: number;
  bin: string;
  apiKey: string;
  /** taskset -c list for the node processes, or null. */
  cpus: string | null;
  /** Called with every spawned child, so the caller can kill it on exit. */
  track: (c: ChildProcess) => void;
  name?: string;
  /** Collects the nodes' data dirs (also removed by stop()), e.g. to remove them on a signal. */
  dataDirs?: string[];
  /** Extra `hashpub start` flags for every node (e.g. --min-copies 1). */
  extraArgs?: string[];
  /** Run the nodes with `--data :memory:` instead of a temp data dir each. @default false */
  memory?: boolean;
  /** Give every node a fixed free HTTP port instead of `--port 0` (an in-memory node's id follows its port). @default false */
  stablePorts?: boolean;
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `id`: the node's own id (GET /v1/cluster "self"), known once start() resolves. */
export interface NodeProc { url: string; id: string; pid: number; proc: CliProc; data: string }

/** Spawns `node <bin> ...args` under `ulimit -n FD_LIMIT` (optionally pinned with taskset); `track` gets the child. */
export function spawnCli(bin: string, args: string[], cpus: string | null, track: (c: ChildProcess) => void): CliProc {
  const cmd = [...(cpus && existsSync('/usr/bin/taskset') ? ['/usr/bin/taskset', '-c', cpus] : []), process.execPath, ...nodeFlags(), bin, ...args];
  const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${FD_LIMIT} && exec ${quoted}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HASHPUB_'))),
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => { out = (out + b).slice(-20_000); });
  child.stderr!.on('data', (b: Buffer) => { err = (err + b).slice(-4000); });
  // BENCH_NODE_LOG_DIR keeps every process's whole stderr (the nodes' logs) for digging.
  const logDir = process.env.BENCH_NODE_LOG_DIR;
  if (logDir) child.stderr!.pipe(createWriteStream(join(logDir, `${Date.now()}-${child.pid}.log`)));
  return { child, out: () => out, tail: () => err };
}

/** The Node.js flags of `hashpub start` (lib/cli/node-flags.ts), then any from BENCH_NODE_FLAGS (later ones win). */
function nodeFlags(): string[] {
  return [...NODE_FLAGS, ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
}

/** Waits until the process's stdout matches `re`; throws if it exits first or after `ms`. */
export async function waitOutput(p: CliProc, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(p.out());
    if (m) return m;
    if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${what} exited: ${p.tail()}`);
    if (Date.now() > deadline) throw new Error(`${what}: no ${re} in ${ms} ms: ${p.tail()}`);
    await sleep(25);
  }
}

/**
 * SIGTERM, then SIGKILL after 5 s (BENCH_STOP_GRACE_MS: longer, e.g. for nodes started with BENCH_NODE_FLAGS=--cpu-prof
 * that write their profile on exit); resolves once the process is gone (or a second after the SIGKILL).
 */
export async function stopCli(p: CliProc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  await Promise.race([gone, sleep(Number(process.env.BENCH_STOP_GRACE_MS) || 5000)]);
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGKILL');
    await Promise.race([gone, sleep(1000)]);
  }
}

async function get(url: string, key: string, timeoutMs = 5000): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

export class HashpubCluster {
  private bootAddr = '';

  private constructor(readonly bootstrap: CliProc, readonly nodes: NodeProc[], private readonly o: ClusterOptions) {}

  static async start(o: ClusterOptions): Promise<HashpubCluster> {
    const boot = spawnCli(o.bin, ['bootstrap', '--host', '127.0.0.1', '--port', '0'], o.cpus, o.track);
    const cluster = new HashpubCluster(boot, [], o);
    try {
      const [, addr] = await waitOutput(boot, /bootstrap listening on (127\.\d+\.\d+\.\d+:\d+)/, 15_000, 'bootstrap');
      cluster.bootAddr = addr!;
      await Promise.all(Array.from({ length: o.nodes }, (_, i) => cluster.startNode(i)));
      await cluster.converged(60_000);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /**
   * Spawns node `i` and waits until it is ready. `restart`: node `i` exited; it starts again on its data dir and
   * HTTP port, so it keeps its id (with `memory`, ids follow the port: see `stablePorts`). Otherwise a fresh node
   * takes the place (the data dir of an exited one there is removed).
   */
  async startNode(i: number, restart = false): Promise<NodeProc> {
    const o = this.o;
    const old = this.nodes[i];
    const exited = !!old && (old.proc.child.exitCode !== null || old.proc.child.signalCode !== null);
    if (restart && !exited) throw new Error(`node ${i} is still running`);
    let data: string;
    let port = o.stablePorts ? await freePort() : 0;
    if (restart) {
      data = old!.data;
      port = Number(new URL(old!.url).port);
    } else {
      if (exited && old!.data !== ':memory:') rmSync(old!.data, { recursive: true, force: true });
      data = o.memory ? ':memory:' : mkdtempSync(join(tmpdir(), 'hashpub-bench-node-'));
      if (!o.memory) o.dataDirs?.push(data);
    }
    const proc = spawnCli(o.bin, ['start', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--bootstrap', this.bootAddr,
      '--cluster', o.name ?? 'bench', '--secret', 'bench-secret', '--api-key', o.apiKey,
      '--jwt-secret', 'bench-jwt-secret-0123456789', '--allow-anonymous', '--log-level', 'warn', ...(o.extraArgs ?? [])], o.cpus, o.track);
    const node: NodeProc = { url: '', id: '', pid: proc.child.pid!, proc, data };
    this.nodes[i] = node;
    const [, url] = await waitOutput(proc, /hashpub node ready at (http:\/\/\S+)/, 60_000, `node ${i}`);
    node.url = url!;
    return node;
  }

  /** Waits until every node answers /healthz and lists all nodes in GET /v1/cluster (fills in their ids). */
  async converged(timeoutMs: number): Promise<void> {
    const n = this.nodes.length;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(this.nodes.map(async (node) => {
        try {
          if ((await get(`${node.url}/healthz`, this.o.apiKey)).status !== 200) return -1;
          const r = await get(`${node.url}/v1/cluster`, this.o.apiKey);
          if (r.status !== 200) return -1;
          const view = JSON.parse(r.text) as { self: string; members: unknown[] };
          node.id = view.self;
          return view.members.length;
        } catch { return -1; }
      }));
      if (views.every((v) => v === n)) return;
      if (Date.now() > deadline) throw new Error(`cluster of ${n} did not converge: member views ${views.join(',')}`);
      await sleep(100);
    }
  }

  /** The node processes' pids (the sh wrappers exec node, so the pid is node's). */
  pids(): number[] {
    return this.nodes.filter(Boolean).map((n) => n.pid);
  }

  /** How many members each node lists in GET /v1/cluster (-1: no answer in 10 s). */
  memberCounts(): Promise<number[]> {
    return Promise.all(this.nodes.map(async (n) => {
      try {
        return (JSON.parse((await get(`${n.url}/v1/cluster`, this.o.apiKey, 10_000)).text) as { members: unknown[] }).members.length;
      } catch { return -1; }
    }));
  }

  /** CPU microseconds (user, system) and RSS bytes summed over the node processes. */
  usage(): { user: number; system: number; rss: number; rssPerNode: number[] } {
    let user = 0, system = 0;
    const rssPerNode: number[] = [];
    for (const pid of this.pids()) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        user += (Number(f[11]) * 1e6) / CLK_TCK;
        system += (Number(f[12]) * 1e6) / CLK_TCK;
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        rssPerNode.push(m ? Number(m[1]) * 1024 : 0);
      } catch { rssPerNode.push(0); }
    }
    return { user, system, rss: rssPerNode.reduce((a, b) => a + b, 0), rssPerNode };
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.filter(Boolean).map((n) => stopCli(n.proc)));
    await stopCli(this.bootstrap);
    for (const n of this.nodes.filter(Boolean)) if (n.data !== ':memory:') rmSync(n.data, { recursive: true, force: true });
  }
}
