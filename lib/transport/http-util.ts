import type { IncomingMessage, ServerResponse } from 'node:http';
import { asHashpubError, HashpubError } from '../errors.js';
import { parseJson } from '../protocol/json.js';

/** Answers JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers `{"error": {"code", "message"}}` with the code's status (and Retry-After when known). */
export function sendError(res: ServerResponse, err: unknown): HashpubError {
  const e = asHashpubError(err);
  if (res.headersSent) {
    res.destroy();
    return e;
  }
  const headers: Record<string, string> = {};
  if (e.retryAfter !== undefined) headers['retry-after'] = String(e.retryAfter);
  if (e.allow !== undefined) headers.allow = e.allow.join(', ');
  sendJson(res, e.status, { error: e.toJSON() }, headers);
  return e;
}

/**
 * Reads a JSON request body of at most `limit` bytes (413 `too_large` past it, checked against
 * Content-Length first and then while streaming); an empty body is `{}`.
 */
export async function readJsonBody(req: IncomingMessage, limit: number, maxDepth: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    throw new HashpubError('too_large', `body over ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new HashpubError('too_large', `body over ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.trim() === '' ? {} : parseJson(text, maxDepth);
}

/** The bearer token of the Authorization header, if any. */
export function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}
