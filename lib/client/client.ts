import type {
  BackoffOptions, Client, ClientErrorShape, ClientState, ConnectOptions, Gap, Message, Off, Presence, PublishAck,
  StateInfo, StreamPosition, SubscribeOptions, Subscription, SubscriptionState, SubscriptionStateInfo, TransportName,
  WebSocketConstructor, WebSocketLike,
} from './types.js';

export type * from './types.js';

/*
 * The official hashpub client (`hashpub/client`, and `GET /v1/client.js` from every node): one dependency-free
 * ES module for browsers and Node. Two explicit state machines (client and subscription, after the Centrifugo
 * client SDK spec), full-jitter backoff, rotation over node URLs, resume (session first, then positions),
 * fallback WebSocket -> SSE -> long-poll. One file on purpose, past the house's ~400 lines: it is served as is
 * and imported by URL, so it may not import anything at run time (type imports vanish when compiled).
 */


// ---- pure decisions (exported for tests) ----

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 20_000 };
/** A connection that lasted this long resets the backoff; a shorter one keeps growing it (no tight loop). */
export const STABLE_MS = 10_000;

/** Delay before retry `attempt` (0-based): Retry-After plus random(0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, b: BackoffOptions, retryAfterMs = 0, random: () => number = Math.random): number {
  return retryAfterMs + Math.floor(random() * Math.min(b.capMs, b.baseMs * 2 ** Math.min(attempt, 30)));
}

/** Jitter added to a busy node's Retry-After (which counts whole seconds): the herd it names spreads over that second. */
export const BUSY_JITTER_MS = 1000;

/**
 * After the `attempt`-th failure in a row (0-based), when and where to try next (the client's reconnect rule,
 * exported so load generators such as bench/clients/lean-storm-clients.ts retry exactly as the client does):
 * - a node that answered busy (503 or close 1013 with Retry-After) is up and has said when to come back: the same
 *   URL again after Retry-After plus up to BUSY_JITTER_MS, and the backoff does not grow (the node's schedule
 *   replaces it; trying the other URLs meanwhile would knock on nodes that may be down and grow the backoff);
 * - any other failure: the next URL in the rotation, after full-jitter exponential backoff
 *   random(0, min(cap, base * 2^attempt)).
 */
export function nextTry(attempt: number, b: BackoffOptions, retryAfterMs?: number,
  random: () => number = Math.random): { delayMs: number; attempt: number; sameUrl: boolean } {
  if (retryAfterMs !== undefined) return { delayMs: retryAfterMs + Math.floor(random() * BUSY_JITTER_MS), attempt, sameUrl: true };
  return { delayMs: backoffDelay(attempt, b, undefined, random), attempt: attempt + 1, sameUrl: false };
}

/** What moves the client: an attempt starts, succeeds, fails (or the connection is lost), or close(). */
export type ClientEvent = 'connect' | 'open' | 'fail' | 'close';
const CLIENT_MOVES: Record<ClientState, Partial<Record<ClientEvent, ClientState>>> = {
  disconnected: { connect: 'connecting', close: 'closed' },
  connecting: { open: 'connected', fail: 'disconnected', close: 'closed' },
  connected: { fail: 'disconnected', close: 'closed' },
  closed: {},
};
/** The client's next state, or null when `event` does not apply in `state`. */
export function clientTransition(state: ClientState, event: ClientEvent): ClientState | null {
  return CLIENT_MOVES[state][event] ?? null;
}

/** What moves a subscription: request sent, server's answer, connection lost, refused or kicked, unsubscribe(). */
export type SubscriptionEvent = 'subscribe' | 'subscribed' | 'lost' | 'refused' | 'unsubscribe';
const SUB_MOVES: Record<SubscriptionState, Partial<Record<SubscriptionEvent, SubscriptionState>>> = {
  unsubscribed: { subscribe: 'subscribing' },
  subscribing: { subscribed: 'subscribed', lost: 'subscribing', refused: 'unsubscribed', unsubscribe: 'unsubscribed' },
  subscribed: { subscribed: 'subscribed', lost: 'subscribing', refused: 'unsubscribed', unsubscribe: 'unsubscribed' },
};
/** The subscription's next state, or null when `event` does not apply in `state`. */
export function subscriptionTransition(state: SubscriptionState, event: SubscriptionEvent): SubscriptionState | null {
  return SUB_MOVES[state][event] ?? null;
}

