/**
 * Errors with stable string codes. The codes are part of the public contract (spec/protocol.md):
 * REST answers `{"error": {"code", "message"}}` with the status below, WebSocket answers
 * `{"type": "error", "code", "message"}`.
 */

/** Every client-facing error code, with its HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  banned: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  too_large: 413,
  channel_full: 409,
  rate_limited: 429,
  header_too_large: 431,
  unavailable: 503,
  timeout: 504,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Reasons a server closes or detaches a client; sent in `kicked`/`disconnected` frames and logged. */
export const DISCONNECT_REASONS = {
  kicked: 'kicked',
  banned: 'banned',
  slow: 'slow',
  disconnected: 'disconnected',
  shutdown: 'shutdown',
  expired: 'expired',
  bad_token: 'bad_token',
  rate_limited: 'rate_limited',
} as const;

export type DisconnectReason = keyof typeof DISCONNECT_REASONS;

/** The one error class for anything a client or API caller did wrong, or that the node cannot do now. */
export class HashpubError extends Error {
  readonly code: ErrorCode;
  /** Seconds the caller should wait before retrying (only with `unavailable` and `rate_limited`). */
  readonly retryAfter: number | undefined;
  /** The methods a path does answer (only with `method_not_allowed`; sent as the `Allow` header). */
  readonly allow: readonly string[] | undefined;
  /** The channel a refusal is about, when one request names several (SSE, long-poll). */
  readonly channel: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; retryAfter?: number; allow?: readonly string[]; channel?: string } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'HashpubError';
    this.code = code;
    this.retryAfter = opts.retryAfter;
    this.allow = opts.allow;
    this.channel = opts.channel;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; channel?: string } {
    return this.channel === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, channel: this.channel };
  }

  /** The same error, naming the channel it is about. */
  about(channel: string): HashpubError {
    return new HashpubError(this.code, this.message, { cause: this.cause, retryAfter: this.retryAfter, allow: this.allow, channel });
  }
}

/** Thrown by `parseOptions()` and the CLI for a bad option; names the field. */
export class OptionsError extends Error {
  readonly code = 'bad_option';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'OptionsError';
    this.field = field;
  }
}

/** Wraps anything thrown into a HashpubError (unknown errors become `internal`, message hidden). */
export function asHashpubError(err: unknown): HashpubError {
  if (err instanceof HashpubError) return err;
  return new HashpubError('internal', 'internal error', { cause: err });
}

export const badRequest = (message: string) => new HashpubError('bad_request', message);

/** `method_not_allowed` for a path that answers only `allow`. */
export const methodNotAllowed = (allow: readonly string[]) =>
  new HashpubError('method_not_allowed', `this path answers ${allow.join(', ')}`, { allow });

/** WebSocket close codes the server uses (4000-4999 are application codes). */
export const CLOSE_CODES = {
  /** The node is shutting down: reconnect (to any node) and resume. */
  shutdown: 1001,
  /** A frame larger than maxPayloadBytes (sent by the ws library). */
  too_large: 1009,
  /** Closed by the API or a hook (`POST /v1/users/{u}/disconnect`, `disconnect` action): do not resume. */
  disconnected: 4000,
  /** Sent by a client: "closing, but keep my session for a resume" (a drop, not a goodbye). */
  resume: 4100,
  /** Over the node's connection-accept budget: retry after the reason's seconds (spec/protocol.md). */
  busy: 1013,
  /** The client did not read fast enough; reconnect and resume. */
  slow: 4008,
  /** No `connect` frame in time, or a second one. */
  protocol: 4002,
  /** Token missing, invalid or expired: get a new token. */
  unauthorized: 4401,
  /** The connect hook refused the connection. */
  forbidden: 4403,
  /**
   * Too many refusals (`rate_limited`) within the abuse window, or the connection itself was over a limit:
   * the session is ended; the reason is the seconds to wait before reconnecting.
   */
  rate_limited: 4429,
} as const;
