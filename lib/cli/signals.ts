/** Env var set by `hashpub cluster` on its children: stop when the parent process is gone. */
export const STOP_WITH_PARENT_ENV = 'HASHPUB_STOP_WITH_PARENT';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * On the first SIGINT/SIGTERM/SIGHUP (or `signals`) runs `stop()` then exits 0 (1 if stop fails or takes longer than
 * `graceMs`); a second signal exits at once. Also stops when the parent dies, if STOP_WITH_PARENT_ENV is set.
 */
export function stopOnSignals(what: string, stop: () => Promise<void>, graceMs = 15_000,
  signals: readonly NodeJS.Signals[] = SIGNALS): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopping = true;
    process.stderr.write(`${signal}: stopping ${what}... (${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to exit now)\n`);
    shutdown();
  };
  const shutdown = (): void => {
    const timer = setTimeout(() => {
      process.stderr.write(`${what} did not stop within ${graceMs / 1000}s: exiting\n`);
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`error while stopping ${what}: ${(err as Error)?.message ?? String(err)}\n`);
        process.exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, handler);
  if (process.env[STOP_WITH_PARENT_ENV] === '1') {
    const parent = process.ppid;
    const timer = setInterval(() => {
      if (process.ppid !== parent && !stopping) {
        stopping = true;
        clearInterval(timer);
        process.stderr.write(`parent process ${parent} is gone: stopping ${what}\n`);
        shutdown();
      }
    }, 500);
    timer.unref();
  }
}
