/**
 * Reconnect-storm load child, lean (bench/reconnect-storm.ts --client lean, the default): the same IPC protocol and
 * the same measurements as storm-clients.ts, but each client is a bare net.Socket speaking just enough RFC 6455
 * (bench/clients/ws-frames.ts) and the official client's reconnect rules imported from lib/client: `nextTry`
 * (a busy node again after its Retry-After, any other failure the next URL after full-jitter backoff), the 10 s
 * connect timeout, the 10 s "stable" reset, the retry of a refused
 * subscription after backoffDelay(1), and resume by position (`subscribe` with `since`, replays below the
 * position dropped). Why: 18,000 official clients in Node (each a `ws` WebSocket, an http.ClientRequest, Error
 * objects with stacks per failed attempt) used 1.3-1.5 of the machine's 2 cores during a storm, leaving the node
 * under test under half a core (bench/results/reconnect-storm-budget-18000-2026-12-02-load.json): that measured
 * the clients. Real clients are browsers on their own machines.
 * Gaps are counted as a client would see them: `announced` when the node answered `recovered: false`, `silent`
 * when a message's offset jumps within an epoch without such an answer.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { backoffDelay, nextTry, STABLE_MS } from '../../lib/client/client.js';
import { newTally, runStormChild, type StormRequest } from './storm-child.js';
import { clientFrame, frames, text } from './ws-frames.js';


const CONNECT_TIMEOUT_MS = 10_000; // the official client's default connectTimeoutMs
const RETRIABLE = new Set(['unavailable', 'timeout', 'internal']);

interface SubState { channel: string; epoch: string | null; offset: number; subscribed: boolean; jumpAllowed: boolean }

class LeanClient {
  sock: Socket | null = null;
  private rest: Buffer | null = null;
  private head: Buffer | null = null;
  private timer: NodeJS.Timeout | null = null;
  urlIndex = -1;
  private attempt = 0;
  private openedAt = 0;
  connected = false;
  private nextId = 1;
  private pending = new Map<number, SubState>();
  lostAt = 0;
  resumedAt = 0;
  failed = 0;
  busy = 0;
  connectWaitMs = 0;
  slowConnects = 0;

  /** The node URLs in this client's order: urls[0] (A) first, the rest as given or, for every other client, reversed. */
  private readonly urls: string[];

  constructor(private readonly r: Extract<StormRequest, { cmd: 'start' }>, readonly subs: SubState[], index: number) {
    this.urls = index % 2 ? [r.urls[0]!, ...r.urls.slice(1).reverse()] : r.urls;
  }

  attemptConnect(): void {
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    const url = new URL(this.urls[this.urlIndex]!);
    const sock = (this.sock = tcpConnect({ host: url.hostname, port: Number(url.port), localAddress: this.r.localAddress, noDelay: true }));
    this.head = Buffer.alloc(0);
    this.rest = null;
    this.connected = false;
    this.timer = setTimeout(() => this.lost(sock, 'timeout: no connection within N ms'), CONNECT_TIMEOUT_MS);
    const startedAt = Date.now();
    sock.on('connect', () => this.onConnect(sock, startedAt, url));
    sock.on('data', (d: Buffer) => this.onData(sock, d));
    sock.on('error', () => {});
    sock.on('close', () => this.lost(sock, 'unavailable: connection closed (N)'));
  }

  private onConnect(sock: Socket, startedAt: number, url: URL): void {
    if (tally.armed && this.lostAt) {
      const waited = Date.now() - startedAt;
      this.connectWaitMs += waited;
      if (waited >= 900) this.slowConnects++;
    }
    sock.write(`GET /v1/ws HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  }

  private onData(sock: Socket, data: Buffer): void {
    if (sock !== this.sock) return;
    if (this.head) {
      const head: Buffer = Buffer.concat([this.head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) { this.head = head; return; }
      if (!head.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) return this.lost(sock, `unavailable: ${head.toString('latin1', 0, head.indexOf('\r\n'))}`);
      this.head = null;
      sock.write(text('{"type":"connect"}'));
      data = head.subarray(end + 4);
      if (data.length === 0) return;
    }
    this.rest = frames(this.rest, data, (op, payload) => this.onFrame(sock, op, payload));
  }

  private onFrame(sock: Socket, opcode: number, payload: Buffer): void {
    if (sock !== this.sock) return;
    if (opcode === 0x9) return void sock.write(clientFrame(0xa, payload));
    if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.subarray(2).toString('utf8');
      if (code === 1013 || code === 4429) return this.lost(sock, `unavailable: node busy (${code})`, Math.max(1, Number(reason) || 1) * 1000);
      return this.lost(sock, `unavailable: connection closed (${code})`);
    }
    if (opcode !== 0x1) return;
    const f = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    if (f.type === 'message') return this.onMessage(f);
    if (f.type === 'connected') {
      clearTimeout(this.timer!);
      this.connected = true;
      this.openedAt = Date.now();
      for (const s of this.subs) this.subscribe(s);
    } else if (f.type === 'subscribed') {
      const s = this.pending.get(f.id as number);
      if (!s) return;
      this.pending.delete(f.id as number);
      if (f.recovered !== true && s.epoch !== null) {
        tally.announcedGaps++;
        s.jumpAllowed = f.epoch === s.epoch;
        if (f.epoch !== s.epoch) { s.epoch = f.epoch as string; s.offset = f.offset as number; }
      } else if (s.epoch === null) { s.epoch = f.epoch as string; s.offset = f.offset as number; }
      s.subscribed = true;
      if (tally.armed && this.lostAt && !this.resumedAt && this.subs.every((x) => x.subscribed)) this.resumedAt = Date.now();
    } else if (f.type === 'error' && typeof f.id === 'number') {
      const s = this.pending.get(f.id);
      if (!s) return;
      this.pending.delete(f.id);
      if (!RETRIABLE.has(String(f.code))) { tally.failedBy[`subscription refused: ${String(f.code)}`] = (tally.failedBy[`subscription refused: ${String(f.code)}`] ?? 0) + 1; return; }
      const retryAfterMs = typeof f.retryAfter === 'number' && f.retryAfter > 0 ? f.retryAfter * 1000 : undefined;
      setTimeout(() => { if (this.sock === sock && this.connected) this.subscribe(s); }, backoffDelay(1, this.r.backoff, retryAfterMs));
    }
  }

  private onMessage(f: Record<string, unknown>): void {
    const s = this.subs.find((x) => x.channel === f.channel);
    if (!s) return;
    const epoch = f.epoch as string;
    const offset = f.offset as number;
    if (s.epoch === epoch && offset <= s.offset) return; // a replay overlap: already seen
    tally.messages++;
    if (s.epoch === epoch && offset !== s.offset + 1 && !s.jumpAllowed) tally.silentGaps++;
    s.jumpAllowed = false;
    s.epoch = epoch;
    s.offset = offset;
  }

  private subscribe(s: SubState): void {
    const id = this.nextId++;
    this.pending.set(id, s);
    const since = s.epoch === null ? {} : { since: { epoch: s.epoch, offset: s.offset } };
    this.sock!.write(text(JSON.stringify({ type: 'subscribe', id, channel: s.channel, ...since })));
  }

  /** The attempt failed or the connection is over: the official client's rule says where and when to try next. */
  private lost(sock: Socket, why: string, retryAfterMs?: number): void {
    if (sock !== this.sock) return;
    this.sock = null;
    clearTimeout(this.timer!);
    sock.destroy();
    this.pending.clear();
    for (const s of this.subs) s.subscribed = false;
    if (tally.armed) {
      if (!this.lostAt) this.lostAt = Date.now();
      else {
        this.failed++;
        if (retryAfterMs !== undefined) this.busy++;
        const key = `${'ABC'[this.r.urls.indexOf(this.urls[this.urlIndex]!)] ?? '?'} ${why}`;
        tally.failedBy[key] = (tally.failedBy[key] ?? 0) + 1;
      }
    }
    if (this.connected && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.connected = false;
    const plan = nextTry(this.attempt, this.r.backoff, retryAfterMs);
    this.attempt = plan.attempt;
    if (plan.sameUrl) this.urlIndex = (this.urlIndex + this.urls.length - 1) % this.urls.length; // attemptConnect steps on
    this.timer = setTimeout(() => this.attemptConnect(), plan.delayMs);
  }
}

const tally = newTally();

runStormChild<LeanClient>({
  open: (r, idx) => {
    const c = new LeanClient(r, Array.from({ length: r.perClient }, (_, k) => ({ channel: r.channels[(idx + k) % r.channels.length]!,
      epoch: null, offset: 0, subscribed: false, jumpAllowed: false })), idx);
    c.attemptConnect();
    return c;
  },
  connected: (c) => c.sock !== null,
  onFirstUrl: (c) => (c.connected && c.urlIndex === 0) || c.lostAt > 0, // or it already saw A go
}, tally);
