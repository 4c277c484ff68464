/**
 * Result types of bench/run.ts and the generated report: bench/results/README.md (tables per workload, hashpub
 * ratios from the same run) and bench/results/chart.svg (hand-written SVG bars: deliveries/s and RSS per
 * connection by system). Also usable alone to re-render from a JSON file:
 *   node dist/bench/report.js bench/results/bench-<date>.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Histogram } from './support/histogram.js';
import type { PhaseCounts } from './support/phases.js';
import { renderTable } from './support/table.js';

export interface PhaseResult extends PhaseCounts {
  /** Publishes re-sent after their keep-alive connection was reset (cumulative over the run). */
  publishRetries?: number;
  serverCpuUs: number;
  serverCpuSystemUs: number;
  serverCpuUsPerDelivery: number | null;
  serverCpuPctOfCore: number;
  clientCpuUs: number;
  clientCpuPctOfTheirCores: number;
  serverLoopMaxMs: number | null;
  latencyMs: ReturnType<Histogram['summary']>;
}

export interface RunResult {
  system: string;
  subscribers: number;
  clientProcesses: number;
  serverProcesses: number;
  info?: Record<string, unknown>;
  /** neverDelivered: subscribers that got none of the warm-up messages (closed before the burst). */
  connect?: { ok: number; failed: number; errors: string[]; ms: number; neverDelivered?: number };
  memory?: { rssBefore: number; rssAfter: number; rssPerConn: number; heapUsedPerConn: number | null; gcForced: boolean };
  warmup?: PhaseResult;
  burst?: PhaseResult;
  paced?: PhaseResult & { ratePerSec: number };
  freeMemMBAtEnd?: number;
  /** 1-minute load average when the run began: well above 0 means something else was using the machine. */
  loadavg1AtStart?: number;
  durationS?: number;
  error?: string;
}

export interface BenchOutput {
  benchmark: string;
  mode: 'quick' | 'full';
  date: string;
  durationS: number;
  environment: Record<string, unknown> & { node: string; cpuModel: string; cores: number; totalMemMB: number };
  config: Record<string, unknown> & { sizes: number[]; notes: string[] };
  runs: RunResult[];
}

const LABEL: Record<string, string> = {
  ws: 'ws (floor)', hashpub: 'hashpub', socketio: 'Socket.IO 4', faye: 'Faye 1.4', pushpin: 'Pushpin (SSE)',
  'hashpub-x2': 'hashpub, 2 nodes', 'hashpub-x4': 'hashpub, 4 nodes', 'hashpub-capacity': 'hashpub capacity',
};
const COLOR: Record<string, string> = {
  ws: '#9e9e9e', hashpub: '#1f77b4', socketio: '#ff7f0e', faye: '#2ca02c', pushpin: '#d62728',
  'hashpub-x2': '#6baed6', 'hashpub-x4': '#9ecae1', 'hashpub-capacity': '#08519c',
};
const label = (s: string) => LABEL[s] ?? s;
/** A run that began with a higher 1-minute load average shared the machine with something else. */
const BUSY_LOAD = 4.5;
/** Client CPU (% of the clients' cores) from which a burst is marked client-bound. */
const CLIENT_BOUND = 85;
const kn = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n));

function fmt(v: number | null | undefined, d: number): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d);
}
const thousands = (v: number | null | undefined) => (v === null || v === undefined ? '-' : Math.round(v).toLocaleString('en-US'));
function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0 || a <= 0) return '-';
  return `${(a / b).toFixed(2)}x`;
}

const lost = (r: RunResult) => (r.burst ? r.burst.expected - r.burst.deliveries : 0) + (r.paced ? r.paced.expected - r.paced.deliveries : 0);

