import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EdgeContext } from '../context.js';
import { badRequest, CLOSE_CODES } from '../errors.js';
import type { Prepared } from '../protocol/prepared.js';
import type { Connection, Session } from '../session/session.js';
import { admit, remoteIp } from './connect.js';
import { channelsOf, decodePositions, encodePositions } from './cursor.js';

/** Most frames a mailbox holds between two polls; more means the client is too slow (it resumes from history). */
const MAX_MAILBOX = 10_000;

/*
 * Cursor = "<session id>.<positions>" (positions as in cursor.ts). With a live session whose positions
 * match, the next poll drains its mailbox; otherwise (expired, other node, lost response) a new session
 * resumes every channel from the positions, from history.
 */
const splitCursor = (c: string | null): { session?: string; positions?: string } => {
  if (!c) return {};
  const dot = c.indexOf('.');
  return dot < 0 ? { positions: c } : { session: c.slice(0, dot), positions: c.slice(dot + 1) };
};

/** HTTP long-poll on /v1/poll: answers as soon as there is something, or empty at the timeout. */
export class LongPollTransport {
  private readonly mailboxes = new Set<Mailbox>();
  private readonly timer = setInterval(() => this.sweep(), 1000).unref();

  constructor(private readonly ctx: EdgeContext) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const channels = channelsOf(url);
    const timeoutParam = url.searchParams.get('timeout');
    const timeout = timeoutParam === null ? 25 : Number(timeoutParam);
    if (!(timeout >= 0) || timeout > this.ctx.options.maxPollSeconds) throw badRequest(`timeout must be 0-${this.ctx.options.maxPollSeconds} seconds`);
    const cursorParam = url.searchParams.get('cursor');
    const { session: sid, positions } = splitCursor(cursorParam);
    const push = this.ctx.push;
    let s = sid ? push.find(sid) : undefined;
    let box = s?.conn instanceof Mailbox ? s.conn : undefined;
    if (!s || !box || box.channels.join('\n') !== channels.join('\n') || box.lastCursor !== cursorParam) {
      if (s && box) void push.end(s, 'replaced'); // the client lost a response or changed channels: start over
      const a = await admit(this.ctx, url.searchParams.get('token') ?? undefined, remoteIp(req), req.headers.origin ?? null);
      s = await push.open(a.user, a.claims, a.info);
      box = new Mailbox(this.ctx, channels, () => { this.mailboxes.delete(box!); void push.end(s!, 'slow'); });
      push.attach(s, box);
      this.mailboxes.add(box);
      const since = decodePositions(positions, channels.length);
      try {
        for (let i = 0; i < channels.length; i++) {
          const r = await push.subscribe(s, channels[i]!, since[i]);
          if (since[i] && !r.recovered) box.gap = true;
        }
      } catch (err) {
        this.mailboxes.delete(box);
        await push.end(s, 'refused');
        throw err;
      }
    }
    box.wait(s, res, timeout * 1000);
  }

  close(): void {
    clearInterval(this.timer);
    for (const b of this.mailboxes) b.close(CLOSE_CODES.shutdown, 'shutdown');
  }

  /** Ends sessions whose client stopped polling for longer than the session TTL. */
  private sweep(): void {
    const cutoff = Date.now() - this.ctx.options.sessionTtlSeconds * 1000;
    for (const b of this.mailboxes) {
      if (!b.waiting && b.lastPoll < cutoff) {
        this.mailboxes.delete(b);
        b.expire();
      }
    }
  }
}

/** A long-poll session's Connection: frames wait here until the next poll takes them. */
class Mailbox implements Connection {
  readonly kind = 'poll' as const;
  private frames: Prepared[] = [];
  private res: ServerResponse | null = null;
  private session: Session | null = null;
  private timer: NodeJS.Timeout | null = null;
  lastPoll = Date.now();
  /** The cursor of the last answer: a poll with another one lost a response and starts over. */
  lastCursor: string | null = null;
  gap = false;
  private closed = false;

  constructor(private readonly ctx: EdgeContext, readonly channels: string[], private readonly onSlow: () => void) {}

  get waiting(): boolean {
    return this.res !== null;
  }

  send(frame: Prepared): void {
    if (this.closed) return;
    this.frames.push(frame);
    if (this.frames.length > MAX_MAILBOX) {
      this.ctx.metrics.slowDisconnects.inc();
      this.closed = true;
      this.onSlow();
      return;
    }
    if (this.res) queueMicrotask(() => this.answer()); // let a burst collect into one answer
  }

  /** Holds `res` until a frame arrives or `ms` pass; an earlier waiting poll is answered now. */
  wait(s: Session, res: ServerResponse, ms: number): void {
    this.answer();
    this.session = s;
    this.res = res;
    this.lastPoll = Date.now();
    res.on('close', () => { if (this.res === res) this.clearWait(); });
    if (this.frames.length > 0 || ms === 0) return this.answer();
    this.timer = setTimeout(() => this.answer(), ms);
  }

  close(code: number, reason: string): void {
    this.closed = true;
    if (this.res && !this.res.headersSent) {
      this.res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      this.res.end(JSON.stringify({ error: { code: 'unavailable', message: `${reason} (${code})` } }));
    }
    this.clearWait();
  }

  expire(): void {
    this.closed = true;
    if (this.session) void this.ctx.push.end(this.session, 'expired');
  }

  private answer(): void {
    const res = this.res;
    if (!res || !this.session) return;
    const frames = this.frames;
    this.frames = [];
    this.clearWait();
    this.lastPoll = Date.now();
    const cursor = (this.lastCursor = `${this.session.id}.${encodePositions(this.session, this.channels)}`);
    let body = `{"messages":[${frames.map((f) => f.json()).join(',')}],"cursor":${JSON.stringify(cursor)}`;
    if (this.gap) body += ',"recovered":false';
    this.gap = false;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body + '}');
  }

  private clearWait(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.res = null;
  }
}
