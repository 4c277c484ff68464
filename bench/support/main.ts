/** What every bench entry point does around its measurements: the environment record, and the run/exit wrapper. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { round } from './phases.js';

/** The machine, Node version and code commit, for a result file's "environment" (load average taken now: call at the end). */
export function environment() {
  return {
    node: process.version, platform: `${process.platform} ${release()}`, arch: process.arch,
    cpuModel: cpus()[0]?.model ?? 'unknown', cores: cpus().length, totalMemMB: Math.round(totalmem() / 1048576),
    loadavgAtEnd: loadavg().map((v) => round(v, 2)),
    commit: gitCommit(),
  };
}

/** The checkout's commit, with "+changes" when the work tree differs from it; null outside a git checkout. */
function gitCommit(): string | null {
  const cwd = fileURLToPath(new URL('../../..', import.meta.url)); // the checkout holding dist/bench/support/main.js
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return null;
  }
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
