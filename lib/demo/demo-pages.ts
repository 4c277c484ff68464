import type { IncomingMessage, ServerResponse } from 'node:http';
import { signToken } from '../auth/tokens.js';
import { badRequest, methodNotAllowed } from '../errors.js';
import type { PageRoutes } from '../pages/pages.js';
import { StaticPages, wwwFile } from '../pages/static-pages.js';
import { readJsonBody, sendJson } from '../transport/http-util.js';
import { GAME_INPUT, GAME_STATE } from './demo-hooks.js';

/** The chat rooms of the demo; `private` ones only moderators' tokens list. */
export const ROOMS = [
  { channel: 'chat:lobby', title: 'Lobby', private: false },
  { channel: 'chat:random', title: 'Random', private: false },
  { channel: 'chat:mods', title: 'Moderators (private)', private: true },
] as const;
export const LANGUAGES = ['en', 'es', 'fr'] as const;
const NAME_RE = /^[A-Za-z0-9_-]{1,24}$/;
/** Said by every demo-only endpoint: a real app signs tokens on its own server, with its own rules. */
export const DEMO_NOTE = 'demo mode only (hashpub demo): this endpoint signs a token for any name; a real app signs tokens on its own server after its own login';

/** What the demo pages need from the demo app. */
export interface DemoBackend {
  jwtSecret: string;
  /** Every node's URL (pages connect to their own node first, then the others). */
  urls(): string[];
  /** The channel's current position (for history on join): from GET /v1/channels/{c}/history?limit=1. */
  position(channel: string): Promise<{ epoch: string; offset: number }>;
}

/**
 * The demo's pages (/demo/, /demo/chat, /demo/game and their scripts) and its two demo-only endpoints:
 * `POST /demo/token` signs a client token for {name, lang, role}; `GET /demo/rooms` lists the rooms with their
 * positions so a page can subscribe from a few messages back (history on join, translated like live messages).
 */
export class DemoPages implements PageRoutes {
  private readonly files = new StaticPages({
    '/demo/': wwwFile('demo.html'),
    '/demo/chat': wwwFile('chat.html'),
    '/demo/game': wwwFile('game.html'),
    '/pages/chat.js': wwwFile('chat.js'),
    '/pages/game.js': wwwFile('game.js'),
    '/pages/demo-login.js': wwwFile('demo-login.js'),
  }, { '/': '/demo/', '/demo': '/demo/' });

  constructor(private readonly backend: DemoBackend) {}

  handles(path: string): boolean {
    return path === '/demo/token' || path === '/demo/rooms' || this.files.handles(path);
  }

  async serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const demo = { 'x-hashpub-demo': DEMO_NOTE, 'cache-control': 'no-store' };
    if (url.pathname === '/demo/token') {
      if (req.method !== 'POST') throw methodNotAllowed(['POST']);
      const b = (await readJsonBody(req, 4096, 4)) as Record<string, unknown>;
      const name = typeof b.name === 'string' ? b.name.trim() : '';
      if (!NAME_RE.test(name)) throw badRequest('name: 1-24 letters, digits, _ or -');
      const lang = LANGUAGES.includes(b.lang as never) ? (b.lang as string) : 'en';
      const role = b.role === 'moderator' ? 'moderator' : 'user';
      const token = await signToken(this.backend.jwtSecret, name, {
        ttlSeconds: 4 * 3600,
        publish: [...ROOMS.map((r) => r.channel), GAME_INPUT],
        channels: role === 'moderator' ? ROOMS.filter((r) => r.private).map((r) => r.channel) : [],
        claims: { lang, role },
      });
      return sendJson(res, 200, { demo: DEMO_NOTE, token, user: name, lang, role, urls: this.backend.urls() }, demo);
    }
    if (url.pathname === '/demo/rooms') {
      if (req.method !== 'GET') throw methodNotAllowed(['GET']);
      const rooms = await Promise.all(ROOMS.map(async (r) => ({ ...r, ...(await this.backend.position(r.channel)) })));
      return sendJson(res, 200, { demo: DEMO_NOTE, rooms, game: GAME_STATE }, demo);
    }
    return this.files.serve(req, res, url);
  }
}
