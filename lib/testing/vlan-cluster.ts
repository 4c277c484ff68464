// A hashpub cluster across the hosts of a virtual LAN, run from the CLI as an operator would: `hashpub
// bootstrap` on the bootstrap host, one `hashpub start` per host. Per-host process control (kill -9, SIGSTOP/
// SIGCONT, restart on the same data dir) and link cuts for failure and partition tests.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signToken } from '../auth/tokens.js';
import { HASHPUB_BIN, spawnProcess, type TestProcess } from './process.js';
import { restClient } from './rest.js';
import { createVirtualLan, type LanHost, type VirtualLan } from './vlan.js';

/** Options of createVlanCluster(). */
export interface VlanClusterOptions {
  /** Number of hosts, one node each. @default 3 */
  hosts?: number;
  /**
   * How nodes bind. "lan": `--host 0.0.0.0 --dht-host <cluster address>` (HTTP answers on the control network
   * too, so a cut host stays observable). "host": `--host <cluster address>` only, as on a one-network machine.
   * @default "lan"
   */
  bind?: 'lan' | 'host';
  /** `--data` of every node: a temp dir per host (kept across restart()), or ":memory:". @default temp dirs */
  data?: ':memory:';
  /** More `hashpub start` flags for every node. @default [] */
  args?: string[];
  /** @default "warn" */
  logLevel?: string;
  /** Longest wait for a node to print it is ready, and for views to agree. @default 30000 */
  timeoutMs?: number;
  /** Start the nodes (else call start() on each). @default true */
  start?: boolean;
}

/** One host's node. */
export interface VlanNode {
  readonly index: number;
  readonly host: LanHost;
  /** Node id (known after the first start). */
  readonly id: string;
  /** The URL the node advertises (cluster network). */
  readonly url: string;
  /** A URL the test process can always use (control network in "lan" mode). */
  readonly controlUrl: string;
  readonly dataDir: string;
  readonly apiKey: string;
  /** REST call through controlUrl with the API key. */
  api: ReturnType<typeof restClient>;
  /** Signs a client token with the cluster's JWT secret. */
  token(user: string, opts?: Parameters<typeof signToken>[2]): Promise<string>;
  /** The running process, or null. */
  readonly proc: TestProcess | null;
  /** Starts `hashpub start` (again, same data dir and ports) and waits until it prints it is ready. */
  start(): Promise<void>;
  /** Sends a signal: SIGKILL (default) and SIGTERM wait until the process is gone; SIGSTOP/SIGCONT pause/resume it. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** kill('SIGSTOP'): the process stays but answers nothing. */
  pause(): Promise<void>;
  /** kill('SIGCONT'). */
  resume(): Promise<void>;
  /** kill -9 then start() on the same data dir. */
  restart(): Promise<void>;
  /** Member ids this node lists in GET /v1/cluster (sorted), or null when it does not answer. */
  view(): Promise<string[] | null>;
}

/** A running cluster on a virtual LAN. */
export interface VlanCluster {
  readonly lan: VirtualLan;
  /** "HOST:PORT" of the bootstrap (on the cluster network). */
  readonly bootstrap: string;
  readonly nodes: readonly VlanNode[];
  /** The API key every node was started with. */
  readonly apiKey: string;
  /** The JWT secret every node signs and checks client tokens with. */
  readonly jwtSecret: string;
  /** Takes host i's cluster link down (its node stays up and reachable on controlUrl). */
  cut(i: number): void;
  heal(i: number): void;
  /** Waits until each of `group` (default: every running node) lists exactly the ids of `group`. */
  converged(group?: readonly VlanNode[], timeoutMs?: number): Promise<void>;
  /** Kills every process and removes the LAN and data dirs. */
  close(): Promise<void>;
}

/** Data dirs are named <tmp>/hashpub-vlan-<pid>-XXXXXX, so those of a killed test process can be found. */
const DIR_PREFIX = 'hashpub-vlan-';
const HTTP_PORT = 8080;
const DHT_PORT = 49738;
const BOOTSTRAP_PORT = 49737;
const API_KEY = 'vlan-api-key';
const JWT_SECRET = 'vlan-jwt-secret-0123456789';
const SECRET = 'vlan-cluster-secret';

