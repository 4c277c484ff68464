/**
 * The one place that decides what a browser on another origin may do (DESIGN.md "Browser use"): every
 * HTTP request and every WebSocket upgrade asks corsDecision() before any other work.
 */

/** Methods a preflight allows (the REST API, SSE, long-poll and its DELETE goodbye). */
export const CORS_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
/** Request headers a preflight allows: the token or API key, JSON bodies, SSE resume by fetch. */
export const CORS_HEADERS = 'Authorization, Content-Type, Last-Event-ID';
/** How long a browser may cache a preflight answer, seconds. */
export const CORS_MAX_AGE = '600';

/** What corsDecision() looks at. */
export interface CorsRequest {
  /** The `Origin` header (absent for most non-browser callers). */
  origin: string | undefined;
  /** The `Host` header: a page served by this node itself is same-origin and always allowed. */
  host: string | undefined;
  method: string;
}

/** Refuse (403 before any work), or go on with these headers on the answer; `preflight` is answered 204 at once. */
export type CorsDecision =
  | { allowed: false }
  | { allowed: true; preflight: boolean; headers: Record<string, string> };

/**
 * Decides one request. An Origin passes when `allowedOrigins` is empty (any origin), lists it, or is this
 * node's own (`http(s)://` + Host); no Origin passes (not a browser on another page). An allowed Origin is
 * echoed in Access-Control-Allow-Origin with `Vary: Origin`, Retry-After is exposed to scripts, and an
 * `OPTIONS` request is a preflight answered with the methods and headers above.
 */
export function corsDecision(req: CorsRequest, allowedOrigins: readonly string[]): CorsDecision {
  const { origin, host } = req;
  const sameOrigin = origin !== undefined && host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
  if (origin !== undefined && allowedOrigins.length > 0 && !sameOrigin && !allowedOrigins.includes(origin)) return { allowed: false };
  const headers: Record<string, string> = { vary: 'Origin' };
  if (origin !== undefined) {
    headers['access-control-allow-origin'] = origin;
    headers['access-control-expose-headers'] = 'Retry-After';
  }
  const preflight = req.method === 'OPTIONS';
  if (preflight) {
    headers['access-control-allow-methods'] = CORS_METHODS;
    headers['access-control-allow-headers'] = CORS_HEADERS;
    headers['access-control-max-age'] = CORS_MAX_AGE;
  }
  return { allowed: true, preflight, headers };
}
