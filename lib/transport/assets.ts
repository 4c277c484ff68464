import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import openapi from '../../spec/openapi.json' with { type: 'json' };
import { HashpubError, methodNotAllowed } from '../errors.js';

/** A file every node serves as is, read once, with a strong ETag. */
interface Asset {
  body: Buffer;
  etag: string;
  type: string;
  cacheControl: string;
}

function asset(body: Buffer, type: string, cacheControl: string): Asset {
  return { body, type, cacheControl, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * Static answers of every node: `GET /v1/client.js` (the official client, the very file tsc built from
 * lib/client/client.ts; pages on other origins import() it) and `GET /v1/openapi.json` (spec/openapi.json).
 * The client may be cached for 5 minutes and is then revalidated by ETag (304), so a node upgrade reaches
 * browsers soon without every page load costing a download.
 */
export class Assets {
  private readonly files = new Map<string, Asset | null>();

  /** Whether `path` is one of the assets. */
  has(path: string): boolean {
    return path === '/v1/client.js' || path === '/v1/openapi.json';
  }

  serve(req: IncomingMessage, res: ServerResponse, path: string): void {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(['GET', 'HEAD']);
    const a = this.load(path);
    if (!a) throw new HashpubError('not_found', `${path} is not built on this node (run npm run build)`);
    const headers = { etag: a.etag, 'cache-control': a.cacheControl, 'x-content-type-options': 'nosniff' };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    res.writeHead(200, { ...headers, 'content-type': a.type, 'content-length': a.body.length });
    res.end(method === 'HEAD' ? undefined : a.body);
  }

  private load(path: string): Asset | null {
    let a = this.files.get(path);
    if (a !== undefined) return a;
    if (path === '/v1/openapi.json') {
      a = asset(Buffer.from(JSON.stringify(openapi)), 'application/json', 'no-cache');
    } else {
      try {
        a = asset(readFileSync(new URL('../client/client.js', import.meta.url)), 'text/javascript; charset=utf-8', 'public, max-age=300');
      } catch {
        a = null;
      }
    }
    this.files.set(path, a);
    return a;
  }
}
