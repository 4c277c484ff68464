// A cluster of CLI processes for the e2e suites: one `hashpub bootstrap` and N `hashpub start` on loopback, each with
// its own data dir, plus the REST helpers the suites share (every process is removed by cleanupProcesses()).
import assert from 'node:assert/strict';
import { launch, tempDir, waitFor, type Proc } from './cli-process.js';

export interface CliNode {
  index: number;
  proc: Proc;
  url: string;
  id: string;
  data: string;
}

export interface CliCluster {
  nodes: CliNode[];
  bootstrap: string;
  apiKey: string;
  jwtSecret: string;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined; fails with `what` at the deadline. */
export async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

/** A REST call with the API key (5 s timeout); the body parsed when it is JSON. */
export async function api(apiKey: string, url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed };
}

/** Starts a bootstrap and `n` nodes (extra `start` flags in `args`); resolves once every node lists all of them. */
export async function startCliCluster(n: number, name: string, args: string[] = []): Promise<CliCluster> {
  const apiKey = `${name}-api-key`;
  const jwtSecret = `${name}-jwt-secret-0123456789`;
  const boot = launch(['bootstrap', '--host', '127.0.0.1', '--port', '0'], tempDir('hashpub-boot-'));
  const [, bootstrap] = await waitFor(boot, /bootstrap listening on (127\.\d+\.\d+\.\d+:\d+)/, 15_000);
  const nodes = await Promise.all(Array.from({ length: n }, (_, index) => startCliNode(index, tempDir('hashpub-data-'), bootstrap!, name, args)));
  const c: CliCluster = { nodes, bootstrap: bootstrap!, apiKey, jwtSecret };
  await converged(c, nodes);
  return c;
}

/** Starts (or restarts, on the same data dir) node `index` of a cluster. */
export async function startCliNode(index: number, data: string, bootstrap: string, name: string, args: string[] = []): Promise<CliNode> {
  const proc = launch(['start', '--host', '127.0.0.1', '--port', '0', '--data', data, '--bootstrap', bootstrap,
    '--cluster', name, '--secret', `${name}-secret`, '--api-key', `${name}-api-key`, '--jwt-secret', `${name}-jwt-secret-0123456789`,
    '--log-level', 'warn', ...args], data);
  const [, url] = await waitFor(proc, /hashpub node ready at (http:\/\/\S+)/);
  const self = await until(`node ${index} answers`, 15_000, async () => {
    const r = await api(`${name}-api-key`, url!, 'GET', '/v1/cluster');
    return r.status === 200 ? r.body.self as string : undefined;
  });
  return { index, proc, url: url!, id: self, data };
}

/** Waits until each of `live` lists exactly the nodes of `live`. */
export async function converged(c: CliCluster, live: CliNode[], ms = 20_000): Promise<void> {
  const want = live.map((n) => n.id).sort().join(',');
  await until(`${live.length} nodes see each other`, ms, async () => {
    const views = await Promise.all(live.map((n) => api(c.apiKey, n.url, 'GET', '/v1/cluster')));
    return views.every((v) => v.status === 200 && v.body.members.map((m: { id: string }) => m.id).sort().join(',') === want) ? true : undefined;
  });
}

/** The owner of `channel` as `via` sees it. */
export async function ownerOf(c: CliCluster, via: CliNode, channel: string): Promise<string> {
  const r = await api(c.apiKey, via.url, 'GET', `/v1/channels/${channel}/owner`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.owner as string;
}
