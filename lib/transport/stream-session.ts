import type { IncomingMessage } from 'node:http';
import type { EdgeContext } from '../context.js';
import { HashpubError } from '../errors.js';
import { Prepared } from '../protocol/prepared.js';
import type { StreamPosition } from '../protocol/types.js';
import type { SubscribeResult } from '../owner/owner-api.js';
import type { Session } from '../session/session.js';
import { admit, remoteIp } from './connect.js';
import type { Cursor } from './cursor.js';
import { bearer } from './http-util.js';

/** The client token of an SSE or long-poll request: `Authorization: Bearer` (fetch) or `?token=` (EventSource). */
export const streamToken = (req: IncomingMessage, url: URL): string | undefined =>
  bearer(req) ?? (url.searchParams.get('token') || undefined); // `?token=` (empty) is no token

/** Called once per channel with the owner's answer, before replayed messages; `resumed` = a position was given. */
export type StreamAnnounce = (channel: string, result: SubscribeResult, resumed: boolean) => void;

/** `subscribed` frames for SSE and long-poll streams (the WebSocket ones, without a request id). */
export const announceInto = (send: (frame: Prepared) => void): StreamAnnounce => (channel, r) =>
  send(new Prepared('subscribed', { type: 'subscribed', channel, epoch: r.epoch, offset: r.offset, recovered: r.recovered }));

/**
 * The session of an SSE or long-poll request. A cursor naming a live session of the same user takes that
 * session over (presence sees no leave, hooks see no new connect); otherwise a new session is admitted.
 * Either way its subscriptions become exactly `channels` (others end with reason `unsubscribe`), each
 * resuming after the cursor's position for it (or, when the cursor does not line up with `channels`, after
 * the session's own). `announce` gets one `subscribed` result per channel, before its replayed messages.
 * A refused channel ends the session and throws (the request answers the error, naming the channel).
 */
export async function streamSession(ctx: EdgeContext, req: IncomingMessage, token: string | undefined, channels: string[],
  cursor: Cursor, attach: (s: Session) => void, announce: StreamAnnounce): Promise<{ session: Session; resumed: boolean }> {
  const push = ctx.push;
  let s = cursor.session ? push.find(cursor.session) : undefined;
  if (s && token && (await ctx.tokens.verify(token)).user !== s.user) s = undefined;
  const resumed = s !== undefined;
  if (!s) {
    const wait = ctx.accept.take();
    if (wait > 0) {
      ctx.metrics.acceptRefused.inc({ transport: req.url?.startsWith('/v1/sse') ? 'sse' : 'poll' });
      throw new HashpubError('unavailable', 'this node is over its connection-accept budget: retry later', { retryAfter: wait });
    }
    const a = await admit(ctx, token, remoteIp(ctx, req), req.headers.origin ?? null);
    s = await push.open(a.user, a.claims, a.info);
  }
  attach(s);
  const positions = cursor.positions.length === channels.length ? cursor.positions : [];
  try {
    for (const [channel] of s.positions()) {
      if (!channel.startsWith('$') && !channels.includes(channel)) await push.unsubscribe(s, channel);
    }
    for (let i = 0; i < channels.length; i++) {
      const channel = channels[i]!;
      const sub = s.subs.get(channel);
      const own: StreamPosition | undefined = sub && !sub.pending && sub.epoch ? { epoch: sub.epoch, offset: sub.offset } : undefined;
      const since = positions[i] ?? own;
      await push.subscribe(s, channel, since, { resume: sub !== undefined, announce: (c, r) => announce(c, r, since !== undefined) })
        .catch((err: unknown) => { throw err instanceof HashpubError && err.status < 500 ? err.about(channel) : err; });
    }
  } catch (err) {
    await push.end(s, 'refused');
    throw err;
  }
  return { session: s, resumed };
}