/** Builds a virtual LAN, starts a bootstrap and a node per host; resolves once every view lists every node. */
export async function createVlanCluster(options: VlanClusterOptions = {}): Promise<VlanCluster> {
  const { hosts = 3, bind = 'lan', args = [], logLevel = 'warn', timeoutMs = 30_000, start = true } = options;
  removeStaleDirs();
  const lan = createVirtualLan({ hosts });
  const procs = new Set<TestProcess>();
  const dirs: string[] = [];
  const run = (host: LanHost, argv: string[]): TestProcess => {
    const [file, fileArgs] = lan.command(host, [process.execPath, HASHPUB_BIN, ...argv]);
    const p = spawnProcess(file, fileArgs, { cwd: tmpdir() });
    procs.add(p);
    void p.exited.then(() => procs.delete(p));
    return p;
  };
  // Data dirs go with the LAN even when the process exits without close() (vlan.ts tears the LAN down on exit).
  const removeDirs = () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); };
  process.on('exit', removeDirs);
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= (async () => {
    await Promise.all([...procs].map((p) => p.kill('SIGKILL')));
    lan.close();
    removeDirs();
    process.off('exit', removeDirs);
  })());

  try {
    const bootstrap = `${lan.bootstrapHost.address}:${BOOTSTRAP_PORT}`;
    const boot = run(lan.bootstrapHost, ['bootstrap', '--host', lan.bootstrapHost.address, '--port', String(BOOTSTRAP_PORT)]);
    await boot.waitFor(/bootstrap listening on (\S+)/, timeoutMs);
    const nodes = lan.hosts.map((host) => {
      const dataDir = options.data ?? mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
      if (dataDir !== ':memory:') dirs.push(dataDir);
      const bindArgs = bind === 'lan' ? ['--host', '0.0.0.0', '--dht-host', host.address] : ['--host', host.address];
      const argv = ['start', ...bindArgs, '--port', String(HTTP_PORT), '--dht-port', String(DHT_PORT), '--bootstrap', bootstrap,
        '--data', dataDir, '--secret', SECRET, '--api-key', API_KEY, '--jwt-secret', JWT_SECRET, '--log-level', logLevel, ...args];
      const controlUrl = `http://${bind === 'lan' ? host.control : host.address}:${HTTP_PORT}`;
      return new Node(host, dataDir, controlUrl, () => run(host, argv), timeoutMs);
    });
    const cluster: VlanCluster = {
      lan, bootstrap, nodes, apiKey: API_KEY, jwtSecret: JWT_SECRET,
      cut: (i) => lan.cut(i),
      heal: (i) => lan.heal(i),
      async converged(group = nodes.filter((n) => n.proc?.running()), ms = timeoutMs) {
        const want = group.map((n) => n.id).sort().join(',');
        const deadline = Date.now() + ms;
        for (;;) {
          const views = await Promise.all(group.map((n) => n.view()));
          if (views.every((v) => v?.join(',') === want)) return;
          if (Date.now() > deadline) {
            throw new Error(`views did not agree within ${ms} ms; want ${short(want)}, got ` +
              views.map((v, i) => `node ${group[i]!.index}: ${v ? short(v.join(',')) : 'no answer'}`).join('; '));
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      close,
    };
    if (start) {
      await Promise.all(nodes.map((n) => n.start()));
      await cluster.converged();
    }
    return cluster;
  } catch (err) {
    await close();
    throw err;
  }
}

/** Removes data dirs left by test processes that died without cleaning up (kill -9). */
function removeStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^hashpub-vlan-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

class Node implements VlanNode {
  id = '';
  url = '';
  readonly apiKey = API_KEY;
  readonly api: ReturnType<typeof restClient>;
  proc: TestProcess | null = null;

  constructor(readonly host: LanHost, readonly dataDir: string, readonly controlUrl: string,
    private readonly spawn: () => TestProcess, private readonly timeoutMs: number) {
    this.api = restClient(controlUrl, API_KEY);
  }

  get index(): number {
    return this.host.index;
  }

  token(user: string, opts?: Parameters<typeof signToken>[2]): Promise<string> {
    return signToken(JWT_SECRET, user, opts);
  }

  async start(): Promise<void> {
    if (this.proc?.running()) throw new Error(`node ${this.index} is running`);
    this.proc = this.spawn();
    const [, url, id] = await this.proc.waitFor(/hashpub node ready at (\S+)\n\s+node id\s+(\S+)/, this.timeoutMs);
    this.url = url!;
    this.id = id!;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.proc?.kill(signal);
  }

  pause(): Promise<void> {
    return this.kill('SIGSTOP');
  }

  resume(): Promise<void> {
    return this.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.start();
  }

  async view(): Promise<string[] | null> {
    try {
      const r = await this.api('GET', '/v1/cluster', undefined, {}, 2000);
      if (r.status !== 200) return null;
      return (r.body.members as Array<{ id: string }>).map((m) => m.id).sort();
    } catch {
      return null;
    }
  }
}

const short = (ids: string) => ids.split(',').map((id) => id.slice(0, 8)).join(',');
