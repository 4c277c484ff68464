// A loopback cluster of n nodes in this process, for tests: one DHT bootstrap on 127.0.0.1, n nodes joined to it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeHandle, type NodeHandle } from './rest.js';
import { startBootstrap, type Bootstrap } from '../cluster/bootstrap.js';
import { createNode, type NodeDeps } from '../node.js';
import type { HashpubNode } from '../node-api.js';
import type { Options } from '../options.js';

/** One node of a test cluster. */
export interface ClusterTestNode extends NodeHandle {
  /** Node id (hex public key). */
  id: string;
  /** Stops this node (leaves the cluster) and removes its data dir. */
  stop(): Promise<void>;
  /** Makes this node vanish like a crashed process (no hand-over, no goodbye); its data dir stays for restart(). */
  crash(): Promise<void>;
  /** Starts a crashed node again on its data dir (same id); resolves with the new handle once every node sees it. */
  restart(): Promise<ClusterTestNode>;
}

/** A running test cluster. */
export interface TestCluster {
  nodes: ClusterTestNode[];
  /** "127.0.0.1:PORT" of the cluster's bootstrap. */
  bootstrap: string;
  /** Polls until every running node lists exactly the running nodes in /v1/cluster. */
  converged(timeoutMs?: number): Promise<void>;
  /** Starts one more node joined to the same bootstrap and waits until every node sees it. */
  addNode(deps?: NodeDeps): Promise<ClusterTestNode>;
  /** Stops every node in parallel, then the bootstrap. */
  stop(): Promise<void>;
}

/** Options of createTestCluster: node options plus per-node deps. */
export interface TestClusterOptions extends Partial<Options> {
  /** Deps for node i (hooks, store). */
  deps?: (i: number) => NodeDeps;
  /** Longest wait for the nodes to see each other. @default 15000 */
  convergeTimeoutMs?: number;
}

let clusterCount = 0;

/** Starts a loopback bootstrap and `n` nodes joined to it; resolves once every node lists all `n` members. */
export async function createTestCluster(n: number, options: TestClusterOptions = {}): Promise<TestCluster> {
  const { deps, convergeTimeoutMs = 15_000, ...nodeOptions } = options;
  const boot: Bootstrap = await startBootstrap('127.0.0.1', 0);
  const bootstrap = `${boot.host}:${boot.port}`;
  if (!/^127\.\d+\.\d+\.\d+$/.test(boot.host)) throw new Error(`test bootstrap ${bootstrap} is not loopback`);
  for (const b of nodeOptions.bootstrap ?? []) {
    if (!/^127\.\d+\.\d+\.\d+:\d+$/.test(b)) throw new Error(`test bootstrap ${b} is not loopback`);
  }
  // A cluster name of its own: clusters that live side by side in one test process never see each other.
  const clusterName = `hashpub-test-${process.pid}-${++clusterCount}`;
  const stopped = new Set<ClusterTestNode>();
  const nodes: ClusterTestNode[] = [];
  const startOne = async (nodeDeps: NodeDeps | undefined, reuseDir?: string): Promise<ClusterTestNode> => {
    const dataDir = reuseDir ?? nodeOptions.data ?? await mkdtemp(join(tmpdir(), 'hashpub-cluster-'));
    const node = createNode({
      port: 0, logLevel: 'silent', apiKey: 'test-api-key', jwtSecret: 'test-jwt-secret-0123456789',
      secret: 'test-cluster-secret', cluster: clusterName, ...nodeOptions, bootstrap: [bootstrap],
      data: dataDir,
    }, { ...nodeDeps, standalone: false });
    await node.start();
    return wrap(node, dataDir, stopped, async () => {
      const again = await startOne(nodeDeps, dataDir);
      const at = nodes.findIndex((t) => t.id === again.id && stopped.has(t));
      if (at >= 0) nodes[at] = again;
      else nodes.push(again);
      await cluster.converged();
      return again;
    });
  };
  try {
    nodes.push(...await Promise.all(Array.from({ length: n }, (_, i) => startOne(deps?.(i)))));
  } catch (err) {
    await Promise.all(nodes.map((t) => t.stop().catch(() => {})));
    await boot.close();
    throw err;
  }
  const cluster: TestCluster = {
    nodes,
    bootstrap,
    async converged(timeoutMs = convergeTimeoutMs) {
      const live = nodes.filter((t) => !stopped.has(t));
      const want = live.map((t) => t.id).sort().join(',');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const views = await Promise.all(live.map(async (t) => {
          const r = await t.api('GET', '/v1/cluster').catch(() => null);
          return r?.status === 200 ? (r.body.members as Array<{ id: string }>).map((m) => m.id).sort().join(',') : '';
        }));
        if (views.every((v) => v === want)) return;
        if (Date.now() > deadline) throw new Error(`test cluster did not converge in ${timeoutMs} ms: ${views.join(' | ')}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async addNode(nodeDeps) {
      const t = await startOne(nodeDeps ?? deps?.(nodes.length));
      nodes.push(t);
      await cluster.converged();
      return t;
    },
    async stop() {
      await Promise.all(nodes.map((t) => t.stop().catch(() => {})));
      await boot.close();
    },
  };
  try {
    await cluster.converged();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

function wrap(node: HashpubNode, dataDir: string, stopped: Set<ClusterTestNode>, restart: () => Promise<ClusterTestNode>): ClusterTestNode {
  let stopping: Promise<void> | null = null;
  let crashed = false;
  const t: ClusterTestNode = {
    ...nodeHandle(node, dataDir),
    id: node.id,
    stop() {
      stopped.add(t);
      return (stopping ??= (async () => {
        if (!crashed) await node.stop();
        if (dataDir !== ':memory:') await rm(dataDir, { recursive: true, force: true });
      })());
    },
    async crash() {
      if (crashed || stopping) return;
      crashed = true;
      stopped.add(t);
      await (node as HashpubNode & { crash(): Promise<void> }).crash();
    },
    async restart() {
      if (!crashed) throw new Error('restart() needs a crashed node');
      return restart();
    },
  };
  return t;
}
