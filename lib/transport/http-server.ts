import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { RestApi } from '../api/rest.js';
import type { EdgeContext } from '../context.js';
import { HashpubError, methodNotAllowed } from '../errors.js';
import { Assets } from './assets.js';
import { corsDecision } from './cors.js';
import { splitCursor } from './cursor.js';
import { sendError, sendJson } from './http-util.js';
import { LongPollTransport } from './long-poll.js';
import { SseTransport } from './sse.js';
import type { TlsFiles } from './tls.js';
import { WebSocketTransport } from './websocket.js';

/**
 * The node's one HTTP port: WebSocket upgrades on /v1/ws, SSE on /v1/sse, long-poll on /v1/poll, the
 * REST API under /v1, the official client (/v1/client.js), the OpenAPI document, /healthz, /metrics and the
 * pages (/dashboard; /demo/* in demo mode).
 * Every request and upgrade passes corsDecision() first. Node's HTTP limits guard it against hostile
 * clients: header blocks over maxHeaderBytes get 431, headers not complete within headersTimeoutMs are closed.
 * With `tls` the same port speaks HTTPS and WSS only (node:https; a plain-HTTP request fails its handshake).
 */
export class HttpEdge {
  readonly server: Server;
  readonly ws: WebSocketTransport;
  readonly sse: SseTransport;
  readonly poll: LongPollTransport;
  private readonly rest: RestApi;
  private readonly assets = new Assets();
  /** Connections with a request being answered (the HTTP parser's errors must not answer over it). */
  private readonly answering = new WeakMap<object, ServerResponse>();
  /** "https" with TLS (--tls-cert), else "http". */
  readonly scheme: 'http' | 'https';
  /** Set by the node once it is ready; /healthz answers 503 before. */
  ready = false;

  constructor(private readonly ctx: EdgeContext, tls?: TlsFiles) {
    const o = ctx.options;
    const http: ServerOptions = {
      maxHeaderSize: o.maxHeaderBytes,
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: Math.max(30_000, o.headersTimeoutMs + 1000),
      connectionsCheckingInterval: Math.min(1000, o.headersTimeoutMs),
      keepAliveTimeout: 5000,
    };
    this.scheme = tls ? 'https' : 'http';
    // An https.Server is an http.Server on TLS sockets: every listener below works on both.
    this.server = tls ? createHttpsServer({ ...http, cert: tls.cert, key: tls.key }) as unknown as Server : createServer(http);
    this.ws = new WebSocketTransport(ctx);
    this.sse = new SseTransport(ctx);
    this.poll = new LongPollTransport(ctx);
    this.rest = new RestApi(ctx);
    this.server.on('request', (req, res) => {
      this.answering.set(req.socket, res);
      res.once('close', () => this.answering.delete(req.socket));
      void this.onRequest(req, res);
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket as Socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Bytes after a request without a length (e.g. a body on a HEAD) land here while that request is being
      // answered: it gets its answer, then the connection ends. Once something was written (maybe with
      // `Connection: close`), a second answer would corrupt the stream: the connection just ends.
      const answering = this.answering.get(socket);
      if (answering) return void answering.once('close', () => (socket as Socket).destroySoon());
      if (!socket.writable || (socket as Socket).bytesWritten > 0) return void socket.destroy();
      // What the HTTP parser refused (an unknown method, a malformed request line or header, too many headers)
      // still gets a documented code, like every other refusal.
      // The headers timeout comes this way too: a client that was slow to send is not one that sent garbage.
      const [status, code, message] = err.code === 'HPE_HEADER_OVERFLOW'
        ? ['431 Request Header Fields Too Large', 'header_too_large', `request headers over ${o.maxHeaderBytes} bytes`]
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ['408 Request Timeout', 'request_timeout', `request headers not complete within ${o.headersTimeoutMs} ms`]
          : ['400 Bad Request', 'bad_request', 'malformed HTTP request'];
      const body = JSON.stringify({ error: { code, message } });
      this.ctx.metrics.errors.inc({ code });
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    });
  }

