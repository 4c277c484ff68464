// Loading the public keys that verify client tokens (`--jwt-public-key`, `--jwks`) at startup, with errors
// that name the flag and say what is wrong with the file.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { OptionsError } from '../errors.js';

/** The asymmetric algorithms a client token may use. */
export type PublicAlg = 'RS256' | 'ES256';

/** Public keys that verify client tokens besides the HS256 secret. */
export interface TokenKeys {
  /** One key and the algorithm it verifies (RSA: RS256, P-256: ES256). */
  publicKey?: { key: KeyObject; alg: PublicAlg };
  /** A key set; the token's `kid` (and `alg`) select the key. */
  jwks?: JSONWebKeySet;
}

async function readText(field: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new OptionsError(field, `cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The algorithm a public key verifies: RS256 for RSA (2048 bits or more), ES256 for EC P-256. */
export function algOf(key: KeyObject): PublicAlg {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') {
    if ((d?.modulusLength ?? 0) < 2048) throw new Error('an RSA key must have at least 2048 bits');
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(`a ${key.asymmetricKeyType ?? 'symmetric'}${d?.namedCurve ? ` ${d.namedCurve}` : ''} key is not supported: use RSA (RS256) or EC P-256 (ES256)`);
}

/** Reads `--jwt-public-key` (PEM) and `--jwks` (JSON); throws OptionsError naming the flag. */
export async function loadTokenKeys(o: { jwtPublicKey: string | null; jwks: string | null }): Promise<TokenKeys> {
  const out: TokenKeys = {};
  if (o.jwtPublicKey !== null) {
    const pem = await readText('jwtPublicKey', o.jwtPublicKey);
    if (/PRIVATE KEY-----/.test(pem)) throw new OptionsError('jwtPublicKey', `${o.jwtPublicKey} holds a private key: give the public key only (openssl pkey -pubout)`);
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new OptionsError('jwtPublicKey', `${o.jwtPublicKey} is not a PEM public key: ${(err as Error).message}`);
    }
    try {
      out.publicKey = { key, alg: algOf(key) };
    } catch (err) {
      throw new OptionsError('jwtPublicKey', `${o.jwtPublicKey}: ${(err as Error).message}`);
    }
  }
  if (o.jwks !== null) {
    const text = await readText('jwks', o.jwks);
    let set: JSONWebKeySet;
    try {
      set = JSON.parse(text) as JSONWebKeySet;
      createLocalJWKSet(set); // checks the shape
    } catch (err) {
      throw new OptionsError('jwks', `${o.jwks} is not a JSON Web Key Set ({"keys": [...]}): ${(err as Error).message}`);
    }
    for (const [i, k] of set.keys.entries()) {
      if (k.kty !== 'RSA' && k.kty !== 'EC') throw new OptionsError('jwks', `${o.jwks}: key ${i} has kty ${JSON.stringify(k.kty)}; only RSA and EC public keys verify tokens`);
      if ('d' in k) throw new OptionsError('jwks', `${o.jwks}: key ${i} is a private key: publish only the public parts`);
    }
    if (set.keys.length === 0) throw new OptionsError('jwks', `${o.jwks} holds no keys`);
    out.jwks = set;
  }
  return out;
}
