import { createHmac, timingSafeEqual } from 'node:crypto';

/*
 * Webhook request signatures: `X-Hashpub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
 * The timestamp is signed with the body, so a captured request cannot be replayed after the tolerance.
 * Apps verify with `verifyWebhook()` over the RAW request body (before any JSON parsing).
 */

/** Name of the HTTP header that carries the signature. */
export const SIGNATURE_HEADER = 'x-hashpub-signature';

/** Default accepted clock difference between signer and verifier, seconds. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const HEADER_RE = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/;

/** Signature header value for `rawBody` at `now` (unix seconds, default the current time). */
export function signWebhook(rawBody: string | Uint8Array, secret: string, now: number = Date.now() / 1000): string {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('webhook secret must be a non-empty string');
  const t = Math.floor(now);
  return `t=${t},v1=${digest(rawBody, secret, t)}`;
}

/**
 * Whether `header` is a valid signature of `rawBody` made with `secret` no more than `toleranceSeconds` from `now`
 * (unix seconds). Never throws: a missing, malformed, stale or wrong signature is `false`.
 */
export function verifyWebhook(rawBody: unknown, header: unknown, secret: unknown,
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS, now: number = Date.now() / 1000): boolean {
  try {
    if (typeof secret !== 'string' || secret.length === 0) return false;
    if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) return false;
    if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0 || !Number.isFinite(now)) return false;
    const value = Array.isArray(header) && header.length === 1 ? header[0] : header;
    if (typeof value !== 'string') return false;
    const m = HEADER_RE.exec(value.trim());
    if (!m) return false;
    const t = Number(m[1]);
    if (Math.abs(now - t) > toleranceSeconds) return false;
    const given = Buffer.from(m[2]!, 'hex');
    const expected = Buffer.from(digest(rawBody, secret, t), 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  } catch {
    return false;
  }
}

function digest(rawBody: string | Uint8Array, secret: string, t: number): string {
  return createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest('hex');
}
