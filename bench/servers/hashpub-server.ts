/**
 * Bench server child: one hashpub node (data in a temp dir, anonymous clients allowed) on a free loopback
 * port. Prints {"url"} as JSON on stdout; answers stats requests over IPC (bench/servers/control.ts).
 * Start with child_process.fork, ideally with --expose-gc.  Env: BENCH_API_KEY (default "k"), BENCH_HASHPUB_DATA
 * (":memory:" for the in-memory store; default a LevelDB data dir in a temp dir), BENCH_PING_SECONDS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '../../lib/index.js';
import { announce, serveControl } from './control.js';

const dir = await mkdtemp(join(tmpdir(), 'hashpub-bench-'));
const node = createNode({
  host: '127.0.0.1', port: 0, data: process.env.BENCH_HASHPUB_DATA === ':memory:' ? ':memory:' : dir, allowAnonymous: true,
  apiKey: process.env.BENCH_API_KEY ?? 'k', logLevel: 'warn',
  // No connection-accept budget (default 1500/s): the peers have none, and the load clients open thousands of
  // connections at once and do not retry a 1013 (with the budget on, 5,161 of 10,000 were refused and the
  // per-connection figures were over 4,839). bench/reconnect-storm.ts measures the budget.
  acceptPerSecond: 0,
  // bench/keepalive.ts --ping-seconds: the WebSocket keepalive period (default 25).
  ...(process.env.BENCH_PING_SECONDS ? { pingSeconds: Number(process.env.BENCH_PING_SECONDS) } : {}),
});
serveControl(async () => {
  await node.stop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});
await node.start();
announce(node.url, { server: 'hashpub' });
