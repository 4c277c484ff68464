import { CliError, flagOrEnv, positiveInt, readSecrets, secretsPath, UsageError, type ParsedArgs } from './args.js';

/** Where and how a client command talks to a node. */
export interface Target {
  url: string;
  apiKey: string | undefined;
  /** Where the key was looked for, for the "no API key" message. */
  secretsFile: string;
}

/** Resolves --url/HASHPUB_URL and --api-key/HASHPUB_API_KEY/<data>/secrets.json. */
export function target(args: ParsedArgs): Target {
  const raw = flagOrEnv(args, { name: 'url', type: 'string', help: '', env: 'HASHPUB_URL' });
  const url = typeof raw === 'string' ? raw.replace(/\/+$/, '') : 'http://127.0.0.1:8080';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`bad value for --url: "${url}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`bad value for --url: use http:// or https://, got "${url}"`);
  }
  const data = flagOrEnv(args, { name: 'data', type: 'string', help: '', env: 'HASHPUB_DATA' });
  const dataDir = typeof data === 'string' ? data : './.hashpub';
  const key = flagOrEnv(args, { name: 'api-key', type: 'string', help: '', env: 'HASHPUB_API_KEY' });
  const apiKey = typeof key === 'string' ? key : readSecrets(dataDir).apiKey;
  return { url, apiKey, secretsFile: secretsPath(dataDir) };
}

function requireKey(t: Target): string {
  if (t.apiKey === undefined) {
    throw new UsageError(`no API key: pass --api-key, set HASHPUB_API_KEY, or run where ${t.secretsFile} exists (written by \`hashpub start\`)`);
  }
  return t.apiKey;
}

/** Sends one request; resolves the parsed JSON answer or throws CliError (`error <code>: <message>`, node unreachable). */
export async function request(t: Target, method: string, path: string, body?: unknown, auth = true, expectJson = true): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Bearer ${requireKey(t)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${t.url}${path}`, {
      method, headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw unreachable(t.url, err);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (e && typeof e.code === 'string') throw new CliError(`error ${e.code}: ${String(e.message ?? '')}`);
    throw new CliError(`error HTTP ${res.status}: ${text.slice(0, 200) || res.statusText}`);
  }
  if (json === undefined && !expectJson) return text;
  if (json === undefined) throw new CliError(`${t.url} answered something that is not JSON: is it a hashpub node?`);
  return json;
}

function unreachable(url: string, err: unknown): CliError {
  const e = err as { name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return new CliError(`no answer from ${url} within 15s`);
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new CliError(`no hashpub node at ${url}: start one with \`hashpub start\` or pass --url`);
  }
  return new CliError(`cannot reach ${url}: ${e.cause?.message ?? (err as Error)?.message ?? String(err)}`);
}

const enc = encodeURIComponent;

/** `hashpub publish CHANNEL JSON`: POST /v1/channels/{channel}/messages, prints the JSON answer. */
export async function runPublish(args: ParsedArgs): Promise<void> {
  const [channel, text] = args.positionals as [string, string];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`JSON argument is not valid JSON (${(err as Error).message}); quote it, e.g. '{"hello":"world"}'`);
  }
  const id = args.values.id;
  const t = target(args);
  requireKey(t);
  const answer = await request(t, 'POST', `/v1/channels/${enc(channel)}/messages`, { data, ...(typeof id === 'string' ? { id } : {}) });
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

/** `hashpub kick CHANNEL USER`: POST /v1/channels/{channel}/kick, prints the JSON answer. */
export async function runKick(args: ParsedArgs): Promise<void> {
  const [channel, user] = args.positionals as [string, string];
  const ban = args.values.ban === undefined ? undefined : positiveInt('ban', args.values.ban, 0);
  const reason = args.values.reason;
  const t = target(args);
  requireKey(t);
  const answer = await request(t, 'POST', `/v1/channels/${enc(channel)}/kick`, {
    user, ...(ban !== undefined ? { ban } : {}), ...(typeof reason === 'string' ? { reason } : {}),
  });
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

interface ClusterView {
  self?: string;
  members?: { id?: string; url?: string }[];
}

/** `hashpub status`: GET /healthz and GET /v1/cluster, printed as a short summary. */
export async function runStatus(args: ParsedArgs): Promise<void> {
  const t = target(args);
  let health: string;
  try {
    await request(t, 'GET', '/healthz', undefined, false, false);
    health = 'healthy';
  } catch (err) {
    if (err instanceof CliError && err.message.startsWith('error ')) health = `not healthy (${err.message})`;
    else throw err;
  }
  const out = [`node ${t.url}: ${health}`];
  if (t.apiKey === undefined) {
    out.push(`cluster: pass --api-key (or run where ${t.secretsFile} exists) to see the members`);
  } else {
    const view = await request(t, 'GET', '/v1/cluster') as ClusterView;
    const members = view.members ?? [];
    out.push(`node id: ${view.self ?? '?'}`, `cluster: ${members.length} member${members.length === 1 ? '' : 's'}`);
    for (const m of members) out.push(`  ${m.id ?? '?'}  ${m.url ?? '?'}${m.id === view.self ? '  (this node)' : ''}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (health !== 'healthy') throw new CliError('node is not healthy', 1);
}
