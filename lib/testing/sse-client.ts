import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** One Server-Sent Event as a client sees it. */
export interface SseEvent { event?: string; id?: string; data?: string }

/**
 * A minimal SSE reader over node:http for tests: parses events exactly as the SSE framing rules say
 * (any of CRLF, CR, LF ends a line; comments skipped; multi-line data joined) and records them in order.
 * An https:// URL is read over TLS, trusting `tls.ca` (a test's self-signed certificate) when given.
 */
export function openSse(url: string, headers: Record<string, string> = {}, tls: { ca?: string | Buffer } = {}) {
  const events: SseEvent[] = [];
  let status = 0;
  let responseHeaders: Record<string, string | string[] | undefined> = {};
  let ended = false;
  let close = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : request)(url, { headers, ...tls }, (res) => {
      status = res.statusCode ?? 0;
      responseHeaders = res.headers;
      let buf = '';
      let cur: SseEvent = {};
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
          if (line === '') { if (cur.data !== undefined || cur.event || cur.id) events.push(cur); cur = {}; continue; }
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'data') cur.data = cur.data === undefined ? value : cur.data + '\n' + value;
          else if (field === 'event' || field === 'id') cur[field] = value;
        }
      });
      res.on('close', () => { ended = true; });
      resolve();
    });
    req.on('error', reject);
    req.end();
    close = () => req.destroy();
  });
  /** Waits until `n` events named `event` (default `message`) arrived; returns them. */
  const waitFor = async (n: number, ms = 5000, event = 'message') => {
    const deadline = Date.now() + ms;
    while (events.filter((e) => e.event === event).length < n) {
      if (Date.now() > deadline) throw new Error(`got ${events.filter((e) => e.event === event).length}/${n} ${event} events: ${JSON.stringify(events.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return events.filter((e) => e.event === event);
  };
  /** The last `id:` seen (the cursor to resume from). */
  const lastId = () => [...events].reverse().find((e) => e.id !== undefined)?.id;
  return { events, ready, waitFor, lastId, close: () => close(), status: () => status, headers: () => responseHeaders, ended: () => ended };
}
