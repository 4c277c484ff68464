/**
 * What every bench server child shares: answers the parent's stats requests over IPC (memory after an
 * optional forced GC, CPU time, event-loop delay since the previous request) and exits when the parent
 * asks or goes away; and the hashpub-shaped publish endpoint the Node peers serve.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ServerRequest, ServerStats } from '../support/ipc.js';

export function serveControl(onExit: () => Promise<void> | void): void {
  if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');
  const gc = (globalThis as { gc?: () => void }).gc;
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  let exiting = false;
  const exit = async () => {
    if (exiting) return;
    exiting = true;
    setTimeout(() => process.exit(0), 3000).unref();
    try { await onExit(); } catch { /* exiting anyway */ }
    process.exit(0);
  };
  process.on('message', async (raw) => {
    const m = raw as ServerRequest;
    if (m.cmd === 'exit') return void exit();
    if (m.cmd === 'stats') {
      if (m.gc && gc) {
        gc();
        await new Promise((r) => setTimeout(r, 200));
        gc();
        await new Promise((r) => setTimeout(r, 300));
      }
      const ms = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 1e4) / 100 : 0);
      const reply: ServerStats = {
        ev: 'stats', id: m.id, mem: process.memoryUsage(), cpu: process.cpuUsage(),
        eld: { maxMs: ms(eld.max), p99Ms: ms(eld.percentile(99)), meanMs: ms(eld.mean) },
      };
      eld.reset();
      process.send!(reply);
    }
  });
  process.on('disconnect', () => void exit());
  process.on('SIGTERM', () => void exit());
  process.on('SIGINT', () => void exit());
}

/** Prints the server's URL as one JSON line on stdout (the parent reads it). */
export function announce(url: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ url, pid: process.pid, ...extra }) + '\n');
}

/**
 * The request listener of `POST /v1/channels/<c>/messages` with {"data"} (Bearer BENCH_API_KEY checked): 404 for
 * any other request, 401 for a wrong key, 400 for a body that is not JSON; otherwise hands the channel and data
 * to `publish` and answers {"channel","offset"} with the offset it returns (at once, or once its promise
 * resolves; 500 if it rejects).
 */
export function publishEndpoint(publish: (channel: string, data: unknown) => number | Promise<number>): (req: IncomingMessage, res: ServerResponse) => void {
  const auth = `Bearer ${process.env.BENCH_API_KEY ?? 'k'}`;
  const answer = (res: ServerResponse, channel: string, offset: number) => {
    const text = JSON.stringify({ channel, offset });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };
  return (req, res) => {
    const m = /^\/v1\/channels\/([^/]+)\/messages$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return void res.writeHead(404).end();
    if (req.headers.authorization !== auth) return void res.writeHead(401).end();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: { data?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: unknown };
      } catch {
        return void res.writeHead(400).end();
      }
      const channel = decodeURIComponent(m[1]!);
      const offset = publish(channel, body.data);
      if (typeof offset === 'number') answer(res, channel, offset);
      else offset.then((o) => answer(res, channel, o), (err) => res.writeHead(500).end(String(err)));
    });
  };
}