/** Whether a JWT's `exp` is past (with `skewMs` to spare); unreadable tokens count as not expired (the server decides). */
export function tokenExpired(token: string, nowMs: number, skewMs = 5000): boolean {
  try {
    const part = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const exp = (JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))) as { exp?: unknown }).exp;
    return typeof exp === 'number' && exp * 1000 <= nowMs + skewMs;
  } catch {
    return false;
  }
}

/** An SSE parser (the WHATWG framing rules): feed it text chunks, it calls `onEvent` per complete event. */
export function sseParser(onEvent: (event: string, data: string, id: string | undefined) => void): (chunk: string) => void {
  let buf = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  return (chunk) => {
    buf += chunk;
    let i: number;
    while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
      if (buf[i] === '\r' && i === buf.length - 1) break; // a CR at the end may be half of a CRLF
      const line = buf.slice(0, i);
      buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (data.length > 0 || id !== undefined) onEvent(event || 'message', data.join('\n'), id);
        event = ''; data = []; id = undefined;
        continue;
      }
      const c = line.indexOf(':');
      if (c === 0) continue;
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? '' : line.slice(c + (line[c + 1] === ' ' ? 2 : 1));
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id') id = value;
    }
  };
}

/** A client error with a stable code (spec/protocol.md codes, or timeout / closed / unsupported). */
export class ClientError extends Error implements ClientErrorShape {
  constructor(readonly code: string, message: string, readonly retryAfterMs?: number, readonly channel?: string) {
    super(message);
    this.name = 'ClientError';
  }
}

/** Errors after which the client stops for good (a new token cannot help, or the server said so). */
const FATAL = new Set(['disconnected', 'forbidden', 'closed']);
/** Errors a publish is retried after (it was not applied, or it carries a key that makes it apply once). */
const RETRIABLE = new Set(['unavailable', 'timeout', 'internal']);

/** A close code of the server as an error (spec/protocol.md "Close codes"). */
function closeError(code: number, reason: string): ClientError {
  if (code === 4401) return new ClientError('unauthorized', reason || 'token missing, invalid or expired');
  if (code === 4403) return new ClientError('forbidden', reason || 'connection refused');
  if (code === 4000) return new ClientError('disconnected', reason || 'disconnected by the server');
  if (code === 1013) return new ClientError('unavailable', 'node busy (1013)', Math.max(1, Number(reason) || 1) * 1000);
  if (code === 4429) return new ClientError('rate_limited', 'too many refused requests (4429)', Math.max(1, Number(reason) || 10) * 1000);
  return new ClientError('unavailable', `connection closed (${code}${reason ? ` ${reason}` : ''})`);
}

/** An HTTP error answer as an error (body `{"error": {code, message, channel?}}`, Retry-After in seconds). */
async function httpError(res: Response): Promise<ClientError> {
  const body = await res.json().catch(() => null) as { error?: { code?: string; message?: string; channel?: string } } | null;
  const retry = Number(res.headers.get('retry-after'));
  return new ClientError(body?.error?.code ?? (res.status === 401 ? 'unauthorized' : 'unavailable'), body?.error?.message ?? `HTTP ${res.status}`,
    retry > 0 ? retry * 1000 : undefined, body?.error?.channel);
}

