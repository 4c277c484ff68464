/**
 * ClusterControl over CLI processes on loopback, exactly as a user runs them: one `hashpub bootstrap` and N
 * `hashpub start` processes, each with its own data dir (or `--data :memory:`). kill -9, SIGSTOP/SIGCONT, and a
 * restart on the same data dir and port. Spawning goes through bench/hashpub-cluster.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli, stopCli, waitOutput, type CliProc } from '../hashpub-cluster.js';
import { sleep } from '../support/proc.js';
import type { ChaosNode, ClusterControl, NodeState } from './cluster.js';
import { call } from './http.js';

export interface ProcessClusterOptions {
  nodes: number;
  /** Path of dist/bin/hashpub.js. */
  bin: string;
  /** `--data :memory:` instead of a temp data dir per node. */
  memory: boolean;
  apiKey: string;
  jwtSecret: string;
  /** Cluster name and secret (`--cluster`, `--secret`). */
  name: string;
  secret: string;
  /** More flags for every `hashpub start` (e.g. `--min-copies 1`). */
  extraArgs: string[];
  /** Gets every spawned child, so the caller can kill it on exit. */
  track: (c: ChildProcess) => void;
}

interface ProcNode extends ChaosNode {
  url: string;
  id: string;
  state: NodeState;
  port: number;
  data: string;
  proc: CliProc | null;
}

const READY = /hashpub node ready at (http:\/\/\S+)/;
const gone = (p: CliProc) => p.child.exitCode !== null || p.child.signalCode !== null;

export class ProcessCluster implements ClusterControl {
  readonly mode = 'processes';
  readonly apiKey: string;
  readonly jwtSecret: string;
  private boot: CliProc | null = null;
  private bootAddr = '';
  private readonly list: ProcNode[] = [];

  constructor(private readonly o: ProcessClusterOptions) {
    this.apiKey = o.apiKey;
    this.jwtSecret = o.jwtSecret;
  }

  nodes(): readonly ChaosNode[] {
    return this.list;
  }

  async start(): Promise<void> {
    this.boot = spawnCli(this.o.bin, ['bootstrap', '--host', '127.0.0.1', '--port', '0'], null, this.o.track);
    const [, addr] = await waitOutput(this.boot, /bootstrap listening on (127\.\d+\.\d+\.\d+:\d+)/, 15_000, 'bootstrap');
    this.bootAddr = addr!;
    for (let i = 0; i < this.o.nodes; i++) {
      const data = this.o.memory ? ':memory:' : mkdtempSync(join(tmpdir(), 'hashpub-chaos-'));
      this.list.push({ index: i, url: '', id: '', state: 'down', port: 0, data, proc: null });
    }
    await Promise.all(this.list.map((n) => this.launch(n)));
    await this.converge(60_000);
  }

  async kill(i: number): Promise<void> {
    const n = this.node(i);
    const p = n.proc;
    n.state = 'down';
    if (!p || gone(p)) return;
    const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
    p.child.kill('SIGKILL');
    await Promise.race([exited, sleep(5000)]);
  }

  async restart(i: number): Promise<void> {
    const n = this.node(i);
    if (n.proc && !gone(n.proc)) throw new Error(`node ${i} is still running`);
    await this.launch(n);
  }

  async pause(i: number): Promise<void> {
    const n = this.node(i);
    n.proc?.child.kill('SIGSTOP');
    n.state = 'paused';
  }

  async resume(i: number): Promise<void> {
    const n = this.node(i);
    n.proc?.child.kill('SIGCONT');
    n.state = 'up';
  }

  async converge(ms: number): Promise<number> {
    const t0 = Date.now();
    let views: string[] = [];
    for (;;) {
      const up = this.list.filter((n) => n.state === 'up');
      views = await Promise.all(up.map(async (n) => {
        const r = await call(n.url, 'GET', '/v1/cluster', this.apiKey, undefined, 2000);
        if (r.kind !== 'http' || r.status !== 200) return '?';
        n.id = r.body.self as string;
        return (r.body.members as Array<{ id: string }>).map((m) => m.id).sort().join(',');
      }));
      const want = up.map((n) => n.id).sort().join(',');
      if (views.every((v) => v === want)) return Date.now() - t0;
      if (Date.now() - t0 > ms) {
        const short = (v: string) => v.split(',').map((id) => id.slice(0, 6)).join('+');
        throw new Error(`cluster did not converge in ${ms} ms: up nodes ${up.map((n) => `${n.index}:${short(n.id)} sees ${short(views[up.indexOf(n)]!)}`).join('; ')}`);
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    for (const n of this.list) if (n.state === 'paused') n.proc?.child.kill('SIGCONT');
    await Promise.all(this.list.map((n) => (n.proc ? stopCli(n.proc) : undefined)));
    if (this.boot) await stopCli(this.boot);
    for (const n of this.list) if (n.data !== ':memory:') rmSync(n.data, { recursive: true, force: true });
  }

  private node(i: number): ProcNode {
    const n = this.list[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  /** Spawns `hashpub start` for `n` (port 0 the first time, then the same port) and waits for /healthz 200. */
  private async launch(n: ProcNode): Promise<void> {
    const o = this.o;
    const args = ['start', '--host', '127.0.0.1', '--port', String(n.port), '--data', n.data, '--bootstrap', this.bootAddr,
      '--cluster', o.name, '--secret', o.secret, '--api-key', o.apiKey, '--jwt-secret', o.jwtSecret, '--log-level', 'warn', ...o.extraArgs];
    const proc = spawnCli(o.bin, args, null, o.track);
    n.proc = proc;
    const [, url] = await waitOutput(proc, READY, 60_000, `node ${n.index}`);
    n.url = url!;
    n.port = Number(new URL(url!).port);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const health = await call(n.url, 'GET', '/healthz', o.apiKey, undefined, 2000);
      const r = health.kind === 'http' && health.status === 200 ? await call(n.url, 'GET', '/v1/cluster', o.apiKey, undefined, 2000) : health;
      if (r.kind === 'http' && r.status === 200) {
        n.id = r.body.self as string;
        break;
      }
      if (gone(proc)) throw new Error(`node ${n.index} exited: ${proc.tail()}`);
      if (Date.now() > deadline) throw new Error(`node ${n.index} not ready in 30 s`);
      await sleep(50);
    }
    n.state = 'up';
  }
}
