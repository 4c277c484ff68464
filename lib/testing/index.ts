/** Test helpers, exported as `hashpub/testing`. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeHandle, type NodeHandle } from './rest.js';
import type { NodeDeps } from '../node.js';
import { createNode } from '../node.js';
import type { Options } from '../options.js';

export { TestClient } from './ws-client.js';
export { createTestCluster, type TestCluster, type TestClusterOptions } from './cluster.js';
export { createVirtualLan, cleanupStale, type LanHost, type VirtualLan, type VirtualLanOptions } from './vlan.js';
export { createVlanCluster, type VlanCluster, type VlanClusterOptions, type VlanNode } from './vlan-cluster.js';
export { HASHPUB_BIN, spawnProcess, type TestProcess } from './process.js';

/** A started single node on a free loopback port with a temp data dir (removed on stop unless kept). */
export interface TestNode extends NodeHandle {
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export async function startTestNode(options: Partial<Options> = {}, deps: NodeDeps = {}): Promise<TestNode> {
  const dataDir = options.data ?? await mkdtemp(join(tmpdir(), 'hashpub-test-'));
  const node = createNode({ port: 0, logLevel: 'silent', apiKey: 'test-api-key', jwtSecret: 'test-jwt-secret-0123456789', ...options, data: dataDir }, { standalone: true, ...deps });
  await node.start();
  const t: TestNode = {
    ...nodeHandle(node, dataDir),
    async stop(opts = {}) {
      await node.stop();
      if (!opts.keepData && dataDir !== ':memory:') await rm(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}