/** An idempotency key for a publish (crypto.getRandomValues works on plain-HTTP pages too, unlike randomUUID). */
function randomKey(): string {
  const b = new Uint8Array(12);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

type Frame = Record<string, unknown> & { type: string };
type Listener = (...args: never[]) => void;

/** Tiny event emitter (no EventTarget: Node 20 and browsers differ in what they dispatch). */
class Emitter {
  private readonly listeners = new Map<string, Set<Listener>>();
  on(event: string, fn: Listener): Off {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }
  protected emit(event: string, ...args: unknown[]): void {
    for (const fn of [...this.listeners.get(event) ?? []]) {
      try { (fn as (...a: unknown[]) => void)(...args); } catch (err) { queueMicrotask(() => { throw err; }); }
    }
  }
}

// ---- the subscription state machine ----

class Sub extends Emitter implements Subscription {
  state: SubscriptionState = 'unsubscribed';
  position: StreamPosition | null;
  /** The last answer said recovered:false in the same epoch: the next message may jump (the gap was told). */
  private jumpAllowed = false;

  constructor(private readonly client: HashpubClient, readonly channel: string, private readonly handler: (m: Message) => void, since?: StreamPosition) {
    super();
    this.position = since ? { epoch: since.epoch, offset: since.offset } : null;
  }

  /** Applies `event`; emits `state` when the state changes. Returns false when `event` does not apply. */
  move(event: SubscriptionEvent, info: SubscriptionStateInfo = {}): boolean {
    const next = subscriptionTransition(this.state, event);
    if (next === null) return false;
    const changed = next !== this.state;
    this.state = next;
    if (changed) this.emit('state', next, info);
    return true;
  }

  get active(): boolean {
    return this.state !== 'unsubscribed';
  }

  /** The server's `subscribed` answer (WebSocket reply, resume, or an SSE/long-poll stream start). */
  onSubscribed(f: Frame): void {
    if (!this.active) return;
    const to = { epoch: f.epoch as string, offset: f.offset as number };
    const had = this.position;
    if (f.recovered !== true && had) {
      this.emit('gap', { channel: this.channel, from: had, to } satisfies Gap);
      this.jumpAllowed = to.epoch === had.epoch;
      if (to.epoch !== had.epoch) this.position = to;
    } else if (!had) this.position = to;
    this.move('subscribed', { recovered: f.recovered === true });
  }

  onMessage(f: Frame): void {
    if (!this.active) return;
    const p = this.position;
    const m = f as unknown as Message;
    if (p && m.epoch === p.epoch && m.offset <= p.offset) return; // already delivered (a replay overlap)
    if (p && !this.jumpAllowed && (m.epoch !== p.epoch || m.offset !== p.offset + 1)) {
      this.emit('gap', { channel: this.channel, from: p, to: { epoch: m.epoch, offset: m.offset - 1 } } satisfies Gap);
    }
    this.jumpAllowed = false;
    this.position = { epoch: m.epoch, offset: m.offset };
    const { type: _t, ...message } = f;
    this.handler(message as unknown as Message);
  }

  onPresence(f: Frame): void {
    const { type: _t, ...p } = f;
    this.emit('presence', p as unknown as Presence);
  }

  /** The server refused or ended the subscription (refusal, kick): it is over. */
  refuse(err: ClientError): void {
    if (!this.move('refused', { reason: err.code })) return;
    this.client.forget(this);
    this.emit('error', err);
  }

  unsubscribe(): void {
    if (!this.move('unsubscribe', { reason: 'unsubscribe' })) return;
    this.client.forget(this, true);
  }
}

// ---- transports: each is one connection; the client holds at most one ----

/** What a transport tells its client; calls from a transport the client no longer holds are ignored. */
interface Transport {
  readonly name: TransportName;
  open(): void;
  /** The set of subscriptions changed (a new one, or one ended). */
  sync(sub: Sub, added: boolean): void;
  publish(channel: string, data: unknown, key: string): Promise<PublishAck>;
  /** Closes; `goodbye` tells the server to end the session now. */
  close(goodbye: boolean): void;
}

const wsUrl = (url: string) => url.replace(/^http/, 'ws') + '/v1/ws';

class WsTransport implements Transport {
  readonly name = 'websocket';
  private ws: WebSocketLike | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { sub?: Sub; resolve?: (f: Frame) => void; reject?: (e: ClientError) => void }>();
  /** `connected` arrived: subscriptions can be sent. */
  private ready = false;
  private heard = Date.now();
  /** The node's keepalive period (`connected.ping`, ms): it pings this socket at least that often. Null until known. */
  private nodePingMs: number | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly c: HashpubClient, private readonly url: string, private readonly token: string | undefined, private readonly Ws: WebSocketConstructor) {}

  open(): void {
    const ws = (this.ws = new this.Ws(wsUrl(this.url)));
    ws.onopen = () => {
      const since: Record<string, StreamPosition> = {};
      for (const s of this.c.subs.values()) if (s.position) since[s.channel] = s.position;
      // ping: the node's keepalive as text frames this page can see (answered with pong), not WebSocket pings it cannot.
      this.send({ type: 'connect', ping: true, ...(this.token ? { token: this.token } : {}), ...(this.c.session ? { session: this.c.session, since } : {}) });
    };
    ws.onmessage = (e) => {
      this.heard = Date.now();
      let f: Frame;
      try { f = JSON.parse(String(e.data)) as Frame; } catch { return; }
      this.onFrame(f);
    };
    ws.onclose = (e) => this.end(closeError(e.code, e.reason));
    ws.onerror = () => {};
    // Liveness. A node that pings (`connected.ping`) sends a frame at least once a period: nothing heard for the period
    // + 15 s means the connection is dead. Before `connected`, or with a node that does not ping: a ping of our own
    // when quiet for 20 s, dead after 30 s.
    this.timer = setInterval(() => {
      const quiet = Date.now() - this.heard;
      if (quiet > (this.nodePingMs === null ? 30_000 : this.nodePingMs + 15_000)) {
        this.ws?.close(4100, 'no answer');
        this.end(new ClientError('timeout', 'no answer from the node'));
      } else if (this.nodePingMs === null && quiet > 20_000) this.send({ type: 'ping' });
    }, 5000);
  }

  private onFrame(f: Frame): void {
    const c = this.c;
    if (f.type === 'ping') return this.send({ type: 'pong' });
    if (f.type === 'connected') {
      if (typeof f.ping === 'number' && f.ping > 0) this.nodePingMs = f.ping * 1000;
      c.session = f.session as string;
      this.ready = true;
      c.opened(this);
      const resumed = new Set(f.resumed === true ? f.channels as string[] : []);
      for (const ch of resumed) if (!c.subs.has(ch)) this.send({ type: 'unsubscribe', id: this.nextId++, channel: ch });
      for (const s of c.subs.values()) if (!resumed.has(s.channel)) this.subscribe(s);
    } else if (f.type === 'subscribed' || (f.type === 'error' && (f.id !== undefined || f.channel !== undefined))) {
      const p = typeof f.id === 'number' ? this.pending.get(f.id) : undefined;
      if (p) this.pending.delete(f.id as number);
      if (p?.reject) return f.type === 'error' ? p.reject(frameError(f)) : p.resolve!(f);
      const sub = p?.sub ?? c.subs.get(f.channel as string);
      if (!sub || (p?.sub && c.subs.get(sub.channel) !== sub)) return;
      if (f.type === 'subscribed') return sub.onSubscribed(f);
      const err = frameError(f);
      if (RETRIABLE.has(err.code)) setTimeout(() => { if (this.ws && c.subs.get(sub.channel) === sub) this.subscribe(sub); }, backoffDelay(1, c.backoff, err.retryAfterMs));
      else sub.refuse(err);
    } else if (f.type === 'reply') {
      const p = this.pending.get(f.id as number);
      this.pending.delete(f.id as number);
      p?.resolve?.(f);
    } else if (f.type !== 'error') c.onFrame(f); // an error without id: a connect refusal, the close that follows says what to do
  }

  private send(f: Record<string, unknown>): void {
    try { this.ws?.send(JSON.stringify(f)); } catch { /* closing: onclose follows */ }
  }

  private subscribe(s: Sub): void {
    const id = this.nextId++;
    this.pending.set(id, { sub: s });
    this.send({ type: 'subscribe', id, channel: s.channel, ...(s.position ? { since: s.position } : {}) });
  }

  sync(s: Sub, added: boolean): void {
    if (!this.ready) return; // not connected yet: `connected` subscribes all
    if (added) this.subscribe(s);
    else this.send({ type: 'unsubscribe', id: this.nextId++, channel: s.channel });
  }

  publish(channel: string, data: unknown, key: string): Promise<PublishAck> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: (f) => resolve({ channel: f.channel as string, epoch: f.epoch as string, offset: f.offset as number,
        ...(f.duplicate ? { duplicate: true } : {}) }), reject });
      this.send({ type: 'publish', id, channel, data, key });
    });
  }

  close(goodbye: boolean): void {
    const ws = this.ws;
    this.end(null);
    if (ws) { ws.onclose = null; ws.close(goodbye ? 1000 : 4100); }
  }

  /** The connection is over: fail what waits on it and tell the client once. */
  private end(err: ClientError | null): void {
    if (!this.ws) return;
    this.ws = null;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.pending.values()) p.reject?.(new ClientError('unavailable', 'connection lost before the answer'));
    this.pending.clear();
    if (err) this.c.lost(this, err);
  }
}

