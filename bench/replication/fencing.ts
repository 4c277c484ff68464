/*
 * Fencing experiments for bench/replication-choice.ts: what hypercore 11 does when the replica of a channel must
 * continue the SAME stream (same core, same offsets) after the owner is declared dead. Two corestores in one
 * process (A = old owner, B = replica), replicated through a piped stream pair that the experiment cuts and
 * rejoins, each in its own temp dir. Observed, not assumed: every result string is built from what the cores
 * reported.
 *   1. replica-append: B, holding only the core's key, tries to append.
 *   2. shared-key split brain: B was given the writer key pair; A and B are cut off, both append at offset 5
 *      (B as the new owner, A as a paused owner that resumes), then they meet again.
 *   3. truncate fork: as 2, but B first truncates to the acked length with fork + 1 (the "new epoch" a failover
 *      would use), then appends; A appends on the old fork; then they meet again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Corestore from 'corestore';
import type Hypercore from 'hypercore';

export interface FencingResult { name: string; observed: string; data: Record<string, unknown> }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const enc = (s: string) => Buffer.from(s);

/** Waits until `cond` holds or `ms` pass; says which. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

function pipe(a: Corestore, b: Corestore): () => void {
  const s1 = a.replicate(true);
  const s2 = b.replicate(false);
  s1.pipe(s2).pipe(s1);
  const quiet = () => {};
  (s1 as unknown as NodeJS.EventEmitter).on('error', quiet);
  (s2 as unknown as NodeJS.EventEmitter).on('error', quiet);
  return () => { (s1 as unknown as { destroy(): void }).destroy(); (s2 as unknown as { destroy(): void }).destroy(); };
}

function watch(core: Hypercore, log: string[], who: string): void {
  core.on('conflict', (length: number, fork: number) => log.push(`${who}: conflict at length ${length} fork ${fork}`));
  core.on('truncate', (ancestors: number, fork: number) => log.push(`${who}: truncate to ${ancestors} fork ${fork}`));
  core.on('close', () => log.push(`${who}: session closed`));
}

async function block(core: Hypercore, i: number): Promise<string> {
  try {
    const b = await core.get(i, { wait: false });
    return b === null ? '(none)' : b.toString();
  } catch (err) {
    return `error ${(err as { code?: string }).code ?? (err as Error).message}`;
  }
}

async function withStores(fn: (a: Corestore, b: Corestore) => Promise<FencingResult>): Promise<FencingResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hashpub-fencing-'));
  const a = new Corestore(join(dir, 'a'));
  const b = new Corestore(join(dir, 'b'));
  const origLog = console.log;
  const printed: string[] = [];
  console.log = (...args: unknown[]) => { printed.push(args.join(' ')); }; // hypercore prints conflicts to stdout
  try {
    const r = await fn(a, b);
    if (printed.length) r.data.stdout = printed;
    return r;
  } finally {
    console.log = origLog;
    await Promise.allSettled([a.close(), b.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Owner A with 5 acked entries that replica B holds; B's session optionally carries the writer key pair. */
async function setup(a: Corestore, b: Corestore, shareKey: boolean) {
  const kp = await a.createKeyPair('channel');
  const ca = a.get({ keyPair: kp });
  await ca.ready();
  const cb = b.get(shareKey ? { key: ca.key, keyPair: kp } : { key: ca.key });
  await cb.ready();
  cb.download({ start: 0, end: -1 });
  const cut = pipe(a, b);
  await ca.append([0, 1, 2, 3, 4].map((i) => enc(`A${i}`)));
  const acked = await until(() => ca.remoteContiguousLength >= 5 && cb.contiguousLength >= 5, 5000);
  if (!acked) throw new Error('setup: replica did not get the first 5 entries');
  return { ca, cb, cut };
}

async function replicaAppend(a: Corestore, b: Corestore): Promise<FencingResult> {
  const { cb, cut } = await setup(a, b, false);
  let error = 'none';
  try { await cb.append(enc('B5')); } catch (err) { error = (err as { code?: string }).code ?? (err as Error).message; }
  cut();
  return {
    name: 'replica-append',
    observed: `the replica holds the core but not the writer key: writable=${cb.writable}, append -> ${error}. ` +
      'Continuing the same stream after failover needs the writer secret key on the replica (or a multi-signer manifest).',
    data: { writable: cb.writable, error },
  };
}

async function splitBrain(a: Corestore, b: Corestore, truncateFirst: boolean): Promise<FencingResult> {
  const { ca, cb, cut } = await setup(a, b, true);
  const log: string[] = [];
  watch(ca, log, 'A');
  watch(cb, log, 'B');
  cut(); // owner A is "dead" (paused): B takes over
  if (truncateFirst) await cb.truncate(5, { fork: cb.fork + 1 });
  await cb.append(enc('B5'));
  await ca.append(enc('A5')); // the paused owner resumes and writes at the same offset
  const before = { aLen: ca.length, aFork: ca.fork, bLen: cb.length, bFork: cb.fork, aRemoteContig: ca.remoteContiguousLength };
  pipe(a, b); // the partition heals (or the stale owner reconnects)
  await until(() => log.length > 0 || ca.remoteContiguousLength >= 6 || cb.remoteContiguousLength >= 6, 3000);
  await sleep(500); // let a reaction that is already under way finish
  const after = {
    aLen: ca.length, aFork: ca.fork, aClosed: (ca as unknown as { closed: boolean }).closed,
    bLen: cb.length, bFork: cb.fork, bClosed: (cb as unknown as { closed: boolean }).closed,
    aRemoteContig: ca.remoteContiguousLength, bRemoteContig: cb.remoteContiguousLength,
    aBlock5: await block(ca, 5), bBlock5: await block(cb, 5),
  };
  const ackedStale = after.aRemoteContig >= 6 && after.bBlock5 !== 'A5';
  const name = truncateFirst ? 'truncate-fork' : 'shared-key-split-brain';
  const what = log.length ? log.join('; ') : 'no conflict or truncate event within 3.5 s';
  return {
    name,
    observed: `B ${truncateFirst ? 'truncated to 5 (fork ' + before.bFork + ') and ' : ''}appended B5, A appended A5 at the same offset; ` +
      `after they met: ${what}. A: length ${after.aLen} fork ${after.aFork} closed=${after.aClosed} block5=${after.aBlock5}; ` +
      `B: length ${after.bLen} fork ${after.bFork} closed=${after.bClosed} block5=${after.bBlock5}. ` +
      `A's remoteContiguousLength ${after.aRemoteContig}${ackedStale ? ' (A would count its A5 as replicated although B holds B5)' : ''}.`,
    data: { before, after, events: [...log], ackedStale },
  };
}

/** Runs the three experiments, each on fresh stores. */
export async function fencingExperiments(): Promise<FencingResult[]> {
  const out: FencingResult[] = [];
  for (const run of [replicaAppend, (a: Corestore, b: Corestore) => splitBrain(a, b, false), (a: Corestore, b: Corestore) => splitBrain(a, b, true)]) {
    try {
      out.push(await withStores(run));
    } catch (err) {
      out.push({ name: run.name || 'experiment', observed: `failed: ${(err as Error).message}`, data: {} });
    }
  }
  return out;
}
