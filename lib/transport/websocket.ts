import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EdgeContext } from '../context.js';
import type { WsDisconnectReason } from '../metrics.js';
import type { CommandBudget } from '../limits/limits.js';
import { asHashpubError, CLOSE_CODES, HashpubError } from '../errors.js';
import { checkClientFrame, type ClientFrame } from '../protocol/client-frames.js';
import { parseJson } from '../protocol/json.js';
import { Prepared, type PreparedRun } from '../protocol/prepared.js';
import type { Announce } from '../session/push-service.js';
import type { Connection, RunWriter, Session } from '../session/session.js';
import type { StreamPosition } from '../protocol/types.js';
import { coalescedWrite } from './coalesce.js';
import { admit } from './connect.js';

/** A connection that has not sent `connect` after this long is closed. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * WebSocket transport on /v1/ws: the `ws` package in noServer mode for the handshake, control frames and
 * parsing; outgoing data frames are pre-framed once (Prepared.ws()) and written to the raw socket.
 * One shared timer (every TICK_MS) closes connections that never sent `connect` and pings each socket every
 * `pingSeconds` at its own random phase, so 10k sockets that connected together are not pinged in one
 * event-loop turn; the sockets due in one tick are served in slices of TICK_SLICE_MS (20k sockets: about 200
 * pings a tick, and their pongs, never one long block of the loop).
 */
export class WebSocketTransport {
  private readonly wss: WebSocketServer;
  readonly clients = new Set<WsClient>();
  /** Ticks since start: the clock of every client's `due` (a small integer, so a client holds no boxed number). */
  ticks = 0;
  /** Ticks between two pings of a client (options.pingSeconds). */
  readonly pingTicks: number;
  private readonly timer: NodeJS.Timeout;
  private dueNow: WsClient[] = [];
  private dueAt = 0;