function frameError(f: Frame): ClientError {
  const retryAfterMs = typeof f.retryAfter === 'number' && f.retryAfter > 0 ? f.retryAfter * 1000 : undefined;
  return new ClientError(String(f.code), String(f.message ?? f.code), retryAfterMs, f.channel as string | undefined);
}

/** SSE (fetch-streamed, so it can send Authorization and Last-Event-ID) and long-poll share this much. */
abstract class HttpTransport implements Transport {
  abstract readonly name: TransportName;
  protected gen = 0;
  protected ctrl: AbortController | null = null;
  protected closed = false;
  /** The channel list of the request in flight. */
  protected channels: string[] = [];
  private syncing = false;

  constructor(protected readonly c: HashpubClient, protected readonly url: string, protected readonly token: string | undefined) {}

  open(): void {
    void this.run(this.gen);
  }

  /** One request generation (a stream, or a chain of polls) until it ends or sync() starts another. */
  protected abstract run(gen: number): Promise<void>;

  protected headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** `channel=a&channel=b` of the active subscriptions, and the cursor `<session>.<positions>` for them. */
  protected query(): { qs: string; cursor: string | null } {
    this.channels = [...this.c.subs.keys()];
    const positions = this.channels.map((ch) => { const p = this.c.subs.get(ch)!.position; return p ? `${p.epoch}:${p.offset}` : '-'; });
    const session = this.c.session ? `${this.c.session}.` : '';
    return {
      qs: this.channels.map((ch) => `channel=${encodeURIComponent(ch)}`).join('&'),
      cursor: session || positions.some((p) => p !== '-') ? session + (positions.join(',') || '-') : null,
    };
  }