export function workloadTable(runs: RunResult[], n: number): string {
  const rows = runs.filter((r) => r.subscribers === n && r.system !== 'hashpub-capacity');
  const hp = rows.find((r) => r.system === 'hashpub' && !r.error);
  return renderTable(
    ['system', 'server procs', 'subscribed', 'deliveries/s', 'server CPU us/delivery', 'p50 ms', 'p99 ms', 'RSS/conn KB',
      'lost', 'client CPU %', 'hashpub / system: deliveries/s', 'CPU/delivery', 'RSS/conn', 'p99'],
    rows.map((r) => {
      const self = r.system === 'hashpub';
      const busy = (r.loadavg1AtStart ?? 0) > BUSY_LOAD ? ' *' : '';
      return [label(r.system) + busy, String(r.serverProcesses || '-'),
        r.connect ? String(r.connect.ok - (r.connect.neverDelivered ?? 0)) + (r.connect.failed ? ` (${r.connect.failed} failed)` : '') +
          (r.connect.neverDelivered ? ` (+${r.connect.neverDelivered} never delivered to)` : '') : 'ERR',
        thousands(r.burst?.deliveriesPerSec), fmt(r.burst?.serverCpuUsPerDelivery, 2),
        fmt(r.paced?.latencyMs.p50, 2), fmt(r.paced?.latencyMs.p99, 2), fmt(r.memory && r.memory.rssPerConn / 1024, 2),
        r.error ? 'ERR' : String(lost(r)),
        r.burst ? `${fmt(r.burst.clientCpuPctOfTheirCores, 0)}${r.burst.clientCpuPctOfTheirCores >= CLIENT_BOUND ? ' †' : ''}` : '-',
        self ? '1' : ratio(hp?.burst?.deliveriesPerSec, r.burst?.deliveriesPerSec),
        self ? '1' : ratio(hp?.burst?.serverCpuUsPerDelivery, r.burst?.serverCpuUsPerDelivery),
        self ? '1' : ratio(hp?.memory?.rssPerConn, r.memory?.rssPerConn),
        self ? '1' : ratio(hp?.paced?.latencyMs.p99, r.paced?.latencyMs.p99)];
    }));
}

function capacityTable(runs: RunResult[]): string | null {
  const rows = runs.filter((r) => r.system === 'hashpub-capacity');
  if (rows.length === 0) return null;
  return renderTable(['nodes', 'subscribers asked', 'subscribed', 'published / burst messages', 'delivered / expected', 'deliveries/s', 'server CPU us/delivery', 'RSS/conn KB', 'error'],
    rows.map((r) => [String(r.serverProcesses || '-') + ((r.loadavg1AtStart ?? 0) > BUSY_LOAD ? ' *' : ''), String(r.subscribers), r.connect ? String(r.connect.ok) : '-',
      r.burst ? `${r.burst.published} / ${r.burst.messages}` + (r.burst.lastPublishError ? ` (last failure: ${r.burst.lastPublishError.slice(0, 120).replace(/\|/g, '/')})` : '') : '-',
      r.burst ? `${r.burst.deliveries} / ${r.burst.expected}` + (r.burst.timedOut ? ' (no delivery for 4 s: stopped waiting)' : '') : '-',
      thousands(r.burst?.deliveriesPerSec), fmt(r.burst?.serverCpuUsPerDelivery, 2), fmt(r.memory && r.memory.rssPerConn / 1024, 2),
      r.error ?? '']));
}

