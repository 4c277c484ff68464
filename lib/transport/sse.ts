import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EdgeContext } from '../context.js';
import { CLOSE_CODES } from '../errors.js';
import type { Prepared } from '../protocol/prepared.js';
import type { Connection, Session } from '../session/session.js';
import { coalescedWrite } from './coalesce.js';
import { admit, remoteIp } from './connect.js';
import { channelsOf, decodePositions, encodePositions } from './cursor.js';

const HEARTBEAT_MS = 25_000;

/**
 * Server-Sent Events on /v1/sse?channel=a&channel=b. Each message event carries `id: <cursor>` (every
 * channel's position); EventSource sends it back as Last-Event-ID on reconnect and the stream resumes.
 * Subscriptions are set up before the 200 is sent, so a refused subscribe is an HTTP error.
 */
export class SseTransport {
  readonly streams = new Set<SseStream>();
  private readonly timer = setInterval(() => { for (const s of this.streams) s.heartbeat(); }, HEARTBEAT_MS).unref();

  constructor(private readonly ctx: EdgeContext) {}

  /** Handles the request; throws a HashpubError (answered by the caller) before the stream starts. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const channels = channelsOf(url);
    const since = decodePositions((req.headers['last-event-id'] as string | undefined) ?? url.searchParams.get('lastEventId'), channels.length);
    const a = await admit(this.ctx, url.searchParams.get('token') ?? undefined, remoteIp(req), req.headers.origin ?? null);
    const push = this.ctx.push;
    const s = await push.open(a.user, a.claims, a.info);
    const stream = new SseStream(this.ctx, res, channels);
    push.attach(s, stream);
    res.on('close', () => {
      this.streams.delete(stream);
      stream.closed = true;
      this.ctx.metrics.connections.dec({ transport: 'sse' });
      void push.end(s, 'closed');
    });
    this.ctx.metrics.connections.inc({ transport: 'sse' });
    this.streams.add(stream);
    try {
      for (let i = 0; i < channels.length; i++) await push.subscribe(s, channels[i]!, since[i]);
    } catch (err) {
      stream.closed = true;
      res.removeAllListeners('close');
      this.streams.delete(stream);
      this.ctx.metrics.connections.dec({ transport: 'sse' });
      await push.end(s, 'refused');
      throw err;
    }
    stream.start(s);
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
    coalescedWrite(this.res, `retry: 2000\nid: ${encodePositions(s, this.channels)}\n\n`);
    const early = this.early!;
    this.early = null;
    for (const chunk of early) coalescedWrite(this.res, chunk);
  }

  send(frame: Prepared, s: Session): void {
    if (this.closed) return;
    const id = frame.type === 'message' ? `id: ${encodePositions(s, this.channels)}\n` : '';
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

  close(_code: number, _reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.res.destroy();
  }
}