  /** Nothing to stream (no subscription, no token): the node being up is all "connected" means. */
  protected async idle(gen: number): Promise<boolean> {
    if (this.c.subs.size > 0 || this.token) return false;
    await this.fetch('/healthz', {}, gen);
    this.c.opened(this);
    return true;
  }

  /** fetch with this generation's abort signal (and a deadline for the answer); an aborted or superseded request throws null. */
  protected async fetch(path: string, init: RequestInit, gen: number, timeoutMs = 0): Promise<Response> {
    const ctrl = (this.ctrl = new AbortController());
    const timer = timeoutMs > 0 ? setTimeout(() => ctrl.abort(), timeoutMs) : null;
    try {
      const res = await fetch(this.url + path, { ...init, signal: ctrl.signal });
      if (timer) clearTimeout(timer);
      if (gen !== this.gen) throw null;
      if (!res.ok) throw await httpError(res);
      return res;
    } catch (err) {
      if (timer) clearTimeout(timer);
      if (err === null || gen !== this.gen || this.closed) throw null;
      throw err instanceof ClientError ? err : new ClientError('unavailable', `node unreachable: ${(err as Error).message}`);
    }
  }

  /** A request generation failed: a refused channel is dropped and the request made again; else the connection is lost. */
  protected failed(err: unknown, gen: number): void {
    if (err === null || gen !== this.gen || this.closed) return;
    const e = err as ClientError;
    const sub = e.channel !== undefined ? this.c.subs.get(e.channel) : undefined;
    if (sub) {
      sub.refuse(e);
      return this.restart();
    }
    this.closed = true;
    this.c.lost(this, e);
  }

  protected restart(): void {
    this.gen++;
    this.ctrl?.abort();
    void this.run(this.gen);
  }

  sync(): void {
    if (this.syncing || this.closed) return;
    this.syncing = true;
    queueMicrotask(() => { // one new request for a burst of subscribe() calls
      this.syncing = false;
      if (!this.closed && [...this.c.subs.keys()].join('\n') !== this.channels.join('\n')) this.restart();
    });
  }

  async publish(channel: string, data: unknown, key: string): Promise<PublishAck> {
    const token = await this.c.freshToken();
    const res = await fetch(`${this.url}/v1/channels/${encodeURIComponent(channel)}/messages`, {
      method: 'POST', body: JSON.stringify({ data, id: key }),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }).catch((err: Error) => { throw new ClientError('unavailable', `node unreachable: ${err.message}`); });
    if (!res.ok) throw await httpError(res);
    return await res.json() as PublishAck;
  }

