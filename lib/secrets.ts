import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Secrets a node needs; generated on first start and kept in `<data>/secrets.json` (mode 0600). */
export interface Secrets {
  apiKey: string;
  jwtSecret: string;
  /** Cluster admission secret. */
  secret: string;
  /** Seed of the node's key pair (its id in a cluster), stable across restarts. */
  nodeSeed: string;
}

/**
 * A random secret (24 bytes, base64url) that starts with a letter or digit: one starting with "-" would be read
 * as a flag when pasted after --api-key or --secret.
 */
export function generateSecret(): string {
  for (;;) {
    const s = randomBytes(24).toString('base64url');
    if (/^[A-Za-z0-9]/.test(s)) return s;
  }
}
const gen = generateSecret;

/**
 * Reads the stored secrets, fills in what is missing (given values win over stored ones), stores the
 * result. `dir` null (in-memory node) stores nothing. Returns the secrets and which were generated.
 */
export async function loadSecrets(dir: string | null, given: Partial<Secrets>): Promise<{ secrets: Secrets; generated: Array<keyof Secrets> }> {
  let stored: Partial<Secrets> = {};
  const file = dir ? join(dir, 'secrets.json') : null;
  if (file) {
    try {
      stored = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}; fix or delete it`);
    }
  }
  const generated: Array<keyof Secrets> = [];
  const pick = (k: keyof Secrets, make: () => string): string => {
    const v = given[k] ?? stored[k];
    if (v) return v;
    generated.push(k);
    return make();
  };
  const secrets: Secrets = {
    apiKey: pick('apiKey', gen),
    jwtSecret: pick('jwtSecret', gen),
    secret: pick('secret', gen),
    nodeSeed: pick('nodeSeed', () => randomBytes(32).toString('hex')),
  };
  if (file && (generated.length > 0 || Object.keys(secrets).some((k) => stored[k as keyof Secrets] !== secrets[k as keyof Secrets]))) {
    await mkdir(dir!, { recursive: true });
    // Given values are not persisted over stored ones: only fill what was missing.
    const toStore = { ...secrets, ...Object.fromEntries(Object.entries(stored).filter(([, v]) => v)) };
    await writeFile(file, JSON.stringify(toStore, null, 2) + '\n', { mode: 0o600 });
  }
  return { secrets, generated };
}
