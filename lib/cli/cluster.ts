import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from './node-flags.js';
import { OptionsError } from '../errors.js';
import { parseOptions } from '../options.js';
import { generateSecret } from '../secrets.js';
import { CliError, flagOrEnv, positiveInt, readSecrets, secretsPath, UsageError, type ParsedArgs, type StoredSecrets } from './args.js';
import { STOP_WITH_PARENT_ENV, stopOnSignals } from './signals.js';
import { READY_LINE } from './start.js';

const BIN = fileURLToPath(new URL('../../bin/hashpub.js', import.meta.url));
const GRACE_MS = 8000;
/** At most this many nodes start at once (dozens of processes booting together on a few cores all come up late). */
const START_AT_ONCE = 8;
/** While the cluster forms, a progress line at most this often. */
const PROGRESS_MS = 2000;

/** One spawned `hashpub start` child. */
interface Child {
  index: number;
  proc: ChildProcess;
  url: string | null;
  /** Last lines of output before it was ready, shown if it fails. */
  tail: string[];
}

const alive = (c: Child): boolean => c.proc.exitCode === null && c.proc.signalCode === null;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ClusterFlags {
  nodes: number; port: number; base: string; logLevel: string; anonymous: boolean; timeoutMs: number;
}

function readFlags(args: ParsedArgs): ClusterFlags {
  const v = args.values;
  const nodes = positiveInt('nodes', v.nodes, 3);
  if (nodes > 64) throw new UsageError(`bad value for --nodes: at most 64, got ${nodes}`);
  const port = v.port === '0' ? 0 : positiveInt('port', v.port, 8080);
  if (port + nodes - 1 > 65535) throw new UsageError(`bad value for --port: ports ${port}-${port + nodes - 1} pass 65535`);
  const level = flagOrEnv(args, { name: 'log-level', type: 'string', help: '', env: 'HASHPUB_LOG_LEVEL' });
  const logLevel = typeof level === 'string' ? level : 'warn';
  try {
    parseOptions({ logLevel });
  } catch (err) {
    if (err instanceof OptionsError) throw new UsageError(`bad value for --log-level: ${err.message}`);
    throw err;
  }
  const anon = flagOrEnv(args, { name: 'allow-anonymous', type: 'boolean', help: '', env: 'HASHPUB_ALLOW_ANONYMOUS' });
  return {
    nodes, port, logLevel,
    base: typeof v.data === 'string' ? v.data : './.hashpub-cluster',
    anonymous: anon === true || anon === 'true' || anon === '1',
    timeoutMs: positiveInt('timeout', v.timeout, 60) * 1000,
  };
}

