// Spawning the `hashpub` CLI as a user would, for the e2e suites: every process and temp dir is tracked
// and removed by cleanupProcesses() (call it in after()).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HASHPUB_BIN, spawnProcess, type TestProcess } from '../../lib/testing/process.js';

export const BIN = HASHPUB_BIN;

/** A running CLI process with its output so far. */
export type Proc = TestProcess;

const dirs: string[] = [];
const procs = new Set<Proc>();

/** A fresh temp dir, removed by cleanupProcesses(). */
export function tempDir(prefix = 'hashpub-e2e-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Starts `hashpub ...args` in `cwd` (stderr keeps its last 20 kB). */
export function launch(args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  const p = spawnProcess(process.execPath, [BIN, ...args], { cwd, env });
  procs.add(p);
  return p;
}

/** Waits until stdout matches `re`; fails if the process exits first or at the deadline. */
export function waitFor(p: Proc, re: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  return p.waitFor(re, ms);
}

/** SIGKILLs every process still running (waiting up to 3 s for them) and removes the temp dirs. */
export async function cleanupProcesses(): Promise<void> {
  await Promise.race([Promise.all([...procs].map((p) => p.kill('SIGKILL'))), new Promise((r) => setTimeout(r, 3000).unref())]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
