import net from 'node:net';
import { checkPublicUrl, isUnspecified } from './cluster/addresses.js';
import { checkFailureTiming } from './cluster/membership-options.js';
import { OptionsError } from './errors.js';
import { TrustedProxies } from './transport/client-address.js';

/** How a failed or timed-out hook is treated. */
export type HookFailurePolicy = 'deny' | 'allow';

/**
 * Every setting of a node. Flags, `HASHPUB_*` env vars and the JSON config file all land here
 * (bin/hashpub.ts maps them); `parseOptions()` validates.
 */
export interface Options {
  /** Address the HTTP port binds to; "0.0.0.0" or "::" = every address (then see publicUrl). @default "127.0.0.1" */
  host: string;
  /** HTTP port for clients and the REST API; 0 = any free port. @default 8080 */
  port: number;
  /**
   * Base URL advertised to peers and clients (`GET /v1/cluster`), e.g. "http://10.0.0.2:8080". null = derived:
   * host:port when host is one address; with 0.0.0.0/:: the DHT host or the machine's only external address
   * (startup fails naming this option when there are several). Never 0.0.0.0. @default null
   */
  publicUrl: string | null;
  /** IPv4 address the DHT/UDX socket (cluster traffic, UDP) binds; null = follows host (:: -> 0.0.0.0). @default null */
  dhtHost: string | null;
  /** UDP port of the DHT/UDX socket; 0 = any free port (give a fixed one for firewalls). @default 0 */
  dhtPort: number;
  /** Data directory (LevelDB, generated secrets); ":memory:" keeps state in memory only. @default "./.hashpub" */
  data: string;
  /** DHT bootstrap nodes, "HOST:PORT" on loopback or operator-given hosts; empty = run one in-process. @default [] */
  bootstrap: string[];
  /** Cluster name: nodes with the same name and secret form one cluster. @default "hashpub" */
  cluster: string;
  /** Shared secret that admits nodes to the cluster; generated and stored in the data dir if unset. @default null */
  secret: string | null;
  /** API key for the REST API; generated and stored in the data dir if unset. @default null */
  apiKey: string | null;
  /**
   * Scoped API keys: the path of a JSON file `[{"key", "scopes": ["publish"|"read"|"admin"], "name"?}]`, or that
   * JSON inline. Several keys at once (rotation); SIGHUP re-reads the file. With it, the generated key is not
   * accepted (a given apiKey still is, with every scope). @default null
   */
  apiKeys: string | null;
  /** HS256 secret for client tokens; generated and stored in the data dir if unset. @default null */
  jwtSecret: string | null;
  /** PEM file of a public key (RS256 or ES256) that verifies client tokens, besides the HS256 secret. @default null */
  jwtPublicKey: string | null;
  /** JSON Web Key Set file (`{"keys": [...]}`, RS256/ES256) that verifies client tokens; the token's `kid` picks the key. @default null */
  jwks: string | null;
  /** Accept connections without a token (user id null). @default false */
  allowAnonymous: boolean;
  /** Path of an in-process hook module (default export of hook functions). @default null */
  hooks: string | null;
  /** Base URL of the app's webhook receiver; events are POSTed to URL/{event}. @default null */
  webhook: string | null;
  /** Secret that signs webhook requests; defaults to the API key. @default null */
  webhookSecret: string | null;
  /** Events sent to the webhook; the others count as not implemented (allow / unchanged). Empty = all six. @default [] */
  webhookEvents: string[];
  /** Origins whose pages may use this node: CORS answers and WebSocket `Origin` checks; empty = any. @default [] */
  allowedOrigins: string[];
  /** PEM certificate (chain) file: with tlsKey, the port serves HTTPS and WSS instead of HTTP and WS. @default null */
  tlsCert: string | null;
  /** PEM private key file of tlsCert. @default null */
  tlsKey: string | null;
  /** Proxies (IPs, CIDR ranges) whose X-Forwarded-For names the client address; empty = never read it. @default [] */
  trustedProxies: string[];
  /** pino log level: fatal, error, warn, info, debug, trace, silent. @default "info" */
  logLevel: string;
  /** Largest REST request body, bytes. @default 65536 */
  maxBodyBytes: number;
  /** Largest WebSocket frame from a client, bytes (over it: close 1009). @default 65536 */
  maxPayloadBytes: number;
  /** A client whose unsent output passes this many bytes is disconnected. @default 1048576 */
  maxBufferedBytes: number;
  /** Largest request header block, bytes (over it: 431). @default 16384 */
  maxHeaderBytes: number;
  /** A request whose headers are not complete in this time is closed (slowloris). @default 10000 */
  headersTimeoutMs: number;
  /**
   * New client connections (WebSocket upgrades, SSE/long-poll session opens) this node admits per second,
   * burst a tenth of a second's worth; more are refused at once with 503 + Retry-After (WebSocket: close 1013), before
   * any token check or hook call. The budget is also the schedule of a herd (the Nth refused client is told to come
   * back after 1 + N/budget seconds), so too low leaves the node idle while clients wait, too high lets in more than
   * the node resumes before the client's connect timeout. bench/reconnect-storm.ts, 18,000 clients on one 2-core
   * survivor: 2500 gave p99 9.1-11.6 s over 9 runs, 1500 14.8-16.5 s with the node 40% idle, 3000 8.5 s on a quiet
   * machine but connect timeouts and 12.8 s on a busier one (README "Reconnect storm"). 0 = no budget. @default 2500
   */
  acceptPerSecond: number;
  /** A session whose connection is gone is kept this long for a resume. @default 60 */
  sessionTtlSeconds: number;
  /**
   * WebSocket keepalive: every client is pinged this often (each at its own phase) unless it sent a frame since the
   * last round, and one that has neither answered the previous ping nor sent anything when the next round comes is
   * dropped, so a dead peer is found within two to three times this. @default 25
   */
  pingSeconds: number;
  /**
   * A session whose connection dropped (no goodbye) leaves presence after this long; it comes back, with what
   * it missed, if it resumes within sessionTtlSeconds. @default 15
   */
  presenceGraceSeconds: number;
  /** Longest long-poll wait a client may ask for, seconds. @default 60 */
  maxPollSeconds: number;
  /** A hook call that takes longer fails. @default 2000 */
  hookTimeoutMs: number;
  /** Most webhook requests in flight at once; more wait in a bounded queue. @default 64 */
  hookConcurrency: number;
  /** What a failed connect/subscribe/publish hook means. @default "deny" */
  hookFailure: HookFailurePolicy;
  /** fsync every write (survives power loss, not only a crash of the process). @default false */
  fsync: boolean;
  /** Max JSON nesting depth accepted in bodies and frames. @default 64 */
  maxJsonDepth: number;
  /** Cluster heartbeat interval: every node sends one to every peer this often; 3 missed make a suspect. @default 250 */
  heartbeatMs: number;
  /**
   * How long a suspected cluster peer is given to prove it is alive once another member confirms the silence
   * (twice this unconfirmed; longer while this node itself runs late). A peer whose process is gone (its address
   * refuses a probe) is dropped at once, in about 1 s. @default 3000
   */
  failureTimeoutMs: number;
  /**
   * Copies a write needs before it is acknowledged: 2 = the channel's owner and its replica (a node without a
   * majority of the cluster refuses writes); 1 = the owner's own copy (the replica follows, best effort), so
   * writes stay available when peers are lost, at the price of losing the last writes with a crashed owner.
   * A node alone from the start always uses one copy. @default 2
   */
  minCopies: number;
  /** Join/leave events of a channel with presenceEvents on go out as one diff per push node per this interval. @default 1000 */
  presenceIntervalMs: number;
  // ---- Limits (lib/limits/; spec/protocol.md "Limits"): over one, a client gets `rate_limited`; 0 turns one off ----
  /** WebSocket frames per second per connection, sustained (a chat client sends a few). @default 20 */
  maxCommandsPerSecond: number;
  /** Frames a WebSocket connection may send at once, on top of the rate (a fresh client subscribes its channels at once). @default 200 */
  commandBurst: number;
  /** Subscriptions per connection, `$user:U` not counted (each costs memory here and at the owner). @default 200 */
  maxSubscriptionsPerConnection: number;
  /** Sessions of one user on this node (tabs and devices; a dropped one counts until it resumes or expires). @default 100 */
  maxConnectionsPerUser: number;
  /** Open WebSocket and SSE connections per source address (allows for many users behind one NAT). @default 1000 */
  maxConnectionsPerAddress: number;
  /** New connections per second per source address, sustained (each may run the token check and the connect hook). @default 20 */
  maxConnectionAttemptsPerSecond: number;
  /** New connections one source address may open at once, on top of the rate (a page reload, a NAT's clients after a restart). @default 100 */
  connectionAttemptBurst: number;
  /** Client publishes per second per channel on this node, sustained (API-key publishes are not limited). @default 100 */
  maxChannelPublishesPerSecond: number;
  /** Client publishes one channel may take at once, on top of the rate. @default 200 */
  channelPublishBurst: number;
  /** A WebSocket refused this many times within abuseWindowSeconds is closed with 4429 and its session ended. @default 50 */
  abuseRefusals: number;
  /** Window of abuseRefusals, seconds. @default 10 */
  abuseWindowSeconds: number;
  /**
   * Source addresses the per-address limits do not apply to: loopback, where a local reverse proxy or a benchmark
   * connects from. Empty = limit every address. @default ["127.0.0.1", "::1"]
   */
  limitExemptAddresses: string[];
}