export function renderReadme(out: BenchOutput, jsonName: string, chartName = 'chart.svg'): { markdown: string; tables: string } {
  const parts: string[] = [];
  for (const n of out.config.sizes) {
    parts.push(`### ${kn(n)} subscribers on one channel\n\n${workloadTable(out.runs, n)}\n`);
  }
  const cap = capacityTable(out.runs);
  if (cap) parts.push(`### Largest subscriber count on this machine (hashpub cluster, 18k per node process)\n\n${cap}\n`);
  if (out.runs.some((r) => (r.burst?.clientCpuPctOfTheirCores ?? 0) >= CLIENT_BOUND)) {
    parts.push(`† client-bound: the load clients used >= ${CLIENT_BOUND}% of their cores during the burst, so that system's ` +
      'deliveries/s is a lower bound (the server had CPU left: see its CPU us/delivery).\n');
  }
  const busy = out.runs.filter((r) => (r.loadavg1AtStart ?? 0) > BUSY_LOAD);
  if (busy.length) {
    parts.push(`\* the machine was busy when this run began (1-minute load average ${busy.map((r) => r.loadavg1AtStart).join(', ')} ` +
      `> ${BUSY_LOAD}; the bench's own server and client processes alone keep it between 2 and 4): treat those rows with care.\n`);
  }
  const errors = out.runs.filter((r) => r.error).map((r) => `- ${label(r.system)} N=${r.subscribers}: ${r.error}`);
  if (errors.length) parts.push(`Errors:\n\n${errors.join('\n')}\n`);
  const tables = parts.join('\n');
  const env = out.environment;
  const pinning = env.pinning as { servers: string; clientsAndPublisher: string } | null;
  const markdown = `# Benchmarks: hashpub and its peers

Generated by \`npm run bench${out.mode === 'quick' ? ' -- --quick' : ''}\` (bench/run.ts) on ${out.date.slice(0, 16).replace('T', ' ')} UTC,
${out.mode} run, ${Math.round(out.durationS / 60 * 10) / 10} min. Raw data: [${jsonName}](${jsonName}).

Machine: ${env.cpuModel} x${env.cores}, ${Math.round(env.totalMemMB / 1024)} GB, Node ${env.node}, ${String(env.platform ?? '')}.
${pinning ? `Servers pinned to CPU ${pinning.servers}; load clients and publisher to CPU ${pinning.clientsAndPublisher} (taskset).` : 'No CPU pinning.'}
Pushpin: ${String(env.pushpin)}.

![deliveries/s and RSS per connection by system](${chartName})

How to read it:

- **deliveries/s**: burst phase, messages received by all subscribers / (first publish to last delivery).
- **server CPU us/delivery**: the server processes' own CPU time (user+system) over the burst, per delivery
  (\`process.cpuUsage()\` in the Node servers; \`/proc/<pid>/stat\` summed over Pushpin's processes and over the
  hashpub cluster's node processes).
- **p50/p99**: publish-to-delivery latency in the paced phase (about 10k deliveries/s in total).
- **RSS/conn**: server RSS with N idle subscribers minus RSS before any, / N (Node servers after a forced GC).
- **subscribed**: subscribers that received the warm-up messages; "+K never delivered to" counts subscriptions the
  server accepted (connection open, handshake done) but never delivered a warm-up message to: they are closed and
  left out of the burst and paced phases.
- **lost**: deliveries expected but not received (burst + paced), i.e. until no delivery arrived for 4 s.
- **client CPU %**: the load clients' CPU during the burst as a share of the cores they are pinned to. Near 100
  means the clients, not the server, set the pace (the deliveries/s figure is then a lower bound for the server).
- **hashpub / system**: hashpub's figure divided by the system's, from this same run. Above 1 is better for
  deliveries/s; below 1 is better for CPU/delivery, RSS/conn and p99.

Each system gets the smallest sensible configuration: \`ws\` alone broadcasting one string to every socket (the
floor, no channels); hashpub as one node (in-process API) or as 2/4 CLI node processes sharing the same server
cores; Socket.IO 4 with the WebSocket transport only and one room; Faye 1.4's NodeAdapter (in-memory engine),
clients on its WebSocket transport; Pushpin ${out.environment.pushpin === 'installed' ? '' : '(when installed) '}with SSE
(GRIP hold-stream from a tiny Node origin, publishes on its HTTP publish endpoint) and its message rate limiter
turned off. The load clients speak each protocol directly (raw WebSocket, engine.io packets, Bayeux over
WebSocket, SSE over raw HTTP) in ${'several'} client processes, so the client side stays cheap.

${tables}
Reading the numbers honestly:

- On a 2-core machine the server gets one core and the load clients plus the publisher the other. A server that
  costs about 1 us per delivery (hashpub, Pushpin) saturates one client core before its own: compare CPU
  us/delivery (the server's own cost, independent of who set the pace) as much as deliveries/s.
- RSS/conn of the multi-process rows includes each extra node's baseline growth during the run (no forced GC in
  CLI nodes), so it is an upper bound; the single-process rows are the per-connection cost.
- Pushpin's CPU and RSS are the sum over its processes (runner, condure, zurl, pushpin-proxy, pushpin-handler);
  its Node origin, which only answers each subscriber's first request, is not counted.

Notes from the run:

${out.config.notes.map((n) => `- ${n}`).join('\n')}
`;
  return { markdown, tables };
}

