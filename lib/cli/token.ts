import { signToken } from '../auth/tokens.js';
import { isChannelName, isUserId } from '../protocol/names.js';
import { flagOrEnv, list, positiveInt, readSecrets, secretsPath, UsageError, type ParsedArgs } from './args.js';

const RESERVED = new Set(['sub', 'exp', 'iat', 'nbf', 'channels', 'publish']);

/** Parses repeated `--claim key=value` (value as JSON when it parses, else the string). */
function claims(raw: string | boolean | string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of Array.isArray(raw) ? raw : []) {
    const eq = c.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad value for --claim: expected KEY=VALUE, got "${c}"`);
    const key = c.slice(0, eq);
    const value = c.slice(eq + 1);
    if (RESERVED.has(key)) throw new UsageError(`bad value for --claim: "${key}" is set by its own flag, not --claim`);
    try {
      out[key] = JSON.parse(value);
    } catch {
      out[key] = value;
    }
  }
  return out;
}

function channelList(flag: string, v: string | boolean | string[] | undefined): string[] | undefined {
  const l = list(v);
  for (const c of l ?? []) {
    if (!isChannelName(c)) throw new UsageError(`bad value for --${flag}: "${c}" is not a channel name (1-160 of [A-Za-z0-9_.:@=,;-])`);
  }
  return l;
}

/** `hashpub token --user ID`: prints an HS256 client token on one line. */
export async function runToken(args: ParsedArgs): Promise<void> {
  const user = args.values.user;
  if (typeof user !== 'string') throw new UsageError('missing --user ID');
  if (!isUserId(user)) throw new UsageError(`bad value for --user: "${user}" is not a user id (1-160 of [A-Za-z0-9_.:@=,;-])`);
  const ttlSeconds = positiveInt('ttl', args.values.ttl, 3600);
  const channels = channelList('channels', args.values.channels);
  const publish = channelList('publish', args.values.publish);
  const extra = claims(args.values.claim);
  const data = flagOrEnv(args, { name: 'data', type: 'string', help: '', env: 'HASHPUB_DATA' });
  const dataDir = typeof data === 'string' ? data : './.hashpub';
  const flag = flagOrEnv(args, { name: 'jwt-secret', type: 'string', help: '', env: 'HASHPUB_JWT_SECRET' });
  const secret = typeof flag === 'string' ? flag : readSecrets(dataDir).jwtSecret;
  if (secret === undefined) {
    throw new UsageError(`no JWT secret: pass --jwt-secret, set HASHPUB_JWT_SECRET, or run where ${secretsPath(dataDir)} exists (written by \`hashpub start\`)`);
  }
  const token = await signToken(secret, user, {
    ttlSeconds, claims: extra, ...(channels ? { channels } : {}), ...(publish ? { publish } : {}),
  });
  process.stdout.write(`${token}\n`);
}
