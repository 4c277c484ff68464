/*
 * Cross-host figures: a 3-node hashpub cluster (CLI processes: one `hashpub bootstrap` + three `hashpub start`)
 * on a virtual LAN of Linux network namespaces (lib/testing/vlan.ts: one host per node, veths on a bridge), beside
 * the same cluster on loopback, each with the default store (LevelDB in a data dir) and with `--data :memory:`.
 * In each of the four configurations, for a channel owned by node 1, with a WebSocket subscriber on node 2 and
 * REST publishes through node 3 (so every message crosses two node-to-node hops: 3 -> owner 1 -> 2):
 *   - publish latency: REST POST sent -> answer received (node 3 forwards to the owner, which stores, then acks);
 *   - publish-to-delivery: REST POST sent -> the message arrives on the subscriber's WebSocket (on another host);
 *     one publish in flight at a time (each waits for its answer and its delivery): unloaded latencies, p50/p99;
 *   - failover: kill -9 of node 1 -> node 3 stops listing it (detection), and -> the first publish on its
 *     channel through node 3 that answers 200 (the survivors took the channel over).
 * The publisher and subscriber run in this process (one clock), in the root namespace: on the virtual LAN they
 * reach the hosts over veths of the control network, on loopback over lo. Needs root (network namespaces).
 *
 *   npx tsc -p tsconfig.json && flock /tmp/hashpub-heavy.lock node dist/bench/cross-host.js [--quick]
 *
 * Writes bench/results/cross-host-<date>[-quick].json and prints a table. All "hosts" share this machine's 2
 * cores and no packet crosses a wire: the figures are the cost of separate network stacks and of the
 * node-to-node path, not of a physical network (add the network's RTT per hop for real machines).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createVlanCluster, HASHPUB_BIN } from '../lib/testing/index.js';
import { HashpubCluster } from './hashpub-cluster.js';
import { Histogram } from './support/histogram.js';
import { environment, runMain } from './support/main.js';
import { killChildren, sleep, track } from './support/proc.js';
import { fmt, renderTable } from './support/table.js';

const QUICK = process.argv.includes('--quick');
const SAMPLES = QUICK ? 300 : 2000;
const WARMUP = QUICK ? 30 : 200;
const API_KEY = 'k';
const VLAN_API_KEY = 'vlan-api-key';

type Topology = 'vlan' | 'loopback';
type Store = 'level' | 'memory';

/** What the measurement needs of a running 3-node cluster, whatever runs it. */
interface Cluster {
  nodes: Array<{ url: string; id: string }>;
  apiKey: string;
  kill(i: number): Promise<void>;
  close(): Promise<void>;
}

interface Figures {
  topology: Topology;
  store: Store;
  samples: number;
  publishMs: ReturnType<Histogram['summary']>;
  deliveryMs: ReturnType<Histogram['summary']>;
  failover: { detectedMs: number; publishOkMs: number; publishRetries: number };
}

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const RESULTS = resolve(here, '../../bench/results');
const log = (msg: string) => process.stderr.write(`[cross-host] ${msg}\n`);

async function startCluster(topology: Topology, store: Store): Promise<Cluster> {
  if (topology === 'vlan') {
    const c = await createVlanCluster({ hosts: 3, args: ['--allow-anonymous'], ...(store === 'memory' ? { data: ':memory:' } : {}) });
    return {
      // Clients reach a host on its control address; nodes talk over the cluster network.
      nodes: c.nodes.map((n) => ({ url: n.controlUrl, id: n.id })),
      apiKey: VLAN_API_KEY,
      kill: (i) => c.nodes[i]!.kill('SIGKILL'),
      close: () => c.close(),
    };
  }
  const c = await HashpubCluster.start({ nodes: 3, bin: HASHPUB_BIN, apiKey: API_KEY, cpus: null, track, name: `cross-${process.pid}`,
    memory: store === 'memory' });
  return {
    nodes: c.nodes.map((n) => ({ url: n.url, id: n.id })),
    apiKey: API_KEY,
    async kill(i) {
      const child = c.nodes[i]!.proc.child;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
    close: () => c.stop(),
  };
}

async function api(url: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  try { return { status: res.status, body: JSON.parse(text) }; } catch { return { status: res.status, body: text }; }
}

/** A channel that node `owner` owns (asked through node `via`). */
async function channelOwnedBy(c: Cluster, owner: number, via: number): Promise<string> {
  for (let i = 0; i < 1000; i++) {
    const r = await api(c.nodes[via]!.url, c.apiKey, 'GET', `/v1/channels/cross-${i}/owner`);
    if (r.body.owner === c.nodes[owner]!.id) return `cross-${i}`;
  }
  throw new Error('no channel owned by node 1 among 1000');
}

/** An anonymous WebSocket subscriber; `onMessage` gets each delivered message's data and the arrival time. */
async function subscribe(url: string, channel: string, onMessage: (data: { seq: number }, at: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, { perMessageDeflate: false });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('subscribe timed out')), 10_000);
    ws.once('error', fail);
    ws.once('open', () => ws.send('{"type":"connect"}'));
    ws.on('message', (raw) => {
      const at = performance.now();
      const m = JSON.parse(String(raw)) as { type: string; channel?: string; data?: { seq: number } };
      if (m.type === 'connected') ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel }));
      else if (m.type === 'subscribed') { clearTimeout(timer); ok(); }
      else if (m.type === 'message' && m.channel === channel) onMessage(m.data!, at);
      else if (m.type === 'error') fail(new Error(JSON.stringify(m)));
    });
  });
  return ws;
}

