import { randomBytes } from 'node:crypto';
import { createNode } from '../node.js';
import type { HashpubNode } from '../node-api.js';
import { demoHooks, GAME_INPUT, GAME_STATE } from './demo-hooks.js';
import { DemoPages, ROOMS } from './demo-pages.js';
import { GameWorld, TICKS_PER_SECOND } from './game-world.js';

/*
 * The demo app of `hashpub demo`: N nodes in this process (in memory, one cluster), the demo hooks, the demo
 * pages, and the game loop that advances the world 20 times a second and publishes it on game:state through the
 * REST API, as any app server would.
 */

export interface DemoOptions {
  /** Nodes to start (a cluster when more than one). @default 1 */
  nodes: number;
  /** HTTP port of the first node; node i gets port + i (0 = any free ports). @default 8080 */
  port: number;
  /** @default 127.0.0.1 */
  host: string;
  /** @default warn */
  logLevel: string;
}

export interface Demo {
  nodes: HashpubNode[];
  urls: string[];
  apiKey: string;
  jwtSecret: string;
  world: GameWorld;
  stop(): Promise<void>;
}

/** Channel configs the demo sets before anyone comes. */
const CONFIGS: Record<string, Record<string, unknown>> = {
  ...Object.fromEntries(ROOMS.map((r) => [r.channel, { private: r.private, deliverHook: true, presenceEvents: true, history: { size: 100, ttlSeconds: 24 * 3600 } }])),
  [GAME_STATE]: { deliverHook: true, presenceEvents: false, history: { size: 0, ttlSeconds: 60 } },
  [GAME_INPUT]: { history: { size: 0, ttlSeconds: 60 }, presence: false },
};

export async function startDemo(o: DemoOptions): Promise<Demo> {
  const apiKey = randomBytes(18).toString('base64url');
  const jwtSecret = randomBytes(24).toString('base64url');
  const secret = randomBytes(24).toString('base64url');
  const world = new GameWorld();
  const hooks = demoHooks(world);
  const nodes: HashpubNode[] = [];
  const urls = () => nodes.map((n) => n.url);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(nodes[0]!.url + path, {
      method, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await res.json() as any;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
    return answer;
  };
  const pages = new DemoPages({
    jwtSecret, urls,
    position: async (channel) => {
      const h = await call('GET', `/v1/channels/${encodeURIComponent(channel)}/history?limit=1`);
      return { epoch: h.epoch, offset: h.offset };
    },
  });
  let loop: NodeJS.Timeout | null = null;
  const stop = async () => {
    if (loop) clearInterval(loop);
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  };
  try {
    for (let i = 0; i < o.nodes; i++) {
      const node = createNode({
        host: o.host, port: o.port === 0 ? 0 : o.port + i, data: ':memory:', logLevel: o.logLevel,
        apiKey, jwtSecret, secret, cluster: `hashpub-demo-${secret.slice(0, 8)}`,
        bootstrap: i === 0 ? [] : [nodes[0]!.bootstrap!],
      }, { hooks, pages, standalone: o.nodes === 1 });
      await node.start();
      nodes.push(node);
    }
    await converged(nodes, apiKey);
    for (const [channel, config] of Object.entries(CONFIGS)) await call('PUT', `/v1/channels/${encodeURIComponent(channel)}/config`, config);
  } catch (err) {
    await stop();
    throw err;
  }
  // The game loop: one tick every 50 ms; a tick whose publish is still in flight is not published (never a queue).
  let busy = false;
  loop = setInterval(() => {
    const snapshot = world.step(Date.now());
    if (busy || world.playerCount === 0) return;
    busy = true;
    call('POST', `/v1/channels/${GAME_STATE}/messages`, { data: snapshot }).catch(() => {}).finally(() => { busy = false; });
  }, 1000 / TICKS_PER_SECOND);
  return { nodes, urls: urls(), apiKey, jwtSecret, world, stop };
}

/** Waits until every node lists every node (a cluster forms in a few seconds on loopback). */
async function converged(nodes: HashpubNode[], apiKey: string, timeoutMs = 30_000): Promise<void> {
  if (nodes.length < 2) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sizes = await Promise.all(nodes.map(async (n) => {
      const res = await fetch(`${n.url}/v1/cluster`, { headers: { authorization: `Bearer ${apiKey}` } }).catch(() => null);
      return res?.ok ? ((await res.json()) as { members: unknown[] }).members.length : 0;
    }));
    if (sizes.every((s) => s === nodes.length)) return;
    if (Date.now() > deadline) throw new Error(`the demo cluster did not form within ${timeoutMs / 1000} s (members seen: ${sizes.join(', ')})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
