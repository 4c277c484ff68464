import { Pool } from 'undici';
import { HashpubError } from '../errors.js';
import type {
  ConnectEvent, ConnectReply, DeliverEvent, DeliverReply, DisconnectEvent, Hooks, PublishEvent, PublishReply,
  SubscribeEvent, SubscribeReply, UnsubscribeEvent,
} from './hooks.js';
import type { HookEvent } from './module-hooks.js';
import { SIGNATURE_HEADER, signWebhook } from './verify.js';

/*
 * Hooks served by the app over HTTP: `POST {url}/{event}` with the event as JSON, signed (verify.ts).
 * One keep-alive undici Pool to the app's origin; at most `concurrency` requests in flight, at most `maxQueue`
 * waiting; beyond that a call fails at once with `unavailable` so a slow app cannot make the node queue
 * without bound. Every request (queue wait included) has a deadline of `timeoutMs`.
 */

/** Settings of a WebhookHooks. */
export interface WebhookHooksOptions {
  /** Base URL of the app's receiver (http or https); events are POSTed to URL/{event}. */
  url: string;
  /** Secret that signs every request (`X-Hashpub-Signature`). */
  secret: string;
  /** Most requests in flight at once (also the pool's connection count). @default 64 */
  concurrency?: number;
  /** Most calls waiting for a free slot; more fail with `unavailable`. @default 10 * concurrency */
  maxQueue?: number;
  /** Deadline of one call, queue wait included, milliseconds. @default 2000 */
  timeoutMs?: number;
  /** Largest reply body accepted, bytes. @default 1048576 */
  maxReplyBytes?: number;
}

/** A snapshot of a WebhookHooks' counters. */
export interface WebhookCounters {
  /** Calls made (each event once). */
  calls: number;
  /** Calls that failed: network, timeout, non-2xx, bad reply, or refused because the queue was full. */
  failures: number;
  /** Calls refused at once because the wait queue was full (also counted in failures). */
  rejected: number;
  /** Requests being sent or awaiting their reply. */
  inFlight: number;
  /** Calls waiting for a free slot. */
  queued: number;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  signal: AbortSignal;
  onAbort(): void;
}

/** Hooks implemented by the app's webhook receiver (all six events). */
export class WebhookHooks implements Hooks {
  private readonly pool: Pool;
  private readonly secret: string;
  private readonly basePath: string;
  private readonly search: string;
  private readonly concurrency: number;
  private readonly maxQueue: number;
  private readonly timeoutMs: number;
  private readonly maxReplyBytes: number;
  private readonly waiters: Waiter[] = [];
  private active = 0;
  private calls = 0;
  private failures = 0;
  private rejected = 0;
  private closed = false;

