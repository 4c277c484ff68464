// Shared by the fuzz suites: a real node on loopback with the invariants every suite checks after its hostile
// input (the node answers, nothing acknowledged is lost, a well-behaved client saw every message in order,
// every refusal carries a documented code, no exception text leaks, sessions and memory come back down).
//
// Runs: HASHPUB_FUZZ_SCALE multiplies every suite's numRuns (default 1 keeps the folder under a minute on two
// busy cores; 10 for a long run). A failure prints fast-check's seed and path; replay it with
// HASHPUB_FUZZ_SEED=<seed> HASHPUB_FUZZ_PATH=<path>.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type fc from 'fast-check';
import type { NodeDeps } from '../../lib/node.js';
import type { Options } from '../../lib/options.js';
import { startTestNode, TestClient, until, type TestNode } from '../../lib/testing/index.js';

/** fast-check parameters for a suite of `runs` cases (scaled by HASHPUB_FUZZ_SCALE, replayable by seed and path). */
export function params<T>(runs: number): fc.Parameters<T> {
  const scale = Number(process.env.HASHPUB_FUZZ_SCALE ?? 1);
  const p: fc.Parameters<T> = { numRuns: Math.max(1, Math.round(runs * (scale > 0 ? scale : 1))), includeErrorInReport: true };
  if (process.env.HASHPUB_FUZZ_SEED) p.seed = Number(process.env.HASHPUB_FUZZ_SEED);
  if (process.env.HASHPUB_FUZZ_PATH) p.path = process.env.HASHPUB_FUZZ_PATH;
  return p;
}

/** The error codes spec/protocol.md documents, with their HTTP status (read from its "Errors" table). */
export const DOCUMENTED: ReadonlyMap<string, number> = (() => {
  const text = readFileSync(new URL('../../../spec/protocol.md', import.meta.url), 'utf8');
  const table = text.slice(text.indexOf('## Errors'), text.indexOf('\n## ', text.indexOf('## Errors') + 1));
  const codes = new Map<string, number>();
  for (const m of table.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)) codes.set(m[1]!, Number(m[2]));
  if (codes.size < 10) throw new Error('could not read the error table of spec/protocol.md');
  return codes;
})();

/** Signs of an exception's text in an answer: stack frames, source paths, engine messages. */
const LEAK = /\n\s+at |node_modules|\/lib\/|\.js:\d|TypeError|ReferenceError|RangeError|Cannot read prop|is not a function|undefined is not/;

/**
 * Asserts a refusal is one a client can act on: a documented code other than `internal` (a bug), with its
 * HTTP status when `status` is given, and a message that is not a leaked exception.
 */
export function assertRefusal(code: unknown, message: unknown, status?: number, what = ''): void {
  assert.equal(typeof code, 'string', `${what}: error without a code`);
  assert.ok(DOCUMENTED.has(code as string), `${what}: undocumented code ${String(code)}`);
  assert.notEqual(code, 'internal', `${what}: internal error (a bug): ${String(message)}`);
  if (status !== undefined) assert.equal(status, DOCUMENTED.get(code as string), `${what}: ${String(code)} answered with HTTP ${status}`);
  assert.equal(typeof message, 'string', `${what}: error without a message`);
  assert.doesNotMatch(message as string, LEAK, `${what}: the message leaks an exception`);
}