  close(goodbye: boolean): void {
    if (this.closed && !goodbye) return;
    this.closed = true;
    this.gen++;
    this.ctrl?.abort();
    const session = this.c.session;
    if (goodbye && session) {
      void fetch(`${this.url}/v1/${this.name}?cursor=${encodeURIComponent(session + '.-')}`, { method: 'DELETE', keepalive: true }).catch(() => {});
    }
  }
}

/** An SSE stream silent this long is taken for dead (the node sends `: ping` every 25 s). */
const SSE_SILENCE_MS = 60_000;

class SseTransport extends HttpTransport {
  readonly name = 'sse';

  protected async run(gen: number): Promise<void> {
    try {
      if (await this.idle(gen)) return;
      const { qs, cursor } = this.query();
      const res = await this.fetch(`/v1/sse?${qs}`, { headers: { ...this.headers(), ...(cursor ? { 'last-event-id': cursor } : {}), accept: 'text/event-stream' } }, gen);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      const parse = sseParser((event, data, id) => {
        if (gen !== this.gen) return;
        if (id) this.c.session = id.slice(0, Math.max(0, id.indexOf('.'))) || this.c.session;
        if (!data) return;
        try { this.c.onFrame(JSON.parse(data) as Frame); } catch { /* not JSON: ignore */ }
        void event;
      });
      this.c.opened(this);
      // The node writes at least a comment every 25 s: silence for SSE_SILENCE_MS means the connection is dead.
      let heard = Date.now();
      const watchdog = setInterval(() => { if (Date.now() - heard > SSE_SILENCE_MS) this.ctrl?.abort(); }, 5000);
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (gen !== this.gen) return void reader.cancel().catch(() => {});
          if (done) throw new ClientError('unavailable', 'the stream ended');
          heard = Date.now();
          parse(decoder.decode(value, { stream: true }));
        }
      } finally {
        clearInterval(watchdog);
      }
    } catch (err) {
      this.failed(err instanceof ClientError || err === null ? err : new ClientError('unavailable', String(err)), gen);
    }
  }
}

class PollTransport extends HttpTransport {
  readonly name = 'poll';
  /** The cursor of the last answer, while the channel list is the same. */
  private cursor: string | null = null;
  private cursorFor = '';

  protected async run(gen: number): Promise<void> {
    try {
      if (await this.idle(gen)) return;
      let first = true;
      while (gen === this.gen) {
        const { qs, cursor } = this.query();
        const key = this.channels.join('\n');
        const use = this.cursor && this.cursorFor === key ? this.cursor : cursor;
        const wait = first ? 0 : this.c.pollSeconds;
        const res = await this.fetch(`/v1/poll?${qs}${qs ? '&' : ''}timeout=${wait}${use ? `&cursor=${encodeURIComponent(use)}` : ''}`,
          { headers: this.headers() }, gen, (wait + 15) * 1000);
        const body = await res.json() as { messages: Frame[]; cursor: string };
        if (gen !== this.gen) return;
        this.cursor = body.cursor;
        this.cursorFor = key;
        this.c.session = body.cursor.slice(0, body.cursor.indexOf('.'));
        if (first) this.c.opened(this);
        first = false;
        for (const f of body.messages) this.c.onFrame(f);
      }
    } catch (err) {
      this.failed(err, gen);
    }
  }
}

// ---- the client state machine ----

class HashpubClient extends Emitter implements Client {
  state: ClientState = 'disconnected';
  session: string | null = null;
  readonly subs = new Map<string, Sub>();
  readonly backoff: BackoffOptions;
  readonly pollSeconds: number;
  private readonly urls: string[];
  private readonly transports: TransportName[];
  private conn: Transport | null = null;
  private current: { transport: TransportName; url: string } | null = null;
  private urlIndex = -1;
  private transportIndex = 0;
  private failures = 0;
  private readonly proven = new Set<TransportName>();
  private attempt = 0;
  private openedAt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private token: string | undefined;
  private waiters = new Set<() => void>();