async function measure(topology: Topology, store: Store): Promise<Figures> {
  log(`${topology} / ${store}: starting 3 nodes`);
  const c = await startCluster(topology, store);
  try {
    const [owner, sub, pub] = [0, 1, 2];
    const channel = await channelOwnedBy(c, owner, pub);
    const waiting = new Map<number, (at: number) => void>();
    const ws = await subscribe(c.nodes[sub]!.url, channel, (data, at) => waiting.get(data.seq)?.(at));
    const publishUrl = c.nodes[pub]!.url;
    const publish = new Histogram();
    const delivery = new Histogram();
    for (let seq = 0; seq < WARMUP + SAMPLES; seq++) {
      const delivered = new Promise<number>((r) => waiting.set(seq, r));
      const t0 = performance.now();
      const r = await api(publishUrl, c.apiKey, 'POST', `/v1/channels/${channel}/messages`, { data: { seq } });
      const t1 = performance.now();
      if (r.status !== 200) throw new Error(`publish ${seq}: ${r.status} ${JSON.stringify(r.body)}`);
      const t2 = await Promise.race([delivered, sleep(10_000).then(() => NaN)]);
      if (Number.isNaN(t2)) throw new Error(`message ${seq} not delivered within 10 s`);
      waiting.delete(seq);
      if (seq >= WARMUP) {
        publish.record(t1 - t0);
        delivery.record(t2 - t0);
      }
    }
    ws.close();

    // Failover: kill -9 the owner, then time detection (node 3's view) and the first accepted publish.
    const tKill = performance.now();
    await c.kill(owner);
    let detectedMs = NaN;
    let publishOkMs = NaN;
    let publishRetries = 0;
    const deadline = Date.now() + 30_000;
    while ((Number.isNaN(detectedMs) || Number.isNaN(publishOkMs)) && Date.now() < deadline) {
      if (Number.isNaN(detectedMs)) {
        const view = await api(publishUrl, c.apiKey, 'GET', '/v1/cluster').catch(() => null);
        if (view?.status === 200 && !(view.body.members as Array<{ id: string }>).some((m) => m.id === c.nodes[owner]!.id)) {
          detectedMs = performance.now() - tKill;
        }
      }
      if (Number.isNaN(publishOkMs)) {
        const r = await api(publishUrl, c.apiKey, 'POST', `/v1/channels/${channel}/messages`, { data: { after: true } }).catch(() => null);
        if (r?.status === 200) publishOkMs = performance.now() - tKill;
        else publishRetries++;
      }
      await sleep(20);
    }
    const f: Figures = { topology, store, samples: SAMPLES, publishMs: publish.summary(), deliveryMs: delivery.summary(),
      failover: { detectedMs: Math.round(detectedMs), publishOkMs: Math.round(publishOkMs), publishRetries } };
    log(`${topology} / ${store}: publish p50 ${f.publishMs.p50} p99 ${f.publishMs.p99} ms; delivery p50 ${f.deliveryMs.p50} ` +
      `p99 ${f.deliveryMs.p99} ms; failover detected ${f.failover.detectedMs} ms, publish ok ${f.failover.publishOkMs} ms`);
    return f;
  } finally {
    await c.close();
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const results: Figures[] = [];
  for (const store of ['level', 'memory'] as const) {
    for (const topology of ['loopback', 'vlan'] as const) results.push(await measure(topology, store));
  }
  const rows = results.map((r) => [r.topology, r.store, fmt(r.publishMs.p50, 2), fmt(r.publishMs.p99, 2), fmt(r.deliveryMs.p50, 2),
    fmt(r.deliveryMs.p99, 2), String(r.failover.detectedMs), String(r.failover.publishOkMs)]);
  process.stdout.write(`${renderTable(['topology', 'store', 'publish p50 ms', 'p99', 'delivery p50 ms', 'p99',
    'failover: detected ms', 'publish ok ms'], rows)}\n`);
  const stamp = started.toISOString().slice(0, 10);
  await mkdir(RESULTS, { recursive: true });
  const file = join(RESULTS, `cross-host-${stamp}${QUICK ? '-quick' : ''}.json`);
  await writeFile(file, `${JSON.stringify({
    benchmark: 'cross-host', started: started.toISOString(), quick: QUICK, samples: SAMPLES, warmup: WARMUP,
    setup: '3 CLI nodes + 1 bootstrap; channel owned by node 1, WebSocket subscriber on node 2, REST publishes through node 3, one in flight',
    results, environment: environment(),
  }, null, 2)}\n`);
  log(`wrote ${file}`);
}

runMain(main, { log, killAll: killChildren, hardStopMs: (QUICK ? 5 : 20) * 60_000 });
