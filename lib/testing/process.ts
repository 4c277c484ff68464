// Child processes for tests that run the `hashpub` CLI as a user would: output kept for assertions and
// error messages, readiness by waiting on a line of output with a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the built CLI (dist/bin/hashpub.js). */
export const HASHPUB_BIN = fileURLToPath(new URL('../../bin/hashpub.js', import.meta.url));

/** A running child process with its output so far. */
export interface TestProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout. */
  stdout(): string;
  /** The last 20 kB written to stderr. */
  stderr(): string;
  /** Resolves with the exit code (null after a signal) once the process is gone. */
  readonly exited: Promise<number | null>;
  /** True until the process exits. */
  running(): boolean;
  /** Waits until stdout matches `re`; throws (with both outputs) if the process exits first or at the deadline. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Sends `signal` (default SIGKILL); for SIGKILL/SIGTERM/SIGINT waits until the process is gone (up to 10 s). */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The environment without the caller's HASHPUB_* settings, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HASHPUB_')));
  return { ...env, ...extra };
}

/** Starts `file args...` with piped output and a clean environment. */
export function spawnProcess(file: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): TestProcess {
  const child = spawn(file, args, { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => { out += b; });
  child.stderr!.on('data', (b: Buffer) => { err = (err + b).slice(-20_000); });
  let gone = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (e) => {
      err += `\nspawn failed: ${e.message}`;
      gone = true;
      resolve(null);
    });
    child.once('close', (code) => {
      gone = true;
      resolve(code);
    });
  });
  const p: TestProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    running: () => !gone && child.exitCode === null && child.signalCode === null,
    async waitFor(re, ms = 30_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (!p.running() || Date.now() > deadline) {
          throw new Error(`${[file, ...args].join(' ')}: no ${re} ${p.running() ? `within ${ms} ms` : `before it exited (${child.exitCode ?? child.signalCode})`}` +
            `\nstdout: ${out}\nstderr: ${err}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async kill(signal = 'SIGKILL') {
      if (!p.running()) return;
      child.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      }
    },
  };
  return p;
}
