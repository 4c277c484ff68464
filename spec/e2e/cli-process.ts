// Spawning the `hashpub` CLI as a user would, for the e2e suites: every process and temp dir is tracked
// and removed by cleanupProcesses() (call it in after()).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/hashpub.js', import.meta.url));

/** A running CLI process with its output so far. */
export interface Proc { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> }

const dirs: string[] = [];
const procs = new Set<ChildProcess>();

/** A fresh temp dir, removed by cleanupProcesses(). */
export function tempDir(prefix = 'hashpub-e2e-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** The environment without the caller's HASHPUB_* settings, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HASHPUB_')));
  return { ...env, ...extra };
}

/** Starts `hashpub ...args` in `cwd` (stderr keeps its last 20 kB). */
export function launch(args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => { out += b; });
  child.stderr!.on('data', (b: Buffer) => { err = (err + b).slice(-20_000); });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits until stdout matches `re`; fails if the process exits first or at the deadline. */
export async function waitFor(p: Proc, re: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(p.stdout());
    if (m) return m;
    if (p.child.exitCode !== null || p.child.signalCode !== null || Date.now() > deadline) {
      assert.fail(`no ${re} in time (exit ${p.child.exitCode}).\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** SIGKILLs every process still running (waiting up to 3 s for them) and removes the temp dirs. */
export async function cleanupProcesses(): Promise<void> {
  const alive = [...procs].filter((p) => p.exitCode === null && p.signalCode === null);
  const gone = Promise.all(alive.map((p) => new Promise((r) => p.once('exit', r))));
  for (const p of alive) p.kill('SIGKILL');
  await Promise.race([gone, new Promise((r) => setTimeout(r, 3000).unref())]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