/** Asserts an HTTP answer is a success or a documented JSON refusal; returns the parsed body (or the text). */
export function assertAnswer(status: number, contentType: string | undefined, text: string, what: string): unknown {
  assert.ok(status >= 200 && status < 600, `${what}: status ${status}`);
  if (status < 400) return text;
  assert.match(contentType ?? '', /application\/json/, `${what}: HTTP ${status} without a JSON body: ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
  assertRefusal(body.error?.code, body.error?.message, status, what);
  return body;
}

/** `p`, or a rejection naming `what` after `ms` (so a stuck step fails the property instead of hanging the run). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

let gcFn: (() => void) | null = null;
/** Heap in use after a full collection, bytes. */
function heapAfterGc(): number {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
  return process.memoryUsage().heapUsed;
}

/** A node under fuzz, with a watcher (a well-behaved client) and messages acknowledged before any fuzzing. */
export interface FuzzNode extends TestNode {
  /** Publishes the next message of the watch channel (call it while fuzzing: the watcher must get every one). */
  beat(): Promise<void>;
  /** Checks every invariant; then stops the node. */
  finish(): Promise<void>;
  /** Label counts of hashpub_errors_total. */
  errorCounts(): Promise<Map<string, number>>;
}

export const WATCH = 'fuzz-watch';
export const ACKED = 'fuzz-acked';
/** Channel names the fuzzers must not touch (they carry the invariants). */
export const RESERVED = new Set([WATCH, ACKED]);

/** Heap growth tolerated after the fuzzing, once every fuzz session is gone. */
const HEAP_SLACK = 48 * 1024 * 1024;

/** Starts a node for fuzzing: small limits (oversized input is cheap to make), short session TTLs. */
export async function startFuzzNode(options: Partial<Options> = {}, deps: NodeDeps = {}): Promise<FuzzNode> {
  const t = await startTestNode({
    data: ':memory:', maxPayloadBytes: 8192, maxBodyBytes: 8192, maxJsonDepth: 32, sessionTtlSeconds: 1,
    presenceGraceSeconds: 1, hookTimeoutMs: 300, ...options,
  }, deps);
  const acked: Array<{ epoch: string; offset: number }> = [];
  for (let i = 1; i <= 3; i++) {
    const r = await t.api('POST', `/v1/channels/${ACKED}/messages`, { data: { acked: i } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    acked.push({ epoch: r.body.epoch, offset: r.body.offset });
  }
  const { client: watcher } = await TestClient.connect(t.url, { token: await t.token('watcher') });
  assert.equal((await watcher.subscribe(WATCH)).type, 'subscribed');
  const sessions = async () => Number(/^hashpub_sessions (\d+)/m.exec(await (await fetch(`${t.url}/metrics`)).text())?.[1]);
  const baseSessions = await sessions();
  const baseHeap = heapAfterGc();
  let beats = 0;

  const errorCounts = async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    return new Map([...text.matchAll(/^hashpub_errors_total\{code="([^"]*)"\} (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  };

  return {
    ...t,
    errorCounts,
    async beat() {
      const n = ++beats;
      const r = await t.api('POST', `/v1/channels/${WATCH}/messages`, { data: { beat: n } }, {}, 10_000);
      assert.equal(r.status, 200, `beat ${n}: ${JSON.stringify(r.body)}`);
    },
    async finish() {
      try {
        assert.equal((await fetch(`${t.url}/healthz`)).status, 200, 'the node still answers');
        // The well-behaved client got every beat, in order, without a gap or a repeat.
        const got = await watcher.waitMessages(WATCH, beats, 10_000);
        assert.deepEqual(got.map((m) => (m.data as { beat: number }).beat), Array.from({ length: beats }, (_, i) => i + 1));
        assert.deepEqual(got.map((m) => m.offset), Array.from({ length: beats }, (_, i) => i + 1));
        assert.equal(watcher.closed, null, 'the watcher stayed connected');
        // Everything acknowledged before the fuzzing is still there.
        const h = await t.api('GET', `/v1/channels/${ACKED}/history`);
        assert.equal(h.status, 200);
        assert.deepEqual(h.body.messages.map((m: { epoch: string; offset: number }) => ({ epoch: m.epoch, offset: m.offset })), acked);
        // Every error the node answered carries a documented code, none of them `internal`.
        for (const [code, n] of await errorCounts()) {
          assert.ok(DOCUMENTED.has(code), `undocumented error code ${code} answered ${n} times`);
          assert.ok(code !== 'internal' || n === 0, `${n} internal errors (bugs): see the node's log`);
        }
        // The fuzz sessions end (TTL 1 s) and the heap comes back near where it was.
        await until('fuzz sessions gone', 15_000, async () => (await sessions()) <= baseSessions, 100);
        const grown = heapAfterGc() - baseHeap;
        assert.ok(grown < HEAP_SLACK, `heap grew by ${(grown / 1e6).toFixed(1)} MB and stayed`);
      } finally {
        watcher.close();
        await t.stop();
      }
    },
  };
}
