// A raw HTTP request for fuzzing: any method token, path, headers and body bytes (fetch refuses many of them).
import { request } from 'node:http';

export interface RawAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
  /** True when the answer was still streaming (SSE, a long-poll wait) when the reader stopped. */
  streaming: boolean;
}

/**
 * Sends one request and reads the answer. A response that has not ended after `streamMs` (an SSE stream) is
 * read for what came so far and closed; with `waitMs`, a request not answered by then (a waiting long-poll)
 * resolves with status 0. A connection the server closes without an answer rejects.
 */
export function rawRequest(base: string, method: string, path: string, headers: Record<string, string>, body?: Uint8Array | string,
  streamMs = 300, waitMs?: number): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    // A long-poll that waits for messages sends nothing until then: after waitMs it counts as waiting.
    const waiting = waitMs === undefined ? undefined : setTimeout(() => {
      resolve({ status: 0, contentType: undefined, text: '', streaming: true });
      req.destroy();
    }, waitMs);
    const u = new URL(base);
    // A body always goes with its length (Node's client sends none for GET, HEAD, OPTIONS...): bytes after a
    // request without one are the next request on the wire, and garbage there only ends the connection.
    const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { connection: 'close', ...length, ...headers } }, (res) => {
      clearTimeout(waiting);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      const answer = (streaming: boolean) => ({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text, streaming });
      const timer = setTimeout(() => { resolve(answer(true)); req.destroy(); }, streamMs);
      res.on('end', () => { clearTimeout(timer); resolve(answer(false)); });
      res.on('error', () => {});
      res.on('close', () => { clearTimeout(timer); resolve(answer(!res.complete)); });
    });
    req.on('error', (err) => { clearTimeout(waiting); reject(err); });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    if (body !== undefined) req.end(body);
    else req.end();
  });
}
