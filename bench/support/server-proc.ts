/**
 * A bench server child (bench/servers/*.js) driven over IPC: started with fork, its URL read from the first JSON
 * line it prints, stats (memory, CPU, event-loop delay) asked for by id. Shared by bench/single-node.ts and
 * bench/keepalive.ts. Also the signal handling every such parent needs: SIGTERM the children (the hashpub server
 * then removes its temp data dir), SIGKILL what is left after 3 s.
 */
import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ServerStats } from './ipc.js';
import { children, killChildren, Peer, sleep } from './proc.js';

export class ServerProc {
  private seq = 0;
  constructor(readonly name: string, readonly peer: Peer<ServerStats>, readonly url: string) {}

  /** Forks `script` with `execArgv` and `env` added to this process's environment; resolves with its URL. */
  static async start(name: string, script: string, execArgv: string[], env: Record<string, string>): Promise<ServerProc> {
    const child = fork(script, [], { execArgv, stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env: { ...process.env, ...env } });
    const peer = new Peer<ServerStats>(`${name} server`, child);
    const url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} server did not print its URL in 30 s`)), 30_000);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} server exited (${code}) before printing its URL`)); });
      const lines = createInterface({ input: child.stdout! });
      let found = false;
      lines.on('line', (line) => {
        if (!found) {
          try {
            const j = JSON.parse(line) as { url?: string };
            if (typeof j.url === 'string') {
              found = true;
              clearTimeout(timer);
              return resolveUrl(j.url);
            }
          } catch { /* a log line */ }
        }
        process.stderr.write(`[${name} server] ${line}\n`); // keep the pipe drained
      });
    });
    return new ServerProc(name, peer, url);
  }

  /** The server's stats; `gc` runs global.gc() twice first. Also resets its event-loop delay histogram. */
  async stats(gc: boolean): Promise<ServerStats> {
    const id = ++this.seq;
    this.peer.send({ cmd: 'stats', id, gc });
    return this.peer.next((m) => m.ev === 'stats' && m.id === id, 15_000, 'stats');
  }

  stop(): Promise<void> {
    return this.peer.stop({ cmd: 'exit' }, 5000);
  }
}

/** Server CPU (user + system) between two stats samples `ms` apart, percent of one core. */
export const cpuPct = (a: ServerStats, b: ServerStats, ms: number): number =>
  Math.round(((b.cpu.user - a.cpu.user) + (b.cpu.system - a.cpu.system)) / (ms * 10) * 100) / 100;

/** On SIGINT/SIGTERM/SIGHUP: SIGTERM every child, SIGKILL the rest after 3 s, exit 130. Also SIGKILLs them on exit. */
export function stopChildrenOnSignals(log: (msg: string) => void): void {
  process.on('exit', killChildren);
  const terminateAll = async (): Promise<void> => {
    const alive = [...children];
    const gone = Promise.all(alive.map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())))));
    for (const c of alive) {
      try { c.kill('SIGTERM'); } catch { /* already gone */ }
    }
    await Promise.race([gone, sleep(3000)]);
    killChildren();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping ${children.size} child processes`);
      void terminateAll().finally(() => process.exit(130));
    });
  }
}
