// Request/response and one-way messages between cluster nodes over a Membership's framed links.
// Frames are JSON: {t:'req', id, op, args} -> {t:'res', id, ok, value | error{code,message,retryAfter}};
// {t:'msg', op, args} expects no answer. Frames to one peer keep their order (one stream per peer).
import { asHashpubError, ERROR_STATUS, HashpubError, type ErrorCode } from '../errors.js';
import type { Membership } from './membership.js';

/** Answers requests and takes one-way messages from peers; what it throws reaches the caller as a HashpubError. */
export interface RpcHandler {
  /** Answers request `op` from node `from`. */
  request(from: string, op: string, args: any): Promise<unknown>;
  /** Takes one-way message `op` from node `from`. */
  message(from: string, op: string, args: any): void;
}

/** Options of an Rpc endpoint. */
export interface RpcOptions {
  /** A request without an answer this long fails with `timeout`. @default 5000 */
  timeoutMs?: number;
  /** Called per frame with its direction, size and the op it carries or answers (metrics). */
  onTraffic?: (direction: 'in' | 'out', bytes: number, op: string) => void;
  /** Called when a frame cannot be parsed or a handler fails unexpectedly. */
  onError?: (err: unknown, from: string) => void;
}

interface Pending {
  to: string;
  op: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

type Frame =
  | { t: 'req'; id: number; op: string; args: unknown }
  | { t: 'res'; id: number; ok: true; value: unknown }
  | { t: 'res'; id: number; ok: false; error: { code: string; message: string; retryAfter?: number } }
  | { t: 'msg'; op: string; args: unknown };

/** Counters of an Rpc endpoint. */
export interface RpcStats {
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  bytesReceived: number;
  requests: number;
  failed: number;
}

/** Request/response and one-way messages to other nodes of a Membership. */
export class Rpc {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private handler: RpcHandler | null = null;
  private readonly timeoutMs: number;
  private closed = false;
  /** Traffic counters since creation. */
  readonly stats: RpcStats = { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0, requests: 0, failed: 0 };

  constructor(private readonly membership: Membership, private readonly opts: RpcOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    membership.onFrame((from, frame) => this.onFrame(from, frame));
    membership.on('leave', (id) => this.failPeer(id));
  }

  /** Sets the handler of incoming requests and messages. */
  handle(handler: RpcHandler): void {
    this.handler = handler;
  }

  /** Sends request `op` to node `to`; resolves with its answer or rejects with a HashpubError. */
  request<T = unknown>(to: string, op: string, args: unknown): Promise<T> {
    if (this.closed) return Promise.reject(unavailable(`node is shutting down`));
    const id = this.nextId++;
    this.stats.requests++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.stats.failed++;
        reject(new HashpubError('timeout', `no answer from node ${short(to)} to ${op} in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { to, op, resolve: resolve as (v: unknown) => void, reject, timer });
      if (!this.write(to, { t: 'req', id, op, args }, op)) {
        clearTimeout(timer);
        this.pending.delete(id);
        this.stats.failed++;
        reject(unavailable(`node ${short(to)} is not reachable`));
      }
    });
  }

  /** Sends one-way message `op` to node `to`; false if it could not be queued. */
  notify(to: string, op: string, args: unknown): boolean {
    if (this.closed) return false;
    return this.write(to, { t: 'msg', op, args }, op);
  }

  /** Like notify(), with the arguments already encoded as JSON (encoded once, sent to several peers). */
  notifyJson(to: string, op: string, argsJson: string): boolean {
    if (this.closed) return false;
    return this.writeText(to, `{"t":"msg","op":${JSON.stringify(op)},"args":${argsJson}}`, op);
  }

  /** Fails every pending request (shutdown); later requests fail at once. */
  close(): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(unavailable('node is shutting down'));
    }
  }

  private write(to: string, frame: Frame, op: string): boolean {
    return this.writeText(to, JSON.stringify(frame), op);
  }

  private writeText(to: string, text: string, op: string): boolean {
    const buf = Buffer.from(text);
    if (!this.membership.send(to, buf)) return false;
    this.stats.framesSent++;
    this.stats.bytesSent += buf.length;
    this.opts.onTraffic?.('out', buf.length, op);
    return true;
  }

  private onFrame(from: string, raw: Buffer): void {
    this.stats.framesReceived++;
    this.stats.bytesReceived += raw.length;
    let frame: Frame;
    try {
      frame = JSON.parse(raw.toString('utf8')) as Frame;
    } catch (err) {
      this.opts.onError?.(err, from);
      return;
    }
    this.opts.onTraffic?.('in', raw.length, frame.t === 'res' ? this.pending.get(frame.id)?.op ?? 'other' : String(frame.op));
    if (frame.t === 'res') return this.onResponse(frame);
    const handler = this.handler;
    if (frame.t === 'msg') {
      try {
        handler?.message(from, frame.op, frame.args);
      } catch (err) {
        this.opts.onError?.(err, from);
      }
      return;
    }
    if (frame.t !== 'req') return;
    const id = frame.id;
    const run = handler ? Promise.resolve().then(() => handler.request(from, frame.op, frame.args))
      : Promise.reject(unavailable('node is not ready'));
    run.then((value) => {
      this.write(from, { t: 'res', id, ok: true, value: value === undefined ? null : value }, frame.op);
    }, (err) => {
      const e = asHashpubError(err);
      if (e.code === 'internal') this.opts.onError?.(err, from);
      this.write(from, { t: 'res', id, ok: false, error: { code: e.code, message: e.message, retryAfter: e.retryAfter } }, frame.op);
    });
  }

  private onResponse(frame: Extract<Frame, { t: 'res' }>): void {
    const p = this.pending.get(frame.id);
    if (!p) return; // timed out or failed already
    this.pending.delete(frame.id);
    clearTimeout(p.timer);
    if (frame.ok) return p.resolve(frame.value);
    this.stats.failed++;
    const code = (frame.error.code in ERROR_STATUS ? frame.error.code : 'internal') as ErrorCode;
    p.reject(new HashpubError(code, frame.error.message, { retryAfter: frame.error.retryAfter }));
  }

  private failPeer(id: string): void {
    for (const [rid, p] of this.pending) {
      if (p.to !== id) continue;
      clearTimeout(p.timer);
      this.pending.delete(rid);
      this.stats.failed++;
      p.reject(unavailable(`node ${short(id)} left the cluster`));
    }
  }
}

function unavailable(message: string): HashpubError {
  return new HashpubError('unavailable', message, { retryAfter: 1 });
}

function short(id: string): string {
  return id.slice(0, 8);
}
