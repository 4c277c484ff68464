/**
 * ClusterControl over a virtual LAN (`npm run chaos -- --hosts`): one `hashpub start` per Linux network namespace
 * and a `hashpub bootstrap` on its own host, built by hashpub/testing's createVlanCluster (needs root). Nodes
 * bind `--host 0.0.0.0 --dht-host <cluster address>`: node-to-node traffic crosses the cluster bridge, and the
 * harness talks to every node over the control network, which is never cut. Besides kill -9, SIGSTOP/SIGCONT and
 * a restart on the same data dir, it cuts and heals a host's cluster link (LinkFaults): the node keeps running
 * and keeps answering its clients, as a machine on the wrong side of a partition does.
 * BENCH_NODE_LOG_DIR keeps each node process's whole stderr (its log; add `--node-args "--log-level debug"`).
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createVlanCluster, type VlanCluster, type VlanNode } from '../../lib/testing/index.js';
import { sleep } from '../support/proc.js';
import type { ChaosNode, ClusterControl, LinkFaults, NodeState } from './cluster.js';
import { call } from './http.js';

export interface HostClusterOptions {
  nodes: number;
  /** `--data :memory:` instead of a temp data dir per node. */
  memory: boolean;
  /** More flags for every `hashpub start`. */
  extraArgs: string[];
}

class HostNode implements ChaosNode {
  state: NodeState = 'down';
  constructor(readonly node: VlanNode) {}
  get index(): number { return this.node.index; }
  /** The control-network URL: reachable whatever the nemesis did to the cluster link. */
  get url(): string { return this.node.controlUrl; }
  get id(): string { return this.node.id; }
}

export class HostCluster implements ClusterControl, LinkFaults {
  readonly mode = 'hosts';
  private cluster: VlanCluster | null = null;
  private list: HostNode[] = [];

  constructor(private readonly o: HostClusterOptions) {}

  get apiKey(): string { return this.vlan().apiKey; }
  get jwtSecret(): string { return this.vlan().jwtSecret; }

  nodes(): readonly ChaosNode[] {
    return this.list;
  }

  async start(): Promise<void> {
    this.cluster = await createVlanCluster({
      hosts: this.o.nodes, args: this.o.extraArgs, timeoutMs: 60_000, ...(this.o.memory ? { data: ':memory:' as const } : {}),
    });
    this.list = this.cluster.nodes.map((n) => new HostNode(n));
    for (const n of this.list) {
      n.state = 'up';
      keepLog(n.node);
    }
  }

  async kill(i: number): Promise<void> {
    const n = this.node(i);
    n.state = 'down';
    await n.node.kill('SIGKILL');
  }

  async restart(i: number): Promise<void> {
    const n = this.node(i);
    await n.node.start();
    keepLog(n.node);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await call(n.url, 'GET', '/healthz', this.apiKey, undefined, 2000);
      if (r.kind === 'http' && r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`node ${i} not healthy 30 s after its restart`);
      await sleep(50);
    }
    n.state = this.vlan().lan.isCut(i) ? 'cut' : 'up';
  }

  async pause(i: number): Promise<void> {
    const n = this.node(i);
    await n.node.pause();
    n.state = 'paused';
  }

  async resume(i: number): Promise<void> {
    const n = this.node(i);
    await n.node.resume();
    n.state = this.vlan().lan.isCut(i) ? 'cut' : 'up';
  }

  async cut(i: number): Promise<void> {
    const n = this.node(i);
    this.vlan().cut(i);
    if (n.state === 'up') n.state = 'cut';
  }

  async heal(i: number): Promise<void> {
    const n = this.node(i);
    this.vlan().heal(i);
    if (n.state === 'cut') n.state = 'up';
  }

  async converge(ms: number): Promise<number> {
    const t0 = Date.now();
    const up = this.list.filter((n) => n.state === 'up');
    await this.vlan().converged(up.map((n) => n.node), ms);
    return Date.now() - t0;
  }

  async stop(): Promise<void> {
    await this.cluster?.close();
  }

  private vlan(): VlanCluster {
    if (!this.cluster) throw new Error('the host cluster is not started');
    return this.cluster;
  }

  private node(i: number): HostNode {
    const n = this.list[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }
}

/** With BENCH_NODE_LOG_DIR set: the node's stderr so far, then the rest as it comes, into a file per process. */
function keepLog(node: VlanNode): void {
  const dir = process.env.BENCH_NODE_LOG_DIR;
  const proc = node.proc;
  if (!dir || !proc) return;
  const file = createWriteStream(join(dir, `${Date.now()}-host${node.index}-${proc.child.pid}.log`));
  file.write(proc.stderr());
  proc.child.stderr!.pipe(file);
}
