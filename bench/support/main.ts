/** What every bench entry point does around its measurements: the environment record, and the run/exit wrapper. */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { round } from './phases.js';

/** The machine and Node version, for a result file's "environment" (load average taken now: call at the end). */
export function environment() {
  return {
    node: process.version, platform: `${process.platform} ${release()}`, arch: process.arch,
    cpuModel: cpus()[0]?.model ?? 'unknown', cores: cpus().length, totalMemMB: Math.round(totalmem() / 1048576),
    loadavgAtEnd: loadavg().map((v) => round(v, 2)),
  };
}

/**
 * Runs `main`, then kills every child (`killAll`) and exits: process.exitCode (default 0) when it resolved, 1 when it threw (the stack
 * logged); 2 if it has not finished after `hardStopMs`.
 */
export function runMain(main: () => Promise<void>, o: { log: (msg: string) => void; killAll: () => void; hardStopMs: number }): void {
  const hardStop = setTimeout(() => {
    o.log('hard deadline passed: killing children and exiting');
    o.killAll();
    process.exit(2);
  }, o.hardStopMs);
  hardStop.unref();

  main().then(() => {
    o.killAll();
    process.exit(process.exitCode ?? 0);
  }, (err) => {
    o.log(`fatal: ${String((err as Error)?.stack ?? err)}`);
    o.killAll();
    process.exit(1);
  });
}
