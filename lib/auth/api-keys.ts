import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OptionsError } from '../errors.js';

/**
 * What an API key may do (spec/protocol.md "API keys and scopes"): `publish` (channel and user messages),
 * `read` (history, presence, config, owner), `admin` (everything: config changes, kick, disconnect, cluster).
 */
export const SCOPES = ['publish', 'read', 'admin'] as const;
export type Scope = typeof SCOPES[number];

/** One entry of an --api-keys file. */
export interface ApiKeyEntry {
  key: string;
  scopes: Scope[];
  /** A label for logs and operators (never sent). */
  name?: string;
}

/** Shortest key accepted in an --api-keys file: guessing one must be out of reach. */
const MIN_KEY_LENGTH = 16;

const digest = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * The API keys a node accepts, by SHA-256 digest (a lookup by digest tells a timing observer nothing about
 * the keys). `replace()` swaps the set at once (SIGHUP re-reads the file).
 */
export class ApiKeys {
  private byDigest = new Map<string, ReadonlySet<Scope>>();

  constructor(entries: ApiKeyEntry[]) {
    this.replace(entries);
  }

  replace(entries: ApiKeyEntry[]): void {
    this.byDigest = new Map(entries.map((e) => [digest(e.key), new Set(e.scopes)]));
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** The scopes of `key`, or null when it is no key of this node. */
  scopesOf(key: string | undefined): ReadonlySet<Scope> | null {
    return key === undefined ? null : this.byDigest.get(digest(key)) ?? null;
  }
}

/** True when `scopes` allow `needed` (admin allows everything). */
export const allows = (scopes: ReadonlySet<Scope>, needed: Scope): boolean => scopes.has(needed) || scopes.has('admin');

/**
 * Parses the JSON of an --api-keys file: `[{"key": "...", "scopes": ["publish"], "name"?: "backend"}, ...]`.
 * Throws OptionsError (field apiKeys) naming the entry and what is wrong with it.
 */
export function parseApiKeys(text: string, source: string): ApiKeyEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OptionsError('apiKeys', `${source} is not valid JSON: ${(err as Error).message}`);
  }
  const example = 'expected [{"key": "...", "scopes": ["publish", "read", "admin"]}, ...]';
  if (!Array.isArray(json) || json.length === 0) throw new OptionsError('apiKeys', `${source}: ${example}`);
  const seen = new Set<string>();
  return json.map((e: unknown, i): ApiKeyEntry => {
    const at = `${source}: entry ${i}`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new OptionsError('apiKeys', `${at} is not an object; ${example}`);
    const { key, scopes, name, ...rest } = e as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length) throw new OptionsError('apiKeys', `${at}: unknown field "${unknown[0]}" (fields: key, scopes, name)`);
    if (typeof key !== 'string' || key.length < MIN_KEY_LENGTH || /\s/.test(key)) {
      throw new OptionsError('apiKeys', `${at}: "key" must be a string of at least ${MIN_KEY_LENGTH} characters without spaces`);
    }
    if (seen.has(key)) throw new OptionsError('apiKeys', `${at}: the same key appears twice`);
    seen.add(key);
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) {
      throw new OptionsError('apiKeys', `${at}: "scopes" must be a non-empty list of ${SCOPES.join(', ')}`);
    }
    if (name !== undefined && typeof name !== 'string') throw new OptionsError('apiKeys', `${at}: "name" must be a string`);
    return { key, scopes: scopes as Scope[], ...(name !== undefined ? { name } : {}) };
  });
}

/** The keys of --api-keys: inline JSON when it starts with `[` (or `{`), else the path of a JSON file. */
export async function loadApiKeys(value: string): Promise<ApiKeyEntry[]> {
  if (/^\s*[[{]/.test(value)) return parseApiKeys(value, '--api-keys (inline JSON)');
  let text: string;
  try {
    text = await readFile(value, 'utf8');
  } catch (err) {
    throw new OptionsError('apiKeys', `cannot read ${value}: ${(err as Error).message}`);
  }
  return parseApiKeys(text, value);
}