/** Flags > env > `<base>/secrets.json` > random; stored back so a restarted dev cluster keeps its keys. */
function clusterSecrets(args: ParsedArgs, base: string): Required<StoredSecrets> {
  const stored = base === ':memory:' ? {} : readSecrets(base);
  const pick = (name: string, env: string, have: string | undefined) => {
    const v = flagOrEnv(args, { name, type: 'string', help: '', env });
    return typeof v === 'string' ? v : have ?? generateSecret();
  };
  const s = {
    apiKey: pick('api-key', 'HASHPUB_API_KEY', stored.apiKey),
    jwtSecret: pick('jwt-secret', 'HASHPUB_JWT_SECRET', stored.jwtSecret),
    secret: stored.secret ?? generateSecret(),
  };
  if (base !== ':memory:') {
    mkdirSync(base, { recursive: true });
    writeFileSync(secretsPath(base), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  }
  return s;
}

function spawnNode(index: number, f: ClusterFlags, bootstrap: string, s: Required<StoredSecrets>): Child {
  const argv = [BIN, 'start', '--host', '127.0.0.1', '--port', String(f.port === 0 ? 0 : f.port + index - 1),
    '--bootstrap', bootstrap, '--cluster', 'dev',
    '--data', f.base === ':memory:' ? ':memory:' : join(f.base, `node-${index}`),
    '--log-level', f.logLevel, ...(f.anonymous ? ['--allow-anonymous'] : [])];
  // Secrets go by env var (same as --secret/--api-key/--jwt-secret) so `ps` does not show them.
  const env = { ...process.env, HASHPUB_SECRET: s.secret, HASHPUB_API_KEY: s.apiKey, HASHPUB_JWT_SECRET: s.jwtSecret, [STOP_WITH_PARENT_ENV]: '1' };
  // Own process group: a terminal Ctrl-C reaches only this parent, which then stops the children in order.
  const proc = spawn(process.execPath, [...NODE_FLAGS, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  const child: Child = { index, proc, url: null, tail: [] };
  const onLine = (line: string, fromStdout: boolean): void => {
    if (child.url === null) {
      const m = fromStdout ? READY_LINE.exec(line) : null;
      if (m) child.url = m[1]!;
      else child.tail = [...child.tail.slice(-19), line];
    } else if (!fromStdout || line.startsWith('{')) {
      process.stderr.write(`[node-${index}] ${line}\n`); // logs after the banner
    }
  };
  createInterface({ input: proc.stdout! }).on('line', (l) => onLine(l, true));
  createInterface({ input: proc.stderr! }).on('line', (l) => onLine(l, false));
  return child;
}

/** Resolves when the child printed its ready line; rejects if it exits first or at the deadline. */
async function waitReady(c: Child, deadline: number): Promise<string> {
  while (c.url === null) {
    if (!alive(c)) {
      await sleep(50); // let the last output lines arrive
      throw new CliError(`node ${c.index} exited (code ${c.proc.exitCode ?? c.proc.signalCode}) before it was ready:\n${c.tail.map((l) => `  | ${l}`).join('\n')}`);
    }
    if (Date.now() > deadline) throw new CliError(`node ${c.index} was not ready in time; its last output:\n${c.tail.map((l) => `  | ${l}`).join('\n')}`);
    await sleep(50);
  }
  return c.url;
}

async function memberCount(url: string, apiKey: string): Promise<number> {
  try {
    const res = await fetch(`${url}/v1/cluster`, { headers: { authorization: `Bearer ${apiKey}` }, signal: AbortSignal.timeout(2000) });
    if (!res.ok) return -1;
    const view = await res.json() as { members?: unknown[] };
    return Array.isArray(view.members) ? view.members.length : -1;
  } catch {
    return -1;
  }
}

/** Polls GET /v1/cluster on every node until each lists all of them, or throws at the deadline. */
async function waitFormed(children: Child[], apiKey: string, deadline: number): Promise<void> {
  const n = children.length;
  let said = '';
  let saidAt = 0;
  for (;;) {
    const counts = await Promise.all(children.map((c) => memberCount(c.url!, apiKey)));
    if (counts.every((k) => k === n)) return;
    const line = `forming: ${counts.filter((k) => k === n).length}/${n} nodes list all ${n} members`;
    if (n > 1 && line !== said && Date.now() - saidAt >= PROGRESS_MS) {
      process.stdout.write(`${line}\n`);
      said = line;
      saidAt = Date.now();
    }
    const dead = children.find((c) => !alive(c));
    if (dead) throw new CliError(`node ${dead.index} exited (code ${dead.proc.exitCode ?? dead.proc.signalCode}) while the cluster was forming`);
    if (Date.now() > deadline) {
      const seen = children.map((c, i) => `node ${c.index} sees ${counts[i]! < 0 ? '?' : counts[i]}/${n}`).join(', ');
      throw new CliError(`cluster did not form in time: ${seen}. Run with --log-level info to see why, or raise --timeout`);
    }
    await sleep(250);
  }
}

/** The nodes to list by URL: all of them up to 10, else the first three and the last two (null = "..."). */
function listed(children: Child[]): Array<Child | null> {
  return children.length <= 10 ? children : [...children.slice(0, 3), null, ...children.slice(-2)];
}

/** "; RSS 80 MB per node (3.9 GB in all)" from /proc (empty where /proc is missing). */
function rssSummary(children: Child[]): string {
  let total = 0;
  for (const c of children) {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.proc.pid}/status`, 'utf8'))?.[1]);
      if (!Number.isFinite(kb)) return '';
      total += kb * 1024;
    } catch {
      return '';
    }
  }
  const mb = (b: number) => Math.round(b / 1048576);
  return `; RSS ${mb(total / children.length)} MB per node (${total >= 1024 ** 3 ? `${(total / 1024 ** 3).toFixed(1)} GB` : `${mb(total)} MB`} in all)`;
}

/** SIGTERM every child, SIGKILL what is left after the grace period. */
async function stopChildren(children: Child[]): Promise<void> {
  const exits = children.filter(alive).map((c) => new Promise<void>((r) => {
    c.proc.once('exit', () => r());
    c.proc.kill('SIGTERM');
  }));
  const all = Promise.all(exits);
  const timer = sleep(GRACE_MS).then(() => 'timeout' as const);
  if (await Promise.race([all, timer]) === 'timeout') {
    for (const c of children.filter(alive)) c.proc.kill('SIGKILL');
    await Promise.race([all, sleep(2000)]);
  }
}

/** `hashpub cluster`: an in-process DHT bootstrap plus N `hashpub start` children on loopback. */
export async function runCluster(args: ParsedArgs): Promise<void> {
  const f = readFlags(args);
  const secrets = clusterSecrets(args, f.base);
  const { startBootstrap } = await import('../cluster/bootstrap.js');
  const boot = await startBootstrap('127.0.0.1', 0);
  const bootstrap = `${boot.host}:${boot.port}`;
  process.stdout.write(`bootstrap listening on ${bootstrap}\nstarting ${plural(f.nodes, 'node')}...\n`);
  const children: Child[] = [];
  process.on('exit', () => { for (const c of children) if (alive(c)) c.proc.kill('SIGKILL'); });
  let stopping = false;
  const stopAll = async () => { stopping = true; await stopChildren(children); await boot.close(); };
  stopOnSignals(plural(f.nodes, 'node'), stopAll, GRACE_MS + 5000);
  const started = Date.now();
  const deadline = started + f.timeoutMs;
  try {
    let next = 1;
    let ready = 0;
    let failed = false;
    // START_AT_ONCE nodes boot at a time; each one ready lets the next start.
    await Promise.all(Array.from({ length: Math.min(START_AT_ONCE, f.nodes) }, async () => {
      while (next <= f.nodes && !failed) {
        const c = spawnNode(next++, f, bootstrap, secrets);
        children.push(c);
        const url = await waitReady(c, deadline).catch((err: unknown) => { failed = true; throw err; });
        ready++;
        process.stdout.write(`node ${c.index}/${f.nodes} ready at ${url} (pid ${c.proc.pid})` +
          (f.nodes > START_AT_ONCE ? ` [${ready} of ${f.nodes} ready]` : '') + '\n');
      }
    }));
    children.sort((a, b) => a.index - b.index);
    await waitFormed(children, secrets.apiKey, deadline);
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
  for (const c of children) {
    c.proc.on('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`node ${c.index} exited (${signal ?? `code ${code}`})\n`);
      if (!children.some(alive)) void boot.close().finally(() => process.exit(1));
    });
  }
  const data = f.base === ':memory:' ? '' : ` --data ${f.base}`;
  process.stdout.write([
    `cluster formed: ${plural(f.nodes, 'member')}`,
    `  in ${((Date.now() - started) / 1000).toFixed(1)} s${rssSummary(children)}`,
    ...listed(children).map((c) => (c ? `  node ${c.index}  ${c.url}` : '  ...')),
    `  bootstrap   ${bootstrap}`,
    `  API key     ${secrets.apiKey}`,
    `  JWT secret  ${secrets.jwtSecret}`,
    ...(f.base === ':memory:' ? [] : [`  secrets     ${secretsPath(f.base)}`]),
    '',
    'Try:',
    `  hashpub publish news '{"hello":"world"}' --url ${children[0]!.url}${data}`,
    `  hashpub status --url ${children[children.length - 1]!.url}${data}`,
    `  hashpub token --user alice${data}`,
    'Ctrl-C stops every node.',
    '',
  ].join('\n'));
}
