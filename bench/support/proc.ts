/**
 * Child-process bookkeeping shared by the bench parents (single-node, cluster/fanout, run): every child is
 * tracked so it can be killed on exit, and IPC children are driven through a Peer with an inbox.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Every live child process of this bench run. */
export const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs every tracked child. */
export function killChildren(): void {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
}

/** An IPC peer with an inbox, so no message is lost between a send and the wait for its answer. */
export class Peer<In extends { ev: string }> {
  private inbox: In[] = [];
  private waiters: Array<{ pred: (m: In) => boolean; resolve: (m: In) => void }> = [];
  exited: string | null = null;

  constructor(readonly name: string, readonly child: ChildProcess) {
    track(child);
    child.on('message', (raw) => {
      const m = raw as In;
      const w = this.waiters.findIndex((x) => x.pred(m));
      if (w >= 0) this.waiters.splice(w, 1)[0]!.resolve(m);
      else this.inbox.push(m);
    });
    child.on('exit', (code, signal) => { this.exited = `exit code ${code} signal ${signal}`; });
  }

  send(m: unknown): void {
    if (this.child.connected) this.child.send(m as never);
  }

  /** The next message matching `pred`, or an error after `timeoutMs` or if the child exits (or has exited). */
  next(pred: (m: In) => boolean, timeoutMs: number, what: string): Promise<In> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.exited !== null) return Promise.reject(new Error(`${this.name}: ${what}: child exited (${this.exited})`));
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (m: In) => { cleanup(); resolve(m); } };
      const fail = (why: string) => {
        cleanup();
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new Error(`${this.name}: ${what}: ${why}`));
      };
      const timer = setTimeout(() => fail(`no answer in ${timeoutMs} ms`), timeoutMs);
      const onExit = () => fail(`child exited (${this.exited})`);
      const cleanup = () => { clearTimeout(timer); this.child.off('exit', onExit); };
      this.child.once('exit', onExit);
      this.waiters.push(waiter);
    });
  }

  /** Asks the child to leave, then kills it if it has not exited after `graceMs`. */
  async stop(request: unknown, graceMs = 3000): Promise<void> {
    if (this.exited !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.send(request);
    await Promise.race([gone, sleep(graceMs)]);
    if (this.exited === null) {
      this.child.kill('SIGKILL');
      await Promise.race([gone, sleep(1000)]);
    }
  }
}


/**
 * Starts a process that keeps `fraction` (0-1) of one core busy (busy for fraction x 100 ms of every 100 ms) until it is
 * killed: a neighbour on a shared host, to see how a benchmark holds up on a busier machine. Tracked like any child.
 */
export function burnCore(fraction: number): ChildProcess {
  const busyMs = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  const script = `const tick = () => { const t = Date.now(); while (Date.now() - t < ${busyMs}) {} setTimeout(tick, ${100 - busyMs}); }; tick();`;
  return track(spawn(process.execPath, ['-e', script], { stdio: 'ignore' }));
}
