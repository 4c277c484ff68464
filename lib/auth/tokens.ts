import type { KeyObject } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { HashpubError } from '../errors.js';
import { isUserId } from '../protocol/names.js';
import type { Claims } from '../protocol/types.js';
import type { PublicAlg, TokenKeys } from './token-keys.js';

/** A verified client identity. */
export interface Identity {
  user: string;
  claims: Claims;
}

/**
 * Verifies client tokens with jose: HS256 with the node's secret, and RS256/ES256 with a public key
 * (`--jwt-public-key`) or a key set (`--jwks`, the token's `kid` picks the key). Each key is pinned to its
 * algorithm, so `alg: none`, algorithm confusion (an HS256 token "signed" with a public key) and any
 * algorithm without a configured key are refused. `sub` and `exp` are required.
 */
export class TokenVerifier {
  private readonly secret: Uint8Array | null;
  private readonly publicKey: { key: KeyObject; alg: PublicAlg } | null;
  private readonly jwks: JWTVerifyGetKey | null;
  /** The algorithms some configured key verifies, for the refusal message. */
  private readonly algs: string[];

  /** `secret` null: HS256 tokens are refused (a public key or key set verifies them all). */
  constructor(secret: string | null, keys: TokenKeys = {}) {
    this.secret = secret === null ? null : new TextEncoder().encode(secret);
    this.publicKey = keys.publicKey ?? null;
    this.jwks = keys.jwks ? createLocalJWKSet(keys.jwks) : null;
    const algs = new Set<string>();
    if (this.secret) algs.add('HS256');
    if (this.publicKey) algs.add(this.publicKey.alg);
    if (this.jwks) { algs.add('RS256'); algs.add('ES256'); }
    this.algs = [...algs];
  }

  /** Resolves the identity or throws `unauthorized` with a reason the client can act on. */
  async verify(token: string): Promise<Identity> {
    try {
      const { payload } = await this.check(token);
      if (!isUserId(payload.sub)) throw new HashpubError('unauthorized', 'token "sub" is not a valid user id');
      return { user: payload.sub, claims: payload as Claims };
    } catch (err) {
      if (err instanceof HashpubError) throw err;
      const why = err instanceof errors.JWTExpired ? 'token expired'
        : err instanceof errors.JWTClaimValidationFailed ? `token claim invalid: ${err.message}`
        : err instanceof errors.JOSEAlgNotAllowed ? `token algorithm not allowed (this node verifies ${this.algs.join(', ')})`
        : err instanceof errors.JWKSNoMatchingKey ? 'no key of the key set matches the token (kid)'
        : err instanceof errors.JWKSMultipleMatchingKeys ? 'several keys of the key set match the token: it must name one (kid)'
        : 'invalid token';
      throw new HashpubError('unauthorized', why, { cause: err });
    }
  }

  /** Picks the key by the token's algorithm, then verifies signature and claims with that one algorithm allowed. */
  private check(token: string) {
    let alg: unknown;
    let kid: unknown;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch (err) {
      throw new HashpubError('unauthorized', 'invalid token', { cause: err });
    }
    const opts = { requiredClaims: ['sub', 'exp'] };
    if (alg === 'HS256' && this.secret) return jwtVerify(token, this.secret, { ...opts, algorithms: ['HS256'] });
    if (alg === 'RS256' || alg === 'ES256') {
      // A key set is asked when the token names a kid (or there is no single key); the single key otherwise.
      if (this.jwks && (kid !== undefined || !this.publicKey || this.publicKey.alg !== alg)) {
        return jwtVerify(token, this.jwks, { ...opts, algorithms: [alg] });
      }
      if (this.publicKey && this.publicKey.alg === alg) return jwtVerify(token, this.publicKey.key, { ...opts, algorithms: [alg] });
    }
    throw new HashpubError('unauthorized', `token algorithm ${typeof alg === 'string' ? JSON.stringify(alg.slice(0, 20)) : '(none)'} not allowed (this node verifies ${this.algs.join(', ') || 'no algorithm'})`);
  }
}

/** Signs an HS256 client token (the `hashpub token` command, tests, apps in Node). */
export async function signToken(secret: string, user: string, opts: {
  ttlSeconds?: number; channels?: string[]; publish?: string[]; claims?: Record<string, unknown>;
} = {}): Promise<string> {
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
