/*
 * Hook cost benchmark: measures the per-message cost of the publish hook and of the deliver hook, each
 * in-process (deps.hooks) and as a webhook (a node:http app on loopback), against a no-hook baseline.
 * Each scenario publishes M=2000 messages over REST (POST /v1/channels/CH/messages, {"data":{"n":i}})
 * with 16 in flight at a time and reports the mean microseconds per publish; deliver-hook scenarios
 * (1 WebSocket subscriber, channel config deliverHook true/false) time until all M messages arrived.
 * A discarded baseline run warms the process first. Per-message cost = scenario mean - its baseline mean. One standalone node per scenario on
 * 127.0.0.1:0; everything is stopped at the end. Writes bench/results/hook-cost-<YYYY-MM-DD>.json and
 * prints a table.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/hook-cost.js
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hooks } from '../lib/hooks/hooks.js';
import { startTestNode, TestClient, type TestNode } from '../lib/testing/index.js';

const M = 2000;
const CONCURRENCY = 16;
const WARMUP = 500;
const CH = 'hookbench';

interface Row {
  scenario: string;
  hook: 'none' | 'publish' | 'deliver';
  mode: 'none' | 'in-process' | 'webhook';
  subscriber: boolean;
  baseline: string | null;
  totalMs: number;
  meanUs: number;
  costUs: number | null;
  hookCalls: number;
}

/** A webhook app: allow + echo data on publish, one {} per recipient on deliver. */
async function startWebhookApp(): Promise<{ url: string; calls: Record<string, number>; close(): Promise<void> }> {
  const calls: Record<string, number> = {};
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = (req.url ?? '').replace(/^\/hooks\//, '');
      calls[event] = (calls[event] ?? 0) + 1;
      let ev: any = {};
      try { ev = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* empty */ }
      let reply: unknown;
      if (req.method !== 'POST') reply = {};
      else if (event === 'publish') reply = { allow: true, data: ev.data };
      else if (event === 'deliver') reply = { results: (ev.recipients ?? []).map(() => ({})) };
      else if (event === 'connect' || event === 'subscribe') reply = { allow: true };
      else reply = {};
      const body = JSON.stringify(reply);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    calls,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

/** Publishes n messages to channel with CONCURRENCY in flight; throws on a non-2xx. */
async function publishAll(t: TestNode, channel: string, n: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await t.api('POST', `/v1/channels/${channel}/messages`, { data: { n: i } });
      if (r.status < 200 || r.status >= 300) throw new Error(`publish ${i}: ${r.status} ${JSON.stringify(r.body)}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

interface Scenario {
  name: string;
  hook: Row['hook'];
  mode: Row['mode'];
  subscriber: boolean;
  deliverHook: boolean;
  baseline: string | null;
}

async function runScenario(s: Scenario): Promise<Row> {
  let calls = 0;
  let app: Awaited<ReturnType<typeof startWebhookApp>> | null = null;
  let hooks: Hooks | undefined;
  if (s.mode === 'in-process' && s.hook === 'publish') {
    hooks = { publish: (ev) => { calls++; return { allow: true, data: ev.data }; } };
  } else if (s.mode === 'in-process' && s.hook === 'deliver') {
    hooks = { deliver: (ev) => { calls++; return { results: ev.recipients.map(() => ({})) }; } };
  } else if (s.mode === 'webhook') {
    app = await startWebhookApp();
  }
  const opts = app ? { webhook: app.url, webhookSecret: 'bench-webhook-secret' } : {};
  const t = await startTestNode(opts, hooks ? { hooks } : {});
  let client: TestClient | null = null;
  try {
    // Warm-up on another channel (JIT, keep-alive sockets, webhook pool).
    await publishAll(t, `${CH}-warm`, WARMUP);
    if (s.subscriber) {
      const cfg = await t.api('PUT', `/v1/channels/${CH}/config`, { deliverHook: s.deliverHook });
      if (cfg.status < 200 || cfg.status >= 300) throw new Error(`config: ${cfg.status} ${JSON.stringify(cfg.body)}`);
      ({ client } = await TestClient.connect(t.url, { token: await t.token('u') }));
      await client.subscribe(CH);
    }
    calls = 0;
    if (app) for (const k of Object.keys(app.calls)) delete app.calls[k];
    const t0 = process.hrtime.bigint();
    await publishAll(t, CH, M);
    if (client) await client.waitMessages(CH, M, 60000);
    const totalNs = Number(process.hrtime.bigint() - t0);
    const hookCalls = app ? (app.calls[s.hook] ?? 0) : calls;
    return {
      scenario: s.name, hook: s.hook, mode: s.mode, subscriber: s.subscriber, baseline: s.baseline,
      totalMs: totalNs / 1e6, meanUs: totalNs / 1e3 / M, costUs: null, hookCalls,
    };
  } finally {
    client?.close();
    await t.stop();
    await app?.close();
  }
}

const scenarios: Scenario[] = [
  { name: 'baseline (no hooks)', hook: 'none', mode: 'none', subscriber: false, deliverHook: false, baseline: null },
  { name: 'publish hook, in-process', hook: 'publish', mode: 'in-process', subscriber: false, deliverHook: false, baseline: 'baseline (no hooks)' },
  { name: 'publish hook, webhook', hook: 'publish', mode: 'webhook', subscriber: false, deliverHook: false, baseline: 'baseline (no hooks)' },
  { name: '1 sub, deliverHook false', hook: 'none', mode: 'none', subscriber: true, deliverHook: false, baseline: null },
  { name: 'deliver hook, in-process', hook: 'deliver', mode: 'in-process', subscriber: true, deliverHook: true, baseline: '1 sub, deliverHook false' },
  { name: 'deliver hook, webhook', hook: 'deliver', mode: 'webhook', subscriber: true, deliverHook: true, baseline: '1 sub, deliverHook false' },
];

async function main(): Promise<void> {
  // One discarded baseline run first: the first node in the process pays for JIT/module warm-up,
  // which otherwise lands on the baseline and makes hook costs come out negative.
  process.stderr.write('running: discarded warm-up run\n');
  await runScenario(scenarios[0]!);
  const rows: Row[] = [];
  for (const s of scenarios) {
    process.stderr.write(`running: ${s.name}\n`);
    rows.push(await runScenario(s));
  }
  for (const r of rows) {
    const base = r.baseline ? rows.find((b) => b.scenario === r.baseline) : undefined;
    r.costUs = base ? r.meanUs - base.meanUs : null;
  }
  const date = new Date().toISOString().slice(0, 10);
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/bench/hook-cost.js -> <repo>/bench/results
  const outFile = resolve(here, '..', '..', 'bench', 'results', `hook-cost-${date}.json`);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, JSON.stringify({
    date: new Date().toISOString(), node: process.version, os: release(), cpus: cpus().length,
    messages: M, concurrency: CONCURRENCY, warmup: WARMUP,
    note: 'meanUs = total time / M (deliver scenarios: until all M delivered to the 1 subscriber); costUs = meanUs - baseline meanUs',
    rows,
  }, null, 2) + '\n');

  const head = ['scenario', 'total ms', 'mean us/msg', 'cost us/msg', 'hook calls'];
  const lines = rows.map((r) => [r.scenario, r.totalMs.toFixed(0), r.meanUs.toFixed(1), r.costUs === null ? '(base)' : r.costUs.toFixed(1), String(r.hookCalls)]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]): string => l.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  console.log(fmt(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const l of lines) console.log(fmt(l));
  console.log(`\nsaved ${join('bench', 'results', `hook-cost-${date}.json`)}`);
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