// ---------------------------------------------------------------------------------------------------
// SVG chart: two panels of grouped bars (groups = subscriber counts, bars = systems).

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function panel(x0: number, y0: number, w: number, h: number, title: string, unit: string, sizes: number[], systems: string[],
  value: (system: string, n: number) => number | null, fmtV: (v: number) => string): string {
  const out: string[] = [];
  const padL = 60, padB = 30, padT = 28;
  const cw = w - padL - 10, ch = h - padB - padT;
  const all = sizes.flatMap((n) => systems.map((s) => value(s, n) ?? 0));
  const max = niceMax(Math.max(...all, 0));
  out.push(`<text x="${x0 + padL}" y="${y0 + 18}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + padT + ch - (ch * i) / 4;
    out.push(`<line x1="${x0 + padL}" x2="${x0 + padL + cw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + padL - 6}" y="${y + 4}" font-size="10" text-anchor="end">${esc(fmtV((max * i) / 4))}</text>`);
  }
  out.push(`<text x="${x0 + 12}" y="${y0 + padT + ch / 2}" font-size="10" transform="rotate(-90 ${x0 + 12} ${y0 + padT + ch / 2})" text-anchor="middle">${esc(unit)}</text>`);
  const gw = cw / Math.max(1, sizes.length);
  const bw = Math.min(40, (gw - 16) / Math.max(1, systems.length));
  sizes.forEach((n, gi) => {
    const gx = x0 + padL + gi * gw + (gw - bw * systems.length) / 2;
    systems.forEach((s, si) => {
      const v = value(s, n);
      const x = gx + si * bw;
      if (v === null) {
        out.push(`<text x="${x + bw / 2}" y="${y0 + padT + ch - 3}" font-size="9" text-anchor="middle" fill="#999">n/a</text>`);
        return;
      }
      const bh = (ch * v) / max;
      const y = y0 + padT + ch - bh;
      out.push(`<rect x="${x + 1}" y="${y}" width="${bw - 2}" height="${bh}" fill="${COLOR[s] ?? '#555'}"><title>${esc(`${label(s)}, ${kn(n)}: ${fmtV(v)} ${unit}`)}</title></rect>`);
      out.push(`<text x="${x + bw / 2}" y="${y - 3}" font-size="9" text-anchor="middle">${esc(fmtV(v))}</text>`);
    });
    out.push(`<text x="${x0 + padL + gi * gw + gw / 2}" y="${y0 + padT + ch + 16}" font-size="11" text-anchor="middle">${kn(n)} subscribers</text>`);
  });
  return out.join('\n');
}

export function renderChart(out: BenchOutput): string {
  const sizes = out.config.sizes;
  const order = ['ws', 'hashpub', 'hashpub-x2', 'hashpub-x4', 'socketio', 'faye', 'pushpin'];
  const systems = order.filter((s) => out.runs.some((r) => r.system === s && !r.error));
  const get = (s: string, n: number) => out.runs.find((r) => r.system === s && r.subscribers === n && !r.error);
  const W = 960, H = 300;
  const legend = systems.map((s, i) =>
    `<rect x="${70 + i * 125}" y="${2 * H + 14}" width="12" height="12" fill="${COLOR[s] ?? '#555'}"/>` +
    `<text x="${86 + i * 125}" y="${2 * H + 24}" font-size="11">${esc(label(s))}</text>`).join('\n');
  const k = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${Math.round(v / 1e3)}k` : String(Math.round(v)));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H + 40}" viewBox="0 0 ${W} ${2 * H + 40}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${panel(0, 0, W, H, `Fan-out throughput (burst), ${out.mode} run ${out.date.slice(0, 10)}: higher is better`, 'deliveries/s', sizes, systems,
    (s, n) => get(s, n)?.burst?.deliveriesPerSec ?? null, k)}
${panel(0, H, W, H, 'Server memory per idle subscriber (RSS delta / N): lower is better', 'KB per connection', sizes, systems,
    (s, n) => { const r = get(s, n); return r?.memory ? Math.max(0, r.memory.rssPerConn / 1024) : null; }, (v) => v.toFixed(1))}
${legend}
</svg>
`;
}

// Re-render from a JSON file: node dist/bench/report.js bench/results/bench-<stamp>.json (quick runs: quick.md)
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2]) {
  const file = process.argv[2];
  const out = JSON.parse(readFileSync(file, 'utf8')) as BenchOutput;
  const dir = dirname(file);
  const [md, svg] = out.mode === 'quick' ? ['quick.md', 'chart-quick.svg'] : ['README.md', 'chart.svg'];
  writeFileSync(join(dir, md), renderReadme(out, basename(file), svg).markdown);
  writeFileSync(join(dir, svg), renderChart(out));
  process.stdout.write(renderReadme(out, basename(file)).tables + '\n');
}