  /** Binds the port; resolves to the base URL. */
  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        resolve(`${this.scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
      });
    });
  }

  /** Closes every client connection and the listening socket. */
  async close(): Promise<void> {
    this.ws.close();
    this.sse.close();
    this.poll.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = corsDecision({ origin: req.headers.origin, host: req.headers.host, method: req.method ?? 'GET' }, this.ctx.options.allowedOrigins);
    if (!cors.allowed) {
      req.resume();
      res.setHeader('vary', 'Origin');
      return void this.fail(req, res, new HashpubError('forbidden', 'origin not allowed (--allowed-origins)'));
    }
    for (const [name, value] of Object.entries(cors.headers)) res.setHeader(name, value);
    if (cors.preflight) {
      res.writeHead(204, { 'content-length': 0 });
      return void res.end();
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return void sendError(res, new HashpubError('bad_request', 'malformed request URL'));
    }
    try {
      const path = url.pathname;
      if (path === '/healthz') {
        return this.ready ? sendJson(res, 200, { ok: true, node: this.ctx.router.self })
          : sendJson(res, 503, { error: { code: 'unavailable', message: 'starting' } }, { 'retry-after': '1' });
      }
      if (path === '/metrics') {
        const text = await this.ctx.metrics.text();
        res.writeHead(200, { 'content-type': this.ctx.metrics.registry.contentType });
        return void res.end(text);
      }
      if (this.assets.has(path)) return this.assets.serve(req, res, path);
      if (this.ctx.pages.handles(path)) return await this.ctx.pages.serve(req, res, url);
      if (!this.ready) throw new HashpubError('unavailable', 'the node is starting or stopping', { retryAfter: 1 });
      if (path === '/v1/ws') throw new HashpubError('bad_request', 'this endpoint needs a WebSocket upgrade');
      if (path === '/v1/sse' || path === '/v1/poll') {
        if (req.method === 'DELETE') return await this.goodbye(res, url);
        if (req.method !== 'GET') throw methodNotAllowed(['GET', 'DELETE']);
        return await (path === '/v1/sse' ? this.sse : this.poll).handle(req, res, url);
      }
      if (path.startsWith('/v1/')) return await this.rest.handle(req, res, url);
      throw new HashpubError('not_found', `nothing at ${path}`);
    } catch (err) {
      this.fail(req, res, err);
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const e = sendError(res, err);
    this.ctx.metrics.errors.inc({ code: e.code });
    if (e.code === 'internal') this.ctx.log.error({ err, url: req.url }, 'internal error');
  }

  /** `DELETE /v1/sse|poll?cursor=C`: the client says goodbye; its session ends at once (204). */
  private async goodbye(res: ServerResponse, url: URL): Promise<void> {
    const cursor = url.searchParams.get('cursor');
    if (cursor === null) throw new HashpubError('bad_request', 'name the session to end: ?cursor=C (a cursor this node returned)');
    const { session } = splitCursor(cursor);
    const s = session === undefined ? undefined : this.ctx.push.find(session);
    if (!s) throw new HashpubError('not_found', 'no such session on this node (it ended or expired)');
    await this.ctx.push.end(s, 'goodbye');
    res.writeHead(204, { 'content-length': 0 });
    res.end();
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', destroyOnError);
    const reject = (status: string, code: string) => {
      this.ctx.metrics.errors.inc({ code });
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n` +
        JSON.stringify({ error: { code, message: status } }));
    };
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return reject('400 Bad Request', 'bad_request');
    }
    const cors = corsDecision({ origin: req.headers.origin, host: req.headers.host, method: 'GET' }, this.ctx.options.allowedOrigins);
    if (!cors.allowed) return reject('403 Forbidden', 'forbidden');
    if (path !== '/v1/ws') return reject('404 Not Found', 'not_found');
    if (!this.ready) return reject('503 Service Unavailable', 'unavailable');
    // Limits before the handshake: a refused attempt costs one short HTTP answer.
    const address = this.ctx.limits.clientAddress(req);
    try {
      this.ctx.limits.attempt(address);
      this.ctx.limits.opened(address);
    } catch (err) {
      const e = err as HashpubError;
      this.ctx.metrics.errors.inc({ code: e.code });
      return void socket.end(`HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-type: application/json\r\nretry-after: ${e.retryAfter ?? 1}\r\n\r\n` +
        JSON.stringify({ error: e.toJSON() }));
    }
    socket.off('error', destroyOnError); // ws installs its own handler for the rest of the socket's life
    const wait = this.ctx.accept.take();
    if (wait > 0) {
      this.ctx.limits.closed(address);
      this.ctx.metrics.acceptRefused.inc({ transport: 'ws' });
      return this.ws.refuse(req, socket, wait);
    }
    this.ws.upgrade(req, socket, head, address);
  }
}

/**
 * The kernel's queue of connections not yet accepted (Node's default is 511). A node whose peer died receives that
 * peer's clients all at once (18,000 within half a second in bench/reconnect-storm.ts); when the queue is full the
 * kernel drops the handshake and the client waits out TCP's retransmission (1 s, 3 s, 7 s...) and often its own
 * connect timeout, where the node could have refused it in microseconds with a time to come back. A longer queue
 * holds more of such a herd; it does not make the node accept faster (in the storm bench the queue still overflows
 * for the first seconds: nstat ListenOverflows). Linux caps it at net.core.somaxconn (4096 by default since 5.4).
 */
export const LISTEN_BACKLOG = 65_535;

/** Error handler of a socket being upgraded (shared, not a closure per connection). */
function destroyOnError(this: Socket): void {
  this.destroy();
}
