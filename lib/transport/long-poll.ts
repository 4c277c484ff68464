import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EdgeContext } from '../context.js';
import { badRequest, CLOSE_CODES } from '../errors.js';
import type { Prepared } from '../protocol/prepared.js';
import type { Connection, Session } from '../session/session.js';
import { channelsOf, encodeCursor, parseCursor } from './cursor.js';
import { announceInto, streamSession, streamToken } from './stream-session.js';

/** Most frames a mailbox holds between two polls; more means the client is too slow (it resumes from history). */
const MAX_MAILBOX = 10_000;

/*
 * Cursor = "<session id>.<positions>" (cursor.ts). A poll that presents the cursor of the session's last
 * answer, for the same channels, drains its mailbox. Any other poll naming a live session (a lost answer,
 * other channels, a client back after the presence grace) takes the session over and resumes every named
 * channel from the cursor's positions, from history; without a live session, a new one starts from them.
 */

/** HTTP long-poll on /v1/poll: answers as soon as there is something, or empty at the timeout. */
export class LongPollTransport {
  private readonly mailboxes = new Set<Mailbox>();
  private readonly timer = setInterval(() => this.sweep(), 1000).unref();

  constructor(private readonly ctx: EdgeContext) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const token = streamToken(req, url);
    const channels = channelsOf(url, token !== undefined);
    const timeoutParam = url.searchParams.get('timeout');
    const timeout = timeoutParam === null ? 25 : Number(timeoutParam);
    if (!(timeout >= 0) || timeout > this.ctx.options.maxPollSeconds) throw badRequest(`timeout must be 0-${this.ctx.options.maxPollSeconds} seconds`);
    const cursorParam = url.searchParams.get('cursor') || null;
    const cursor = parseCursor(cursorParam);
    const push = this.ctx.push;
    let s = cursor.session ? push.find(cursor.session) : undefined;
    let box = s?.conn instanceof Mailbox ? s.conn : undefined;
    if (!s || !box || s.away || box.channels.join('\n') !== channels.join('\n') || box.lastCursor !== cursorParam) {
      this.ctx.limits.attempt(this.ctx.limits.clientAddress(req)); // a new session, or one taken over: a connection attempt
      const fresh = box ?? new Mailbox(this.ctx, (b) => { this.mailboxes.delete(b); if (b.session) void push.end(b.session, 'slow'); });
      fresh.reset(channels);
      const announce = announceInto((f) => fresh.send(f));
      this.mailboxes.add(fresh);
      const r = await streamSession(this.ctx, req, token, channels, cursor, (session) => {
        push.attach(session, fresh);
        fresh.session = session;
      }, (channel, result, resumed) => {
        if (resumed && !result.recovered) fresh.gap = true;
        announce(channel, result, resumed);
      }).catch((err) => {
        this.mailboxes.delete(fresh);
        throw err;
      });
      s = r.session;
      box = fresh;
    }
    box.wait(s, res, timeout * 1000);
  }

  close(): void {
    clearInterval(this.timer);
    for (const b of this.mailboxes) b.close(CLOSE_CODES.shutdown, 'shutdown');
  }

  /**
   * A client that stopped polling leaves presence after the presence grace (its session goes away, see
   * PushService.away) and its session ends after the session TTL.
   */
  private sweep(): void {
    const now = Date.now();
    const cutoff = now - this.ctx.options.sessionTtlSeconds * 1000;
    const graceCutoff = now - this.ctx.options.presenceGraceSeconds * 1000;
    for (const b of this.mailboxes) {
      if (b.waiting || !b.session) continue;
      if (b.session.ended) this.mailboxes.delete(b);
      else if (b.lastPoll < cutoff) {
        this.mailboxes.delete(b);
        b.expire();
      } else if (b.lastPoll < graceCutoff) this.ctx.push.away(b.session);
    }
  }
}

/** A long-poll session's Connection: frames wait here until the next poll takes them. */
class Mailbox implements Connection {
  readonly kind = 'poll' as const;
  private frames: Prepared[] = [];
  private res: ServerResponse | null = null;
  session: Session | null = null;
  private timer: NodeJS.Timeout | null = null;
  channels: string[] = [];
  lastPoll = Date.now();
  /** The cursor of the last answer: a poll with another one lost a response and starts over. */
  lastCursor: string | null = null;
  gap = false;
  private closed = false;

  constructor(private readonly ctx: EdgeContext, private readonly onSlow: (b: Mailbox) => void) {}

  get waiting(): boolean {
    return this.res !== null;
  }

  /** Starts over for `channels`: queued frames are dropped (the resume replays them from history). */
  reset(channels: string[]): void {
    this.frames = [];
    this.channels = channels;
    this.closed = false;
  }

  send(frame: Prepared): void {
    if (this.closed) return;
    this.frames.push(frame);
    if (this.frames.length > MAX_MAILBOX) {
      this.ctx.metrics.slowDisconnects.inc();
      this.closed = true;
      this.onSlow(this);
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
    const cursor = (this.lastCursor = encodeCursor(this.session, this.channels));
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