  constructor(opts: WebhookHooksOptions) {
    const url = new URL(opts.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`webhook URL must be http(s): ${opts.url}`);
    if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw new TypeError('webhook secret must be a non-empty string');
    this.secret = opts.secret;
    this.concurrency = positive('concurrency', opts.concurrency ?? 64);
    this.maxQueue = opts.maxQueue ?? this.concurrency * 10;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0) throw new TypeError('maxQueue must be an integer >= 0');
    this.timeoutMs = positive('timeoutMs', opts.timeoutMs ?? 2000);
    this.maxReplyBytes = positive('maxReplyBytes', opts.maxReplyBytes ?? 1 << 20);
    this.basePath = url.pathname.replace(/\/+$/, '') + '/';
    this.search = url.search;
    this.pool = new Pool(url.origin, {
      connections: this.concurrency,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connect: { timeout: this.timeoutMs },
    });
  }

  /** Counters for tests and metrics. */
  get counters(): WebhookCounters {
    return { calls: this.calls, failures: this.failures, rejected: this.rejected,
      inFlight: this.active, queued: this.waiters.length };
  }

  /** POST /connect. */
  connect(ev: ConnectEvent): Promise<ConnectReply> { return this.post('connect', ev) as Promise<ConnectReply>; }
  /** POST /subscribe. */
  subscribe(ev: SubscribeEvent): Promise<SubscribeReply> { return this.post('subscribe', ev) as Promise<SubscribeReply>; }
  /** POST /publish. */
  publish(ev: PublishEvent): Promise<PublishReply> { return this.post('publish', ev) as Promise<PublishReply>; }
  /** POST /deliver. */
  deliver(ev: DeliverEvent): Promise<DeliverReply> { return this.post('deliver', ev) as Promise<DeliverReply>; }
  /** POST /unsubscribe (notification: the reply body is ignored). */
  async unsubscribe(ev: UnsubscribeEvent): Promise<void> { await this.post('unsubscribe', ev); }
  /** POST /disconnect (notification: the reply body is ignored). */
  async disconnect(ev: DisconnectEvent): Promise<void> { await this.post('disconnect', ev); }

  /** Fails every waiting call and destroys the pool (open requests are aborted). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      w.signal.removeEventListener('abort', w.onAbort);
      w.reject(new HashpubError('unavailable', 'webhook client closed'));
    }
    await this.pool.destroy();
  }

  private async post(event: HookEvent, ev: unknown): Promise<unknown> {
    this.calls++;
    // One deadline for the queue wait and the request; cleared when the call ends, so nothing fires late.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
    const signal = deadline.signal;
    try {
      await this.acquire(event, signal);
    } catch (err) {
      clearTimeout(timer);
      this.failures++;
      throw err;
    }
    try {
      return await this.send(event, ev, signal);
    } catch (err) {
      this.failures++;
      throw this.describe(event, err, signal);
    } finally {
      clearTimeout(timer);
      this.release();
    }
  }

  /** Takes a slot, waits for one in the bounded queue, or throws `unavailable` when the queue is full. */
  private acquire(event: HookEvent, signal: AbortSignal): Promise<void> | void {
    if (this.closed) throw new HashpubError('unavailable', 'webhook client closed');
    if (this.active < this.concurrency) {
      this.active++;
      return;
    }
    if (this.waiters.length >= this.maxQueue) {
      this.rejected++;
      throw new HashpubError('unavailable', `webhook ${event}: too many requests waiting (${this.maxQueue})`, { retryAfter: 1 });
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        resolve, reject, signal,
        onAbort: () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new HashpubError('timeout', `webhook ${event} timed out after ${this.timeoutMs} ms waiting for a free slot`));
        },
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /** Hands the slot to the next waiter, or frees it. */
  private release(): void {
    const w = this.waiters.shift();
    if (!w) {
      this.active--;
      return;
    }
    w.signal.removeEventListener('abort', w.onAbort);
    w.resolve();
  }

  private async send(event: HookEvent, ev: unknown, signal: AbortSignal): Promise<unknown> {
    const body = JSON.stringify(ev);
    const res = await this.pool.request({
      method: 'POST',
      path: this.basePath + event + this.search,
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signWebhook(body, this.secret),
      },
      body,
      signal,
    });
    res.body.on('error', noop); // errors surface through the reads below; never as an uncaught 'error'
    if (res.statusCode < 200 || res.statusCode > 299) {
      res.body.dump({ limit: 64 * 1024 }).catch(noop);
      throw new HashpubError('unavailable', `webhook ${event} answered HTTP ${res.statusCode}`);
    }
    if (event === 'unsubscribe' || event === 'disconnect') {
      await res.body.dump({ limit: this.maxReplyBytes });
      return undefined;
    }
    const length = Number(res.headers['content-length']);
    if (length > this.maxReplyBytes) {
      res.body.destroy();
      throw new HashpubError('internal', `webhook ${event} reply is larger than ${this.maxReplyBytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > this.maxReplyBytes) {
        res.body.destroy();
        throw new HashpubError('internal', `webhook ${event} reply is larger than ${this.maxReplyBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    let reply: unknown;
    try {
      reply = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
    } catch (err) {
      throw new HashpubError('internal', `webhook ${event} reply is not JSON`, { cause: err });
    }
    if (!hasReplyShape(event, reply)) throw new HashpubError('internal', `webhook ${event} reply has the wrong shape`);
    return reply;
  }

  private describe(event: HookEvent, err: unknown, signal: AbortSignal): HashpubError {
    if (err instanceof HashpubError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    if (signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      return new HashpubError('timeout', `webhook ${event} timed out after ${this.timeoutMs} ms`, { cause: err });
    }
    return new HashpubError('unavailable', `webhook ${event} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

/** Whether a parsed reply has the required member of its event (deeper checks are in HookRunner). */
function hasReplyShape(event: HookEvent, reply: unknown): boolean {
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) return false;
  if (event === 'deliver') return Array.isArray((reply as { results?: unknown }).results);
  return typeof (reply as { allow?: unknown }).allow === 'boolean';
}

function noop(): void {}

function positive(name: string, n: number): number {
  if (!(typeof n === 'number' && n > 0 && Number.isFinite(n))) throw new TypeError(`${name} must be a positive number`);
  return n;
}
