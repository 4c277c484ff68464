/**
 * The one REST call of the chaos harness (undici, keep-alive, a hard deadline per call): every failure comes
 * back as a value (status, timeout, connection error), never as a throw, so callers can record it.
 */
import { Agent, request } from 'undici';

let agent: Agent | null = null;
const dispatcher = () => (agent ??= new Agent({ connections: 64, keepAliveTimeout: 10_000, connect: { timeout: 2000 } }));

/** What one call gave: an HTTP answer, or a failure before one (timeout / connection error). */
export type CallResult =
  | { kind: 'http'; status: number; body: any; retryAfterMs: number | null; ms: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'error'; code: string; ms: number };

/** `method url+path` with `Authorization: Bearer <auth>` and a JSON body; gives up after `timeoutMs`. */
export async function call(url: string, method: string, path: string, auth: string, body: unknown, timeoutMs: number): Promise<CallResult> {
  const t0 = performance.now();
  try {
    const res = await request(url + path, {
      dispatcher: dispatcher(), method: method as 'GET',
      headers: { authorization: `Bearer ${auth}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    const ra = Number(res.headers['retry-after']);
    return { kind: 'http', status: res.statusCode, body: parsed, retryAfterMs: Number.isFinite(ra) && ra >= 0 ? ra * 1000 : null, ms: performance.now() - t0 };
  } catch (err) {
    const e = err as { name?: string; code?: string };
    const ms = performance.now() - t0;
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.code === 'UND_ERR_CONNECT_TIMEOUT') {
      return { kind: 'timeout', ms };
    }
    return { kind: 'error', code: e?.code ?? e?.name ?? String(err), ms };
  }
}

/** A short text for a failed call, for logs and the history. */
export function describe(r: CallResult): string {
  if (r.kind === 'timeout') return 'timeout';
  if (r.kind === 'error') return r.code;
  return `${r.status}${r.body?.error?.code ? ' ' + r.body.error.code : ''}`;
}

/** Closes the keep-alive connections (end of a run). */
export async function closeHttp(): Promise<void> {
  const a = agent;
  agent = null;
  await a?.destroy();
}