  constructor(private readonly ctx: EdgeContext) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: ctx.options.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });
    this.pingTicks = Math.max(1, Math.round((ctx.options.pingSeconds * 1000) / TICK_MS));
    this.timer = setInterval(() => this.tick(), TICK_MS).unref();
  }

  /**
   * Completes the upgrade of a request already checked for path, origin and limits; `address` was counted
   * with limits.opened() and is released when the connection closes (at once if the handshake fails: ws
   * completes it synchronously, as no verifyClient is set).
   */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, address: string): void {
    let done = false;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      done = true;
      this.clients.add(new WsClient(this.ctx, ws as Tagged, socket, req, this, address));
      // Node caches the peer address object ({address, family, port}: 56 bytes) on the socket for its life; the
      // client keeps the address string it needs. Harmless if a Node version names the cache otherwise.
      (socket as unknown as { _peername?: unknown })._peername = undefined;
    });
    if (!done) this.ctx.limits.closed(address);
  }

  /**
   * Over the accept budget: answers the handshake and closes at once with 1013, the reason being the seconds to
   * wait (a browser sees no HTTP status of a refused upgrade, but it sees a close code and reason). Written by
   * hand in one packet (101 + close frame + FIN), with no WebSocket object, timer or close handshake to wait
   * for: a node refusing thousands per second must spend next to nothing on each.
   */
  refuse(req: IncomingMessage, socket: Socket, retryAfterSeconds: number): void {
    socket.on('error', destroySocket);
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key) || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      return void socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    }
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    const reason = String(retryAfterSeconds);
    const close = Buffer.alloc(4 + reason.length);
    close[0] = 0x88; // FIN + close
    close[1] = 2 + reason.length;
    close.writeUInt16BE(CLOSE_CODES.busy, 2);
    close.write(reason, 4, 'latin1');
    // Flushed, the socket is gone: the node keeps nothing of a refused connection (the peer has its close frame).
    socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`, 'latin1'), close]), destroySocket.bind(socket));
  }

  close(): void {
    clearInterval(this.timer);
    for (const c of this.clients) c.close(CLOSE_CODES.shutdown, 'shutdown');
    this.wss.close();
  }

  private tick(): void {
    const now = ++this.ticks;
    if (this.dueAt < this.dueNow.length) return; // the last tick's sockets are still being served (a very busy loop)
    const due: WsClient[] = [];
    for (const c of this.clients) if (c.due <= now) due.push(c);
    this.dueNow = due;
    this.dueAt = 0;
    // Served after this turn's reads (setImmediate runs after the poll phase, timers before it): when the loop ran
    // late, pongs that came meanwhile are read before their sockets are judged.
    if (due.length > 0) setImmediate(this.serveDue);
  }

  private readonly serveDue = (): void => {
    const due = this.dueNow;
    const deadline = performance.now() + TICK_SLICE_MS;
    while (this.dueAt < due.length) {
      due[this.dueAt++]!.tick(this.ticks);
      if (this.dueAt % 16 === 0 && performance.now() >= deadline) return void setImmediate(this.serveDue);
    }
    this.dueNow = [];
    this.dueAt = 0;
  };
}

const TICK_MS = 250;
/** Longest one turn of the event loop spends on pings and connect deadlines before it lets other work in. */
const TICK_SLICE_MS = 2;
const CONNECT_TIMEOUT_TICKS = CONNECT_TIMEOUT_MS / TICK_MS;
/** The answer to a client's {"type":"ping"}, framed once. */
const PONG = new Prepared('pong', { type: 'pong' });
/** The keepalive ping of a client that asked for text pings (connect `"ping": true`). */
const TEXT_PING = new Prepared('ping', { type: 'ping' });
/** An unmasked WebSocket ping with no payload (FIN + opcode 9, length 0): the same two bytes for every socket. */
const PING_FRAME = Buffer.from([0x89, 0x00]);
/** True for a small text frame that is {"type":"pong"} (any JSON spelling of it). */
function isTextPong(data: Buffer): boolean {
  if (data.length > 64) return false;
  try {
    return (JSON.parse(data.toString('utf8')) as { type?: unknown } | null)?.type === 'pong';
  } catch {
    return false;
  }
}
/** RFC 6455's handshake GUID. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
function destroySocket(this: Socket): void { this.destroy(); }
/** A settled `connecting`, shared so finished connects hold no promise of their own. */
const CONNECTED: Promise<void> = Promise.resolve();

/*
 * Listeners shared by every socket (ws calls them with `this` = the socket): four closures per connection
 * would cost ~300 bytes each time. The socket carries its client under a symbol.
 */
const CLIENT = Symbol('hashpub.wsClient');
type Tagged = WebSocket & { [CLIENT]: WsClient };
function onMessage(this: Tagged, data: Buffer, isBinary: boolean): void { this[CLIENT].onMessage(data, isBinary); }
function onPong(this: Tagged): void { this[CLIENT].alive = true; }
function onError(): void {} // protocol errors (e.g. 1009 too large) are followed by 'close'
function onClose(this: Tagged, code: number): void { this[CLIENT].onClose(code); }

/**
 * One WebSocket connection: parses client frames and is the session's Connection while attached.
 * Kept small: it exists once per connection (the upgrade request is not retained).
 */
class WsClient implements Connection, RunWriter {
  readonly kind = 'ws' as const;
  private session: Session | null = null;
  private connecting: Promise<void> | null = null;
  /** Why the connection ended (null while open): the server's reason when it began the end. */
  private ended: WsDisconnectReason | null = null;
  private get closed(): boolean { return this.ended !== null; }
  /** The transport's tick when tick() next has something to do: the connect deadline, then this socket's next ping. */
  due: number;
  /** False from a ping until its pong (or any frame) arrives: still false at the next round, the peer is taken for dead. */
  alive = true;
  /** The client sent a frame (other than a pong) since the last round: it is alive, so that round sends it no ping. */
  heard = false;
  /** The client asked (connect `"ping": true`) for its pings as {"type":"ping"} text frames, which a browser can see. */
  private textPings = false;
  private readonly origin: string | null;
  /** Made on the first frame, dropped at a ping once it is full again: a connection that only listens holds none. */
  private budget: CommandBudget | null = null;

  constructor(private readonly ctx: EdgeContext, private readonly ws: Tagged, private readonly socket: Socket,
    req: IncomingMessage, private readonly transport: WebSocketTransport, private readonly address: string) {
    this.due = transport.ticks + CONNECT_TIMEOUT_TICKS;
    ctx.metrics.connections.inc({ transport: 'ws' });
    this.origin = req.headers.origin ?? null;
    ws[CLIENT] = this;
    ws.on('message', onMessage as never);
    ws.on('pong', onPong as never);
    ws.on('error', onError);
    ws.on('close', onClose as never);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const token = url.searchParams.get('token') ?? undefined;
    const session = url.searchParams.get('session') ?? undefined;
    if (token !== undefined || session !== undefined) this.connecting = this.connect({ token, session });
  }

  send(frame: Prepared): void {
    if (this.closed) return;
    coalescedWrite(this.socket, frame.ws());
    this.checkBuffered();
  }

  /**
   * A fan-out batch: written at once (joining a cork if a reply already began one in this tick), so the write's cost
   * is paid inside the fan-out's time slice.
   */
  sendRun(run: PreparedRun): void {
    if (this.closed) return;
    this.socket.write(run.ws());
    this.checkBuffered();
  }

  /** Several channels' batches of one pass: corked around them, they leave in one writev. */
  sendRuns(runs: readonly PreparedRun[]): void {
    if (this.closed) return;
    this.socket.cork();
    for (const run of runs) this.socket.write(run.ws());
    this.socket.uncork();
    this.checkBuffered();
  }

  private checkBuffered(): void {
    if (this.socket.writableLength > this.ctx.options.maxBufferedBytes) {
      this.ctx.metrics.slowDisconnects.inc();
      this.drop('slow'); // its buffer is full: a close frame would never get out
    }
  }

  close(code: number, reason: string, why: WsDisconnectReason = code === CLOSE_CODES.shutdown ? 'shutdown' : 'server_closed'): void {
    if (this.closed) return;
    this.ended = why;
    this.ws.close(code, reason.slice(0, 120));
  }

  /** Ends the connection without a close handshake (the peer would not read one). */
  private drop(why: WsDisconnectReason): void {
    if (this.closed) return;
    this.ended = why;
    this.ws.terminate();
  }

  /** Called by the transport once `due` has come: the connect deadline passed, or the next ping is due. */
  tick(now: number): void {
    if (now < this.due || this.closed) return;
    if (!this.connecting) return this.close(CLOSE_CODES.protocol, 'no connect frame');
    if (!this.alive) return this.drop('pong_timeout');
    if (this.budget?.forgettable()) this.budget = null;
    this.due = now + this.transport.pingTicks;
    // A client that spoke this round proved itself alive (and heard our replies): a ping would only add traffic.
    if (this.heard) return void (this.heard = false);
    if (this.ws.readyState !== 1) return; // closing (the peer's close frame came): its 'close' is on the way
    this.alive = false;
    this.ctx.metrics.wsPings.inc();
    this.socket.write(this.textPings ? TEXT_PING.ws() : PING_FRAME); // both prepared once, written raw like data frames
  }

  private reply(frame: Record<string, unknown> & { type: string }): void {
    this.send(new Prepared(frame.type, frame));
  }

  private fail(id: number | undefined, err: unknown, extra: Record<string, unknown> = {}): void {
    const e = asHashpubError(err);
    if (e.code === 'internal') this.ctx.log.error({ err }, 'internal error on a websocket frame');
    this.ctx.metrics.errors.inc({ code: e.code });
    const retry = e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {};
    this.reply({ type: 'error', ...(id !== undefined ? { id } : {}), ...extra, code: e.code, message: e.message, ...retry });
    if (e.code === 'rate_limited' && (this.budget ??= this.ctx.limits.budget()).strike()) this.abuse();
  }

  /** Refused too often within the abuse window: the session ends, the socket closes with 4429. */
  private abuse(): void {
    if (this.closed) return;
    this.ctx.metrics.abuseDisconnects.inc();
    const wait = String(this.ctx.options.abuseWindowSeconds);
    this.ctx.log.warn({ address: this.address, user: this.session?.user }, 'closing a connection refused too often (4429)');
    if (this.session) void this.ctx.push.end(this.session, 'rate_limited', CLOSE_CODES.rate_limited, wait);
    this.close(CLOSE_CODES.rate_limited, wait, 'abuse');
    // Read nothing more: what the client already sent would only be parsed to be dropped. The close frame is out;
    // the socket goes after a second whether or not the client answers it.
    this.socket.pause();
    setTimeout(() => this.ws.terminate(), 1000).unref();
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    const pinged = !this.alive;
    this.alive = true;
    // The answer to our text ping costs no command budget: taking one would make each idle connection build a budget
    // every round and drop it at the next (old-generation garbage). At most one frame per ping comes this way.
    if (pinged && !isBinary && isTextPong(data)) return;
    try {
      (this.budget ??= this.ctx.limits.budget()).take();
    } catch (err) {
      return this.fail(sniffId(data), err); // refused before the frame is parsed
    }
    if (isBinary) return this.fail(undefined, new HashpubError('bad_request', 'binary frames are not supported: send JSON text frames'));
    let raw: unknown;
    let frame: ClientFrame;
    try {
      raw = parseJson(data.toString('utf8'), this.ctx.options.maxJsonDepth);
      frame = checkClientFrame(raw);
    } catch (err) {
      const id = typeof raw === 'object' && raw !== null && Number.isSafeInteger((raw as { id?: unknown }).id) ? (raw as { id: number }).id : undefined;
      return this.fail(id, err);
    }
    // A pong proves the client alive but is no reason to skip the next round's ping (that would ping every other round).
    if (frame.type === 'pong') return;
    this.heard = true;
    if (frame.type === 'ping') return this.send(PONG);
    if (frame.type === 'connect') {
      if (this.connecting) return this.fail(undefined, new HashpubError('bad_request', 'already connected'));
      this.textPings = frame.ping === true;
      this.connecting = this.connect(frame);
      return;
    }
    if (!this.connecting) return this.fail(frame.id, new HashpubError('bad_request', 'send {"type":"connect"} first'));
    void this.connecting.then(() => { if (this.session && !this.closed) return this.handle(frame); });
  }

  private async handle(frame: Exclude<ClientFrame, { type: 'connect' | 'ping' | 'pong' }>): Promise<void> {
    const s = this.session!;
    const push = this.ctx.push;
    try {
      if (frame.type === 'subscribe') {
        await push.subscribe(s, frame.channel, frame.since, { announce: (channel, r) =>
          this.reply({ type: 'subscribed', id: frame.id, channel, epoch: r.epoch, offset: r.offset, recovered: r.recovered }) });
      } else if (frame.type === 'unsubscribe') {
        await push.unsubscribe(s, frame.channel);
        this.reply({ type: 'reply', id: frame.id, ok: true });
      } else {
        this.ctx.limits.channelPublish(frame.channel);
        const r = await push.publish(s, frame.channel, frame.data, frame.key);
        this.reply({ type: 'reply', id: frame.id, ok: true, channel: r.channel, epoch: r.epoch, offset: r.offset, ...(r.duplicate ? { duplicate: true } : {}) });
      }
    } catch (err) {
      this.fail(frame.id, err);
    }
  }

  private async connect(frame: { token?: string; session?: string; since?: ReadonlyMap<string, StreamPosition> }): Promise<void> {
    const { push, tokens } = this.ctx;
    try {
      let s = frame.session ? push.find(frame.session) : undefined;
      if (s && frame.token && (await tokens.verify(frame.token)).user !== s.user) s = undefined;
      const resumed = s !== undefined;
      if (!s) {
        const a = await admit(this.ctx, frame.token, this.address, this.origin);
        s = await push.open(a.user, a.claims, a.info);
      }
      if (this.closed) {
        if (!resumed) await push.end(s, 'closed');
        return;
      }
      this.session = s;
      this.connecting = CONNECTED;
      this.due = this.transport.ticks + 1 + Math.floor(Math.random() * this.transport.pingTicks); // spread pings over the interval
      push.attach(s, this);
      const ping = this.textPings ? { ping: this.ctx.options.pingSeconds } : {};
      if (!resumed) return this.reply({ type: 'connected', session: s.id, user: s.user, node: this.ctx.router.self, resumed, ...ping });
      // The channels about to be resumed, so a client knows which ones it must subscribe again itself.
      const channels = [...s.subs.keys()].filter((c) => !c.startsWith('$'));
      this.reply({ type: 'connected', session: s.id, user: s.user, node: this.ctx.router.self, resumed, channels, ...ping });
      const announce: Announce = (channel, r) => {
        if (!channel.startsWith('$')) this.reply({ type: 'subscribed', channel, epoch: r.epoch, offset: r.offset, recovered: r.recovered, resumed: true });
      };
      await push.resume(s, announce, (channel, err) => this.fail(undefined, err, { channel }), frame.since);
    } catch (err) {
      const e = asHashpubError(err);
      this.fail(undefined, e);
      if (e.code === 'rate_limited') return this.close(CLOSE_CODES.rate_limited, String(e.retryAfter ?? 1));
      this.close(e.code === 'unauthorized' ? CLOSE_CODES.unauthorized : e.code === 'forbidden' ? CLOSE_CODES.forbidden : CLOSE_CODES.protocol, e.message);
    }
  }

  /**
   * A close frame from the client (any code but CLOSE_CODES.resume) is a goodbye: the session ends at once.
   * A dropped socket (1006), or a close the server began, keeps the session for a resume.
   */
  onClose(code: number): void {
    const goodbye = !this.closed && code !== 1006 && code !== CLOSE_CODES.resume;
    this.ended ??= code === 1006 ? 'dropped' : 'client_closed';
    this.ctx.metrics.wsDisconnects.inc({ reason: this.ended });
    this.transport.clients.delete(this);
    this.ctx.limits.closed(this.address);
    this.ctx.metrics.connections.dec({ transport: 'ws' });
    const s = this.session;
    if (!s) return;
    if (goodbye && s.conn === this) void this.ctx.push.end(s, 'goodbye');
    else this.ctx.push.detach(s, this, 'closed');
  }
}

/** The request id of a frame refused unparsed: `"id": n` within its first 200 bytes, if there. */
function sniffId(data: Buffer): number | undefined {
  const m = /"id"\s*:\s*(\d{1,15})[,}\s]/.exec(data.subarray(0, 200).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
