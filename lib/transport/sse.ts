import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EdgeContext } from '../context.js';
import { CLOSE_CODES, HashpubError } from '../errors.js';
import type { Prepared } from '../protocol/prepared.js';
import type { Connection, Session } from '../session/session.js';
import { coalescedWrite } from './coalesce.js';
import { channelsOf, encodeCursor, parseCursor } from './cursor.js';
import { announceInto, streamSession, streamToken } from './stream-session.js';

const HEARTBEAT_MS = 25_000;
/** Reconnect delay EventSource is told to use (`retry:`), ms. */
const RETRY_MS = 2000;
/**
 * A closed stream's session ends this long after the close unless a request resumes it (an EventSource
 * reconnects after RETRY_MS): the server cannot tell a closed tab from a dropped network, so an SSE client
 * that is gone for longer than this counts as having said goodbye.
 */
export const SSE_RESUME_GRACE_MS = 5000;

/**
 * Server-Sent Events on /v1/sse?channel=a&channel=b. Each message event carries `id: <cursor>` (the session
 * and every channel's position); EventSource sends it back as Last-Event-ID on reconnect and the stream
 * resumes the same session. Subscriptions are set up before the 200 is sent, so a refused subscribe is an
 * HTTP error.
 */
export class SseTransport {
  readonly streams = new Set<SseStream>();
  private readonly timer = setInterval(() => { for (const s of this.streams) s.heartbeat(); }, HEARTBEAT_MS).unref();

  constructor(private readonly ctx: EdgeContext) {}

  /** Handles the request; throws a HashpubError (answered by the caller) before the stream starts. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const token = streamToken(req, url);
    const channels = channelsOf(url, token !== undefined);
    const cursor = parseCursor((req.headers['last-event-id'] as string | undefined) ?? url.searchParams.get('lastEventId'));
    const push = this.ctx.push;
    const { limits } = this.ctx;
    const address = limits.clientAddress(req);
    limits.attempt(address);
    limits.opened(address);
    const stream = new SseStream(this.ctx, res, channels);
    let session: Session | null = null;
    res.on('close', () => {
      limits.closed(address);
      if (stream.closed && !this.streams.has(stream)) return; // never started
      stream.closed = true;
      if (this.streams.delete(stream)) this.ctx.metrics.connections.dec({ transport: 'sse' });
      const s = session;
      if (!s || s.conn !== stream) return;
      push.detach(s, stream, 'closed');
      const at = s.detachedAt;
      setTimeout(() => { if (!s.ended && !s.conn && s.detachedAt === at) void push.end(s, 'goodbye'); }, SSE_RESUME_GRACE_MS).unref();
    });
    this.ctx.metrics.connections.inc({ transport: 'sse' });
    this.streams.add(stream);
    try {
      await streamSession(this.ctx, req, token, channels, cursor, (s) => {
        session = s;
        push.attach(s, stream);
      }, announceInto((f) => stream.send(f, session!)));
    } catch (err) {
      stream.closed = true;
      if (this.streams.delete(stream)) this.ctx.metrics.connections.dec({ transport: 'sse' });
      throw err;
    }
    if (res.destroyed) return; // the client left during the set-up: 'close' has run
    if (stream.closed) throw new HashpubError('unavailable', 'the session ended while its stream was set up', { retryAfter: 1 });
    stream.start(session!);
  }

  close(): void {
    clearInterval(this.timer);
    for (const s of this.streams) s.close(CLOSE_CODES.shutdown, 'shutdown');
  }
}

class SseStream implements Connection {
  readonly kind = 'sse' as const;
  closed = false;
  /** Frames sent before the response started (replayed history), written on start(). */
  private early: Array<string | Buffer> | null = [];

  constructor(private readonly ctx: EdgeContext, private readonly res: ServerResponse, private readonly channels: string[]) {}

  start(s: Session): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    // The retry hint, plus the current cursor so a reconnect before the first message resumes too.
    coalescedWrite(this.res, `retry: ${RETRY_MS}\nid: ${encodeCursor(s, this.channels)}\n\n`);
    const early = this.early!;
    this.early = null;
    for (const chunk of early) coalescedWrite(this.res, chunk);
  }

  send(frame: Prepared, s: Session): void {
    if (this.closed) return;
    const id = frame.type === 'message' ? `id: ${encodeCursor(s, this.channels)}\n` : '';
    if (this.early) return void this.early.push(id, frame.sse());
    if (id) coalescedWrite(this.res, id);
    coalescedWrite(this.res, frame.sse());
    if (this.res.writableLength > this.ctx.options.maxBufferedBytes) {
      this.ctx.metrics.slowDisconnects.inc();
      this.close(CLOSE_CODES.slow, 'slow');
    }
  }

  heartbeat(): void {
    if (!this.closed && !this.early) coalescedWrite(this.res, ': ping\n\n');
  }

  /** Ends the stream; one that has not started is only marked (its request then answers an error). */
  close(_code: number, _reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.early) this.res.destroy();
  }
}
