import type { IncomingMessage, ServerResponse } from 'node:http';
import { allows, type Scope } from '../auth/api-keys.js';
import type { EdgeContext } from '../context.js';
import { badRequest, HashpubError, methodNotAllowed } from '../errors.js';
import { checkChannel, checkUser, userChannel } from '../protocol/names.js';
import type { Claims, UserId } from '../protocol/types.js';
import { bearer, readJsonBody, sendJson } from '../transport/http-util.js';

type Caller = { kind: 'server' } | { kind: 'client'; user: UserId; claims: Claims };

/** The methods each REST resource answers ("channels/history" = /v1/channels/{c}/history); others get 405. */
const METHODS: Record<string, readonly string[]> = {
  'channels/messages': ['POST'], 'channels/history': ['GET'], 'channels/presence': ['GET'], 'channels/config': ['GET', 'PUT'],
  'channels/kick': ['POST'], 'channels/owner': ['GET'], 'users/messages': ['POST'], 'users/disconnect': ['POST'], cluster: ['GET'], stats: ['GET'],
};

/**
 * The API-key scope each route needs (spec/protocol.md "API keys and scopes"; `admin` allows every route).
 * `POST channels/messages` also takes a client token instead of a key.
 */
export const ROUTE_SCOPES: Readonly<Record<string, Scope>> = {
  'POST channels/messages': 'publish', 'POST users/messages': 'publish',
  'GET channels/history': 'read', 'GET channels/presence': 'read', 'GET channels/config': 'read', 'GET channels/owner': 'read', 'GET stats': 'read',
  'PUT channels/config': 'admin', 'POST channels/kick': 'admin', 'POST users/disconnect': 'admin', 'GET cluster': 'admin',
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The server REST API under /v1 (spec/protocol.md). Validates, authorizes with the API key (or, for
 * channel publish, a client token), and hands the operation to the channel's owner through the router.
 */
export class RestApi {
  constructor(private readonly ctx: EdgeContext) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let parts: string[];
    try {
      parts = url.pathname.split('/').slice(2).map(decodeURIComponent);
    } catch {
      throw badRequest('malformed percent-encoding in the path');
    }
    const method = req.method ?? 'GET';
    const resource = parts.length === 3 ? `${parts[0]}/${parts[2]}` : parts.length === 1 ? parts[0]! : '';
    const allowed = Object.hasOwn(METHODS, resource) ? METHODS[resource]! : undefined;
    if (allowed && !allowed.includes(method)) throw methodNotAllowed(allowed);
    const route = `${method} ${parts[0] ?? ''}${parts.length > 2 ? '/' + parts[2] : ''}`;
    const { router } = this.ctx;

    if (parts[0] === 'channels' && parts.length === 3) {
      if (route === 'POST channels/messages') return this.publish(req, res, checkChannel(parts[1]));
      this.requireKey(req, ROUTE_SCOPES[route]);
      const channel = checkChannel(parts[1]);
      const owner = router.owner(channel);
      switch (route) {
        case 'GET channels/history': {
          const since = intParam(url, 'since', 0, Number.MAX_SAFE_INTEGER);
          const limit = intParam(url, 'limit', 1, 10_000) ?? 100;
          const h = await owner.history(channel, since, limit);
          // Same shape as a `message` frame: the internal `time` and `term` stay inside.
          return sendJson(res, 200, { ...h, messages: h.messages.map(({ time: _time, term: _term, ...m }) => ({ type: 'message', ...m })) });
        }
        case 'GET channels/presence': {
          const limit = intParam(url, 'limit', 1, 1000);
          const cursor = url.searchParams.get('cursor') ?? undefined;
          if (cursor !== undefined && (cursor.length === 0 || cursor.length > 512)) throw badRequest('cursor must be the cursor of a previous page');
          return sendJson(res, 200, await owner.presence(channel, { limit, cursor }));
        }
        case 'GET channels/config': return sendJson(res, 200, await owner.getConfig(channel));
        case 'PUT channels/config': return sendJson(res, 200, await owner.setConfig(channel, await this.body(req) as never));
        case 'POST channels/kick': {
          const b = await this.body(req);
          const user = checkUser(b.user);
          const ban = b.ban === undefined ? 0 : b.ban;
          if (typeof ban !== 'number' || !(ban >= 0)) throw badRequest('ban must be a number of seconds >= 0');
          if (b.reason !== undefined && typeof b.reason !== 'string') throw badRequest('reason must be a string');
          return sendJson(res, 200, { kicked: await owner.kick(channel, user, ban, b.reason as string | undefined) });
        }
        case 'GET channels/owner': return sendJson(res, 200, await owner.placement(channel));
      }
    } else if (parts[0] === 'users' && parts.length === 3) {
      this.requireKey(req, ROUTE_SCOPES[route]);
      const user = checkUser(parts[1]);
      const channel = userChannel(user);
      if (route === 'POST users/messages') {
        const b = await this.body(req);
        if (!('data' in b)) throw badRequest('body must be {"data": ...}');
        const r = await router.owner(channel).publish({ channel, data: b.data, user: null, claims: {}, client: false });
        return sendJson(res, 200, { user, delivered: (r.subscribers ?? 0) > 0 });
      }
      if (route === 'POST users/disconnect') {
        const b = await this.body(req);
        const reason = typeof b.reason === 'string' ? b.reason : 'disconnected';
        return sendJson(res, 200, { disconnected: await router.owner(channel).disconnectUser(user, reason) });
      }
    } else if (route === 'GET cluster' && parts.length === 1) {
      this.requireKey(req, ROUTE_SCOPES[route]);
      return sendJson(res, 200, this.ctx.cluster());
    } else if (route === 'GET stats' && parts.length === 1) {
      this.requireKey(req, ROUTE_SCOPES[route]);
      const history = url.searchParams.get('history');
      if (history !== null && history !== '0' && history !== '1') throw badRequest('history must be 0 or 1');
      return sendJson(res, 200, await this.ctx.stats(history === '1'), { 'cache-control': 'no-store' });
    }
    throw new HashpubError('not_found', `no route ${method} ${url.pathname}`);
  }

  private async publish(req: IncomingMessage, res: ServerResponse, channel: string): Promise<void> {
    const caller = await this.caller(req);
    if (caller.kind === 'client') this.ctx.limits.channelPublish(channel); // before the body is read
    const b = await this.body(req);
    if (!('data' in b)) throw badRequest('body must be {"data": ..., "id"?: string}');
    if (b.id !== undefined && (typeof b.id !== 'string' || b.id.length === 0 || b.id.length > 200)) throw badRequest('id must be a string of 1-200 characters');
    const owner = this.ctx.router.owner(channel);
    const r = caller.kind === 'server'
      ? await owner.publish({ channel, data: b.data, user: null, claims: {}, client: false, id: b.id as string | undefined })
      : await owner.publish({ channel, data: b.data, user: caller.user, claims: caller.claims, client: true, id: b.id as string | undefined });
    const answer: Record<string, unknown> = { channel: r.channel, epoch: r.epoch, offset: r.offset };
    if (r.duplicate) answer.duplicate = true;
    sendJson(res, 200, answer);
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const b = await readJsonBody(req, this.ctx.options.maxBodyBytes, this.ctx.options.maxJsonDepth);
    if (!isObject(b)) throw badRequest('body must be a JSON object');
    return b;
  }

  /** Needs a key of this node with `scope` (any key, for a path that turns out to be no route: then 404). */
  private requireKey(req: IncomingMessage, scope: Scope | undefined): void {
    const token = bearer(req);
    const scopes = this.ctx.apiKeys.scopesOf(token);
    if (!scopes) throw new HashpubError('unauthorized', token ? 'wrong API key' : 'send the API key as "Authorization: Bearer KEY"');
    if (scope && !allows(scopes, scope)) throw new HashpubError('forbidden', `this API key lacks the "${scope}" scope`);
  }

  /** A key makes a server call (it needs the publish scope); any other bearer must be a valid client token. */
  private async caller(req: IncomingMessage): Promise<Caller> {
    const token = bearer(req);
    const scopes = this.ctx.apiKeys.scopesOf(token);
    if (scopes) {
      if (!allows(scopes, 'publish')) throw new HashpubError('forbidden', 'this API key lacks the "publish" scope');
      return { kind: 'server' };
    }
    if (!token) throw new HashpubError('unauthorized', 'send the API key or a client token as "Authorization: Bearer ..."');
    const id = await this.ctx.tokens.verify(token);
    return { kind: 'client', user: id.user, claims: id.claims };
  }
}

function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw badRequest(`${name} must be an integer ${min}-${max}`);
  return n;
}
