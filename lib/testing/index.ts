/** Test helpers, exported as `hashpub/testing`. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restClient } from './rest.js';
import { signToken } from '../auth/tokens.js';
import type { NodeDeps } from '../node.js';
import { createNode } from '../node.js';
import type { HashpubNode } from '../node-api.js';
import type { Options } from '../options.js';

export { TestClient } from './ws-client.js';
export { createTestCluster, type TestCluster, type TestClusterOptions } from './cluster.js';

/** A started single node on a free loopback port with a temp data dir (removed on stop unless kept). */
export interface TestNode {
  node: HashpubNode;
  url: string;
  apiKey: string;
  dataDir: string;
  /** Signs a client token with the node's JWT secret. */
  token(user: string, opts?: Parameters<typeof signToken>[2]): Promise<string>;
  /** REST call with the API key; resolves to status and parsed JSON body. */
  api: ReturnType<typeof restClient>;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export async function startTestNode(options: Partial<Options> = {}, deps: NodeDeps = {}): Promise<TestNode> {
  const dataDir = options.data ?? await mkdtemp(join(tmpdir(), 'hashpub-test-'));
  const node = createNode({ port: 0, logLevel: 'silent', apiKey: 'test-api-key', jwtSecret: 'test-jwt-secret-0123456789', ...options, data: dataDir }, { standalone: true, ...deps });
  await node.start();
  const t: TestNode = {
    node,
    url: node.url,
    apiKey: node.apiKey,
    dataDir,
    token: (user, opts) => signToken(node.jwtSecret, user, opts),
    api: restClient(node.url, node.apiKey),
    async stop(opts = {}) {
      await node.stop();
      if (!opts.keepData && dataDir !== ':memory:') await rm(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}
