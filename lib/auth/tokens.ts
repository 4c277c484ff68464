import { HashpubError } from '../errors.js';
import { isUserId } from '../protocol/names.js';
import type { Claims } from '../protocol/types.js';

/** jose, imported on the first token: a node whose clients are all anonymous never loads it (~1 MB of heap). */
let josePromise: Promise<typeof import('jose')> | null = null;
const jose = () => (josePromise ??= import('jose'));

/** A verified client identity. */
export interface Identity {
  user: string;
  claims: Claims;
}

/**
 * Verifies HS256 client tokens with jose. The algorithm is pinned to HS256 (so `alg: none` and
 * algorithm-confusion tokens are refused) and `sub` and `exp` are required.
 */
export class TokenVerifier {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  /** Resolves the identity or throws `unauthorized` with a reason the client can act on. */
  async verify(token: string): Promise<Identity> {
    const { errors, jwtVerify } = await jose();
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
      if (!isUserId(payload.sub)) throw new HashpubError('unauthorized', 'token "sub" is not a valid user id');
      return { user: payload.sub, claims: payload as Claims };
    } catch (err) {
      if (err instanceof HashpubError) throw err;
      const why = err instanceof errors.JWTExpired ? 'token expired'
        : err instanceof errors.JWTClaimValidationFailed ? `token claim invalid: ${err.message}`
        : err instanceof errors.JOSEAlgNotAllowed ? 'token algorithm not allowed (HS256 only)'
        : 'invalid token';
      throw new HashpubError('unauthorized', why, { cause: err });
    }
  }
}

/** Signs an HS256 client token (the `hashpub token` command, tests, apps in Node). */
export async function signToken(secret: string, user: string, opts: {
  ttlSeconds?: number; channels?: string[]; publish?: string[]; claims?: Record<string, unknown>;
} = {}): Promise<string> {
  const { SignJWT } = await jose();
  const payload: Record<string, unknown> = { ...opts.claims };
  if (opts.channels) payload.channels = opts.channels;
  if (opts.publish) payload.publish = opts.publish;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(secret));
}