  constructor(urls: string[], private readonly opts: ConnectOptions) {
    super();
    if (urls.length === 0) throw new ClientError('bad_request', 'connect() needs at least one node URL');
    this.urls = urls.map((u) => u.replace(/\/+$/, ''));
    this.transports = opts.transports?.length ? [...opts.transports] : ['websocket', 'sse', 'poll'];
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.pollSeconds = opts.pollSeconds ?? 25;
    const g = globalThis as { addEventListener?: (e: string, f: () => void) => void };
    g.addEventListener?.('pagehide', () => { if (this.conn && this.conn.name !== 'websocket') this.conn.close(true); });
    queueMicrotask(() => void this.attemptConnect());
  }

  get transport(): TransportName | null { return this.current?.transport ?? null; }
  get url(): string | null { return this.current?.url ?? null; }
  transportOf(): Transport | null { return this.conn; }

  private move(event: ClientEvent, info: StateInfo = {}): boolean {
    const next = clientTransition(this.state, event);
    if (next === null) return false;
    this.state = next;
    this.emit('state', next, info);
    if (next === 'connected' || next === 'closed') for (const w of [...this.waiters]) w();
    return true;
  }

  /** The next transport to try: the current one, skipping any this environment lacks (WebSocket in Node 20). */
  private pickTransport(): TransportName | null {
    for (let i = 0; i < this.transports.length; i++) {
      const name = this.transports[(this.transportIndex + i) % this.transports.length]!;
      if (name !== 'websocket' || this.wsConstructor()) {
        this.transportIndex = (this.transportIndex + i) % this.transports.length;
        return name;
      }
    }
    return null;
  }

