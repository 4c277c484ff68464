import type { IncomingMessage } from 'node:http';
import type { EdgeContext } from '../context.js';
import { HashpubError } from '../errors.js';
import { clientAddress } from './client-address.js';
import { isUserId } from '../protocol/names.js';
import type { Claims, UserId } from '../protocol/types.js';

/** Who a new connection is, after the token and the connect hook. */
export interface Admitted {
  user: UserId;
  claims: Claims;
  info: Record<string, unknown>;
}

/** Shared by every connection without claims or info (frozen: never written). */
const NONE: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** Verifies the token (or allows anonymous), then asks the connect hook. Throws unauthorized/forbidden. */
export async function admit(ctx: EdgeContext, token: string | undefined, ip: string, origin: string | null): Promise<Admitted> {
  let user: UserId = null;
  let claims: Claims = NONE;
  if (token) ({ user, claims } = await ctx.tokens.verify(token));
  else if (!ctx.options.allowAnonymous) throw new HashpubError('unauthorized', 'a client token is required (this node does not allow anonymous connections)');
  let info: Record<string, unknown> = NONE;
  if (ctx.hooks?.has('connect')) {
    const reply = await ctx.hooks.connect({ user, claims, ip, origin });
    if (!reply.allow) throw new HashpubError('forbidden', reply.reason ?? 'connection refused');
    if (reply.user !== undefined) {
      if (!isUserId(reply.user)) throw new HashpubError('forbidden', 'connect hook returned an invalid user id');
      user = reply.user;
    }
    info = reply.info ?? NONE;
  }
  return { user, claims, info };
}

/** The client address of a request: the socket's peer, or the X-Forwarded-For client behind a trusted proxy. */
export const remoteIp = (ctx: EdgeContext, req: IncomingMessage): string => ctx.limits.clientAddress(req);