export function defaultOptions(): Options {
  return {
    host: '127.0.0.1',
    port: 8080,
    publicUrl: null,
    dhtHost: null,
    dhtPort: 0,
    data: './.hashpub',
    bootstrap: [],
    cluster: 'hashpub',
    secret: null,
    apiKey: null,
    apiKeys: null,
    jwtSecret: null,
    jwtPublicKey: null,
    jwks: null,
    allowAnonymous: false,
    hooks: null,
    webhook: null,
    webhookSecret: null,
    webhookEvents: [],
    allowedOrigins: [],
    tlsCert: null,
    tlsKey: null,
    trustedProxies: [],
    logLevel: 'info',
    maxBodyBytes: 65536,
    maxPayloadBytes: 65536,
    maxBufferedBytes: 1 << 20,
    maxHeaderBytes: 16384,
    headersTimeoutMs: 10_000,
    acceptPerSecond: 2500,
    sessionTtlSeconds: 60,
    pingSeconds: 25,
    presenceGraceSeconds: 15,
    maxPollSeconds: 60,
    hookTimeoutMs: 2000,
    hookConcurrency: 64,
    hookFailure: 'deny',
    fsync: false,
    maxJsonDepth: 64,
    heartbeatMs: 250,
    failureTimeoutMs: 3000,
    minCopies: 2,
    presenceIntervalMs: 1000,
    maxCommandsPerSecond: 20,
    commandBurst: 200,
    maxSubscriptionsPerConnection: 200,
    maxConnectionsPerUser: 100,
    maxConnectionsPerAddress: 1000,
    maxConnectionAttemptsPerSecond: 20,
    connectionAttemptBurst: 100,
    maxChannelPublishesPerSecond: 100,
    channelPublishBurst: 200,
    abuseRefusals: 50,
    abuseWindowSeconds: 10,
    limitExemptAddresses: ['127.0.0.1', '::1'],
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Merges `input` over the defaults and validates. Strings are accepted for numbers, booleans and
 * lists (as flags and env vars give them). Throws OptionsError naming the bad field.
 */
export function parseOptions(input: Record<string, unknown> = {}): Options {
  const out = defaultOptions() as unknown as Record<string, unknown>;
  const defaults = defaultOptions() as unknown as Record<string, unknown>;
  for (const [key, raw] of Object.entries(input)) {
    if (raw === undefined) continue;
    if (!(key in defaults)) throw new OptionsError(key, 'unknown option');
    const def = defaults[key];
    if (typeof def === 'number') out[key] = toNumber(key, raw);
    else if (typeof def === 'boolean') out[key] = toBool(key, raw);
    else if (Array.isArray(def)) out[key] = toList(key, raw);
    else if (raw === null) out[key] = null;
    else if (typeof raw === 'string') out[key] = raw;
    else throw new OptionsError(key, `expected a string, got ${typeof raw}`);
  }
  const o = out as unknown as Options;
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new OptionsError('port', 'must be 0-65535');
  if (!Number.isInteger(o.dhtPort) || o.dhtPort < 0 || o.dhtPort > 65535) throw new OptionsError('dhtPort', 'must be 0-65535');
  if (o.host.trim() === '') throw new OptionsError('host', 'must be an address such as 127.0.0.1, 10.0.0.2 or 0.0.0.0');
  if (o.dhtHost !== null && !net.isIPv4(o.dhtHost)) {
    throw new OptionsError('dhtHost', `must be an IPv4 address (0.0.0.0 = every address), got ${JSON.stringify(o.dhtHost)}`);
  }
  if (o.publicUrl !== null) {
    try { o.publicUrl = checkPublicUrl(o.publicUrl); } catch (err) { throw new OptionsError('publicUrl', (err as Error).message); }
  }
  if (!LOG_LEVELS.includes(o.logLevel)) throw new OptionsError('logLevel', `must be one of ${LOG_LEVELS.join(', ')}`);
  if (o.hookFailure !== 'deny' && o.hookFailure !== 'allow') throw new OptionsError('hookFailure', 'must be deny or allow');
  for (const b of o.bootstrap) {
    if (!/^[^:\s]+:\d{1,5}$/.test(b)) throw new OptionsError('bootstrap', `"${b}" is not HOST:PORT`);
    if (isUnspecified(b.slice(0, b.lastIndexOf(':')))) {
      throw new OptionsError('bootstrap', `"${b}": 0.0.0.0 is not an address to dial; give the bootstrap's own address`);
    }
  }
  for (const k of ['maxBodyBytes', 'maxPayloadBytes', 'maxBufferedBytes', 'maxHeaderBytes', 'headersTimeoutMs',
    'sessionTtlSeconds', 'pingSeconds', 'presenceGraceSeconds', 'maxPollSeconds', 'hookTimeoutMs', 'hookConcurrency', 'maxJsonDepth', 'heartbeatMs', 'failureTimeoutMs', 'presenceIntervalMs'] as const) {
    if (!(o[k] > 0)) throw new OptionsError(k, 'must be a positive number');
  }
  for (const k of ['maxCommandsPerSecond', 'commandBurst', 'maxSubscriptionsPerConnection', 'maxConnectionsPerUser', 'maxConnectionsPerAddress',
    'maxConnectionAttemptsPerSecond', 'connectionAttemptBurst', 'maxChannelPublishesPerSecond', 'channelPublishBurst', 'abuseRefusals'] as const) {
    if (!(o[k] >= 0)) throw new OptionsError(k, 'must be a number >= 0 (0 = no limit)');
  }
  if (!(o.abuseWindowSeconds > 0)) throw new OptionsError('abuseWindowSeconds', 'must be a positive number');
  for (const a of o.limitExemptAddresses) {
    if (net.isIP(a) === 0) throw new OptionsError('limitExemptAddresses', `"${a}" is not an IP address`);
  }
  if (!(o.acceptPerSecond >= 0)) throw new OptionsError('acceptPerSecond', 'must be 0 (no budget) or a positive number');
  checkFailureTiming(o.heartbeatMs, o.failureTimeoutMs);
  if (o.minCopies !== 1 && o.minCopies !== 2) throw new OptionsError('minCopies', 'must be 1 or 2');
  const events = ['connect', 'subscribe', 'publish', 'deliver', 'unsubscribe', 'disconnect'];
  for (const e of o.webhookEvents) {
    if (!events.includes(e)) throw new OptionsError('webhookEvents', `"${e}" is not one of ${events.join(', ')}`);
  }
  if ((o.tlsCert === null) !== (o.tlsKey === null)) {
    throw new OptionsError(o.tlsCert === null ? 'tlsCert' : 'tlsKey', 'TLS needs both --tls-cert and --tls-key (PEM files)');
  }
  new TrustedProxies(o.trustedProxies); // throws naming trustedProxies
  if (o.webhook !== null) {
    try { new URL(o.webhook); } catch { throw new OptionsError('webhook', `"${o.webhook}" is not a URL`); }
  }
  return o;
}

function toNumber(key: string, v: unknown): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new OptionsError(key, `expected a number, got ${JSON.stringify(v)}`);
  return n;
}

function toBool(key: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1' || v === '') return true;
  if (v === 'false' || v === '0') return false;
  throw new OptionsError(key, `expected true or false, got ${JSON.stringify(v)}`);
}

function toList(key: string, v: unknown): string[] {
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw new OptionsError(key, 'expected a comma-separated list');
}