  private wsConstructor(): WebSocketConstructor | undefined {
    return this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  private async attemptConnect(): Promise<void> {
    this.retryTimer = null;
    const transport = this.pickTransport();
    if (!transport) return this.stop(new ClientError('unsupported', 'none of the transports is available here (pass a WebSocket constructor?)'));
    const url = this.urls[(this.urlIndex = (this.urlIndex + 1) % this.urls.length)]!;
    this.current = { transport, url };
    if (!this.move('connect', { transport, url })) return;
    let token: string | undefined;
    try {
      token = await this.freshToken();
    } catch (err) {
      return this.lost(null, new ClientError('unauthorized', `the token callback failed: ${(err as Error).message}`));
    }
    if (this.state !== 'connecting') return;
    const conn = transport === 'websocket' ? new WsTransport(this, url, token, this.wsConstructor()!)
      : transport === 'sse' ? new SseTransport(this, url, token) : new PollTransport(this, url, token);
    this.conn = conn;
    this.connectTimer = setTimeout(() => {
      if (this.conn !== conn || this.state !== 'connecting') return;
      conn.close(false);
      this.lost(conn, new ClientError('timeout', `no connection within ${this.opts.connectTimeoutMs ?? 10_000} ms`));
    }, this.opts.connectTimeoutMs ?? 10_000);
    conn.open();
  }

  /** The token to use now: the string, or the callback's (cached until it expires or the server refuses it). */
  async freshToken(): Promise<string | undefined> {
    const src = this.opts.token;
    if (typeof src !== 'function') return src;
    if (this.token === undefined || tokenExpired(this.token, Date.now())) this.token = await src();
    return this.token;
  }

  // ---- what transports report ----

  opened(conn: Transport): void {
    if (conn !== this.conn) return;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.proven.add(conn.name);
    this.failures = 0;
    this.openedAt = Date.now();
    this.move('open', { ...this.current! });
  }

  lost(conn: Transport | null, err: ClientError): void {
    if (conn !== this.conn || this.state === 'closed') return;
    this.conn = null;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    for (const s of this.subs.values()) s.move('lost');
    if (FATAL.has(err.code) && err.channel === undefined) return this.stop(err);
    if (err.code === 'unauthorized') {
      if (typeof this.opts.token !== 'function') return this.stop(err);
      this.token = undefined; // ask the callback again
    }
    // A node that says "busy, retry later" (503 + Retry-After, close 1013) answered on this transport: no fallback.
    if (err.retryAfterMs !== undefined) this.proven.add(this.transport!);
    if (this.state === 'connecting' && !this.proven.has(this.transport!) && ++this.failures >= this.urls.length) {
      this.transportIndex = (this.transportIndex + 1) % this.transports.length; // it failed on every URL: fall back
      this.failures = 0;
    }
    if (this.state === 'connected' && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    const { delayMs, attempt, sameUrl } = nextTry(this.attempt, this.backoff, err.retryAfterMs);
    this.attempt = attempt;
    if (sameUrl) this.urlIndex = (this.urlIndex + this.urls.length - 1) % this.urls.length; // attemptConnect steps on
    this.emit('error', err);
    this.move('fail', { ...this.current!, reason: err.code, delayMs });
    this.retryTimer = setTimeout(() => void this.attemptConnect(), delayMs);
  }

  onFrame(f: Frame): void {
    const sub = this.subs.get(f.channel as string);
    if (f.type === 'message') {
      if (sub) sub.onMessage(f);
      else if (String(f.channel).startsWith('$user:')) { const { type: _t, ...m } = f; this.emit('message', m); }
    } else if (f.type === 'subscribed') sub?.onSubscribed(f);
    else if (f.type === 'presence') sub?.onPresence(f);
    else if (f.type === 'kicked') sub?.refuse(new ClientError('kicked', String(f.reason ?? 'kicked'), undefined, sub.channel));
  }

  // ---- the public API ----

  subscribe(channel: string, handler: (message: Message) => void, opts: SubscribeOptions = {}): Subscription {
    if (this.state === 'closed') throw new ClientError('closed', 'the client is closed');
    if (this.subs.has(channel)) throw new ClientError('bad_request', `already subscribed to ${channel}`);
    const sub = new Sub(this, channel, handler, opts.since);
    this.subs.set(channel, sub);
    sub.move('subscribe');
    if (this.state === 'connected') this.conn?.sync(sub, true);
    return sub;
  }

  /** A subscription ended: drop it (and tell the server when it was the client's decision). */
  forget(sub: Sub, tell = false): void {
    if (this.subs.get(sub.channel) !== sub) return;
    this.subs.delete(sub.channel);
    if (tell && this.state === 'connected') this.conn?.sync(sub, false);
  }

  async publish(channel: string, data: unknown): Promise<PublishAck> {
    const key = randomKey();
    const deadline = Date.now() + (this.opts.publishTimeoutMs ?? 15_000);
    for (let attempt = 0; ; attempt++) {
      await this.whenConnected(deadline);
      try {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new ClientError('timeout', 'no answer in time')), Math.max(0, deadline - Date.now())); });
        try {
          return await Promise.race([this.conn!.publish(channel, data, key), late]);
        } finally {
          clearTimeout(timer);
        }
      } catch (err) {
        const e = err as ClientError;
        if (e.code === 'unauthorized' && typeof this.opts.token === 'function' && attempt === 0) this.token = undefined;
        else if (!RETRIABLE.has(e.code) || Date.now() >= deadline) throw e;
        const wait = backoffDelay(attempt, this.backoff, e.retryAfterMs);
        if (Date.now() + wait > deadline) throw new ClientError('timeout', `not acknowledged in time (last error: ${e.code})`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private whenConnected(deadline: number): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new ClientError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        if (this.state === 'connected') resolve();
        else reject(new ClientError('closed', 'the client is closed'));
      };
      const t = setTimeout(() => { this.waiters.delete(done); reject(new ClientError('timeout', 'not connected in time')); }, Math.max(0, deadline - Date.now()));
      this.waiters.add(done);
    });
  }

  close(): void {
    this.stop(null);
  }

  /** Stops for good: a goodbye to the node, every subscription ends, state `closed`. */
  private stop(err: ClientError | null): void {
    if (this.state === 'closed') return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    const conn = this.conn;
    this.conn = null;
    conn?.close(true);
    for (const s of [...this.subs.values()]) s.move('unsubscribe', { reason: err?.code ?? 'closed' });
    this.subs.clear();
    if (err) this.emit('error', err);
    this.move('close', { ...this.current ?? {}, reason: err?.code ?? 'closed' });
  }
}

/**
 * Connects to one node URL, or to any of several (tried in turn): `connect('https://rt.example')`. The
 * client reconnects until close(); see Client and ConnectOptions.
 */
export function connect(urlOrUrls: string | string[], options: ConnectOptions = {}): Client {
  return new HashpubClient(typeof urlOrUrls === 'string' ? [urlOrUrls] : urlOrUrls, options);
}
