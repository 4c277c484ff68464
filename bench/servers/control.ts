/**
 * What every bench server child shares: answers the parent's stats requests over IPC (memory after an
 * optional forced GC, CPU time, event-loop delay since the previous request) and exits when the parent
 * asks or goes away.
 */
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
