import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HashpubError, methodNotAllowed } from '../errors.js';
import type { PageRoutes } from './pages.js';

/** A page file: where it is read from, its content type and how long browsers may keep it. */
export interface PageFile {
  /** Absolute file URL or path. */
  file: URL | string;
  type: string;
  cacheControl: string;
}

interface Loaded {
  body: Buffer;
  etag: string;
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml', png: 'image/png', json: 'application/json',
};
/** Pages are not built: they are read from the source folder (lib/pages/www/), next to dist/ in the package. */
export const WWW = new URL('../../../lib/pages/www/', import.meta.url);
/** The pages may talk to this node and, for failover, to other members (any http/ws origin). */
const CSP = "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

/** A page from lib/pages/www: HTML is revalidated on every load, scripts and styles kept 5 minutes (ETag). */
export function wwwFile(name: string): PageFile {
  const ext = name.slice(name.lastIndexOf('.') + 1);
  return { file: new URL(name, WWW), type: TYPES[ext] ?? 'application/octet-stream', cacheControl: ext === 'html' ? 'no-cache' : 'public, max-age=300' };
}

/**
 * Serves files read once from disk with a strong ETag (304 on If-None-Match), their content type,
 * `x-content-type-options: nosniff` and a Content-Security-Policy; GET and HEAD only.
 */
export class StaticPages implements PageRoutes {
  private readonly cache = new Map<string, Loaded>();

  /** `files`: URL path -> file; `redirects`: URL path -> where it moved (302). */
  constructor(private readonly files: Record<string, PageFile>, private readonly redirects: Record<string, string> = {}) {}

  handles(path: string): boolean {
    return Object.hasOwn(this.files, path) || Object.hasOwn(this.redirects, path);
  }

  serve(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(['GET', 'HEAD']);
    const path = url.pathname;
    if (Object.hasOwn(this.redirects, path)) {
      res.writeHead(302, { location: this.redirects[path]!, 'content-length': 0 });
      return void res.end();
    }
    const f = this.files[path]!;
    const a = this.load(path, f);
    const headers = { etag: a.etag, 'cache-control': f.cacheControl, 'x-content-type-options': 'nosniff', 'content-security-policy': CSP };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    res.writeHead(200, { ...headers, 'content-type': f.type, 'content-length': a.body.length });
    res.end(method === 'HEAD' ? undefined : a.body);
  }

  private load(path: string, f: PageFile): Loaded {
    let a = this.cache.get(path);
    if (a) return a;
    let body: Buffer;
    try {
      body = readFileSync(f.file);
    } catch {
      throw new HashpubError('not_found', `${path} is missing from this installation`);
    }
    a = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    this.cache.set(path, a);
    return a;
  }
}

/** Answers with the first of `routes` that handles the path. */
export class PageRouter implements PageRoutes {
  constructor(private readonly routes: PageRoutes[]) {}

  handles(path: string): boolean {
    return this.routes.some((r) => r.handles(path));
  }

  serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> | void {
    return this.routes.find((r) => r.handles(url.pathname))!.serve(req, res, url);
  }
}

const require = createRequire(import.meta.url);

/** The dashboard of every node (GET /dashboard; `/` leads there) and uPlot, the chart library it uses. */
export function dashboardPages(): StaticPages {
  const uplot = (name: string) => {
    try {
      return require.resolve(`uplot/dist/${name}`);
    } catch {
      return `/nonexistent/uplot/${name}`; // answered 404 "missing from this installation"
    }
  };
  const vendor = (name: string, type: string): PageFile => ({ file: uplot(name), type, cacheControl: 'public, max-age=86400' });
  return new StaticPages({
    '/dashboard': wwwFile('dashboard.html'),
    '/pages/dashboard.js': wwwFile('dashboard.js'),
    '/pages/chart.js': wwwFile('chart.js'),
    '/pages/pages.css': wwwFile('pages.css'),
    '/pages/vendor/uPlot.esm.js': vendor('uPlot.esm.js', TYPES.js!),
    '/pages/vendor/uPlot.min.css': vendor('uPlot.min.css', TYPES.css!),
  }, { '/': '/dashboard', '/dashboard/': '/dashboard' });
}
