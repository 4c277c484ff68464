import { defaultOptions, type Options } from '../options.js';
import { envName, kebab, type CommandSpec, type FlagSpec } from './args.js';
import { runKick, runPublish, runStatus } from './client.js';
import { runCluster } from './cluster.js';
import { runDemo } from './demo.js';
import { runBootstrap, runStart } from './start.js';
import { runToken } from './token.js';

/** Help line and placeholder of every Options field; a Record so the flag list follows lib/options.ts. */
const OPTION_HELP: Record<keyof Options, [arg: string, help: string]> = {
  host: ['HOST', 'address the HTTP port binds to (0.0.0.0 or :: = every address); the DHT socket follows it'],
  port: ['PORT', 'HTTP port for clients and the REST API (0 = any free port)'],
  publicUrl: ['URL', 'URL advertised to peers and clients (derived from --host when it is one address; never 0.0.0.0)'],
  dhtHost: ['HOST', 'IPv4 address of the DHT/UDX socket, cluster traffic over UDP (default: follows --host)'],
  dhtPort: ['PORT', 'UDP port of the DHT/UDX socket (0 = any free port; fix it for firewalls)'],
  data: ['DIR', 'data directory (LevelDB, generated secrets); ":memory:" keeps nothing'],
  bootstrap: ['HOST:PORT[,...]', 'DHT bootstrap nodes to join; none = run one in-process'],
  cluster: ['NAME', 'cluster name: nodes with the same name and secret form one cluster'],
  secret: ['S', 'shared secret that admits nodes to the cluster (generated if unset)'],
  apiKey: ['KEY', 'API key for the REST API, every scope (generated if unset)'],
  apiKeys: ['FILE', 'scoped API keys: JSON [{"key","scopes":["publish"|"read"|"admin"]}] file (or inline); SIGHUP re-reads it'],
  jwtSecret: ['S', 'HS256 secret for client tokens (generated if unset)'],
  jwtPublicKey: ['FILE', 'PEM public key (RS256/ES256) that verifies client tokens; HS256 then only with an explicit --jwt-secret'],
  jwks: ['FILE', 'JWKS file ({"keys":[...]}, RS256/ES256) that verifies client tokens; the token\'s kid picks the key'],
  allowAnonymous: ['', 'accept client connections without a token'],
  hooks: ['FILE', 'in-process hook module (default export of hook functions)'],
  webhook: ['URL', 'webhook receiver; events are POSTed to URL/{event}'],
  webhookSecret: ['S', 'secret that signs webhook requests (default: the API key)'],
  webhookEvents: ['E1,E2', 'events sent to the webhook (connect,subscribe,publish,deliver,unsubscribe,disconnect); none = all'],
  allowedOrigins: ['O1,O2', 'origins whose pages may use this node (CORS and WebSocket Origin); none = any'],
  tlsCert: ['FILE', 'PEM certificate (chain): with --tls-key the port serves HTTPS and WSS'],
  tlsKey: ['FILE', 'PEM private key of --tls-cert'],
  trustedProxies: ['IP,CIDR', 'reverse proxies whose X-Forwarded-For names the client address; none = never read it'],
  logLevel: ['LEVEL', 'fatal, error, warn, info, debug, trace or silent'],
  maxBodyBytes: ['N', 'largest REST request body, bytes'],
  maxPayloadBytes: ['N', 'largest WebSocket frame from a client, bytes'],
  maxBufferedBytes: ['N', 'disconnect a client whose unsent output passes this many bytes'],
  maxHeaderBytes: ['N', 'largest request header block, bytes'],
  headersTimeoutMs: ['MS', 'close a request whose headers take longer (slowloris)'],
  acceptPerSecond: ['N', 'new client connections admitted per second (burst: 0.1 s worth); past it 503 + Retry-After or close 1013 at once, before any token check or hook: a reconnect storm waits its turn instead of stalling the node (0 = none; README)'],
  sessionTtlSeconds: ['SECONDS', 'keep a disconnected session this long for a resume'],
  pingSeconds: ['SECONDS', 'ping every WebSocket client this often unless it sent a frame since the last round; one that has not answered the last ping when the next is due is dropped'],
  presenceGraceSeconds: ['SECONDS', 'a dropped connection (no goodbye) leaves presence after this long'],
  maxPollSeconds: ['SECONDS', 'longest long-poll wait a client may ask for'],
  hookTimeoutMs: ['MS', 'a hook call that takes longer fails'],
  hookConcurrency: ['N', 'most webhook requests in flight at once'],
  hookFailure: ['deny|allow', 'what a failed connect/subscribe/publish hook means'],
  fsync: ['', 'fsync every write (survives power loss)'],
  maxJsonDepth: ['N', 'max JSON nesting depth of bodies and frames'],
  heartbeatMs: ['MS', 'cluster heartbeat interval (beats go to at most 16 peers per interval, in turn); a peer that misses 3 of its beats is suspected'],
  failureTimeoutMs: ['MS', 'a suspected peer silent this much longer is dropped (once confirmed; 2x if not)'],
  presenceIntervalMs: ['MS', 'join/leave events of a channel with presenceEvents on go out as one batched diff per node per interval'],
  maxCommandsPerSecond: ['N', 'limit: WebSocket frames per second per connection, sustained (a chat client sends a few; 0 = off)'],
  commandBurst: ['N', 'limit: frames a connection may send at once on top of the rate (a fresh client subscribes all its channels)'],
  maxSubscriptionsPerConnection: ['N', 'limit: subscriptions per connection ($user:U not counted); each costs memory here and at the owner'],
  maxConnectionsPerUser: ['N', 'limit: sessions of one user on this node (tabs, devices; a dropped one counts until it expires)'],
  maxConnectionsPerAddress: ['N', 'limit: open WebSocket/SSE connections per source address (high: many users share a NAT)'],
  maxConnectionAttemptsPerSecond: ['N', 'limit: new connections per second per source address (each may verify a token and run the connect hook)'],
  connectionAttemptBurst: ['N', 'limit: new connections one address may open at once on top of the rate (page reloads, a NAT after a restart)'],
  maxChannelPublishesPerSecond: ['N', 'limit: client publishes per second per channel on this node (API-key publishes are not limited)'],
  channelPublishBurst: ['N', 'limit: client publishes a channel may take at once on top of the rate'],
  abuseRefusals: ['N', 'a WebSocket refused this many times within --abuse-window-seconds is closed (4429) and its session ended'],
  abuseWindowSeconds: ['SECONDS', 'window of --abuse-refusals'],
  limitExemptAddresses: ['A1,A2', 'source addresses the per-address limits skip (loopback: a local proxy, benchmarks); "" = none'],
  minCopies: ['1|2', 'copies a write needs before it is acknowledged: 2 = owner + replica (a node without a majority refuses writes), 1 = owner only (writes stay available, the last ones can be lost with a crash)'],
};

function showDefault(v: unknown): string | undefined {
  if (v === null || (Array.isArray(v) && v.length === 0)) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

const optionFlags: FlagSpec[] = (Object.keys(OPTION_HELP) as (keyof Options)[]).map((field) => {
  const def = defaultOptions()[field];
  const name = kebab(field);
  const [arg, help] = OPTION_HELP[field];
  const d = showDefault(def);
  return {
    name, help, env: envName(name),
    type: typeof def === 'boolean' ? 'boolean' : 'string',
    ...(arg ? { arg } : {}),
    ...(d !== undefined ? { default: d } : {}),
  };
});

const flag = (name: string, arg: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec =>
  ({ name, type: 'string', arg, help, ...extra });

const URL_FLAG = flag('url', 'URL', 'base URL of a hashpub node', { default: 'http://127.0.0.1:8080', env: 'HASHPUB_URL' });
const API_KEY_FLAG = flag('api-key', 'KEY', 'REST API key (else read from <data>/secrets.json)', { env: 'HASHPUB_API_KEY' });
const DATA_FLAG = flag('data', 'DIR', 'data dir of a local node, to read secrets.json from', { default: './.hashpub', env: 'HASHPUB_DATA' });
const CLIENT_NOTE = 'Without --api-key, the key is read from <data>/secrets.json, so this works next to `hashpub start`.';

/** Every command of `hashpub`, in help order. */
export const COMMANDS: CommandSpec[] = [
  {
    name: 'start', summary: 'run a node (one node on 127.0.0.1:8080 with its own DHT bootstrap by default)',
    positionals: [],
    flags: [...optionFlags, flag('config', 'FILE', 'JSON file of options, keys as in lib/options.ts ({"port": 9000})', { env: 'HASHPUB_CONFIG' })],
    notes: [
      'Precedence: flags > HASHPUB_* env vars > --config file > defaults. Boolean flags take --no-<flag> to turn off.',
      'API key, JWT secret and cluster secret are generated on first start and stored in <data>/secrets.json.',
      'Failure detection: a peer that misses 3 heartbeats is suspected and may refute; it is dropped at once if its',
      'process is gone (its UDP port refuses a probe, about 1 s after a crash; a suspicion from another member makes',
      'every node probe at once), else after --failure-timeout-ms of silence confirmed by another member. A node that',
      'was only busy (a stalled event loop) stays in the cluster. With more than 16 peers each gets a beat every',
      'ceil(peers / 16) intervals, so detection slows as the cluster grows (54 nodes: about 3 s at the default).',
      'Limits (--max-*, --*-burst): a client over one gets rate_limited before any work is done for it (HTTP 429 with',
      'Retry-After; on a WebSocket an error frame); a WebSocket refused --abuse-refusals times within --abuse-window-seconds',
      'is closed with 4429. 0 turns a limit off; loopback skips the per-address ones. README "Limits" explains each default.',
      'With --api-keys, SIGHUP re-reads the keys file instead of stopping the node.',
    ],
    run: runStart,
  },
  {
    name: 'bootstrap', summary: 'run a DHT bootstrap node only (for nodes started with --bootstrap)',
    positionals: [],
    flags: [
      flag('host', 'HOST', 'IPv4 address to bind (0.0.0.0 = every address)', { default: '127.0.0.1' }),
      flag('port', 'PORT', 'UDP port (0 = any free port)', { default: '49737' }),
      flag('public-host', 'HOST', 'IPv4 address nodes dial, with --host 0.0.0.0 (default: the machine\'s only external address)'),
    ],
    notes: [
      'A bootstrap is known by one address (its DHT identity is derived from it): nodes pass that HOST:PORT as',
      '--bootstrap. Bound to 0.0.0.0 it advertises --public-host, else the machine\'s only non-loopback IPv4',
      'address (startup fails when there are several). Open UDP PORT to every node.',
    ],
    run: runBootstrap,
  },
  {
    name: 'cluster', summary: 'development cluster: a bootstrap plus N nodes on loopback, as child processes',
    positionals: [],
    flags: [
      flag('nodes', 'N', 'number of nodes (at most 64; 8 boot at a time, with a progress line, then a summary with their RSS)', { default: '3' }),
      flag('port', 'PORT', 'HTTP port of the first node; node i gets PORT+i-1 (0 = any free ports)', { default: '8080' }),
      flag('data', 'DIR', 'base data dir; node i uses DIR/node-i, shared secrets in DIR/secrets.json', { default: './.hashpub-cluster' }),
      flag('api-key', 'KEY', 'API key of every node (generated once if unset)', { env: 'HASHPUB_API_KEY' }),
      flag('jwt-secret', 'S', 'JWT secret of every node (generated once if unset)', { env: 'HASHPUB_JWT_SECRET' }),
      { name: 'allow-anonymous', type: 'boolean', help: 'nodes accept clients without a token', env: 'HASHPUB_ALLOW_ANONYMOUS' },
      flag('log-level', 'LEVEL', 'log level of the nodes', { default: 'warn', env: 'HASHPUB_LOG_LEVEL' }),
      flag('timeout', 'SECONDS', 'give up when the cluster has not formed by then', { default: '60' }),
    ],
    run: runCluster,
  },
  {
    name: 'demo', summary: 'run the demo app: a multi-room chat and a multiplayer game on N in-memory nodes',
    positionals: [],
    flags: [
      flag('nodes', 'N', 'nodes to start in this process (more than 1 = a cluster)', { default: '1' }),
      flag('port', 'PORT', 'HTTP port of the first node; node i gets PORT+i-1 (0 = any free ports)', { default: '8080' }),
      flag('host', 'HOST', 'address the nodes bind and advertise', { default: '127.0.0.1' }),
      flag('log-level', 'LEVEL', 'log level of the nodes', { default: 'warn' }),
    ],
    notes: [
      'Serves /demo/chat (pick a name, a language and a role; rooms with live presence and history; the private',
      'room is for moderators; a moderator types /kick NAME or /ban NAME SECONDS; every reader sees the others\'',
      'messages translated into their language by the deliver hook) and /demo/game (a server-authoritative',
      'Asteroids-like game at 20 ticks/s; each player receives only what is near their ship), and /dashboard.',
      'Demo mode only: POST /demo/token signs a client token for any name (a real app signs tokens on its own',
      'server); GET /demo/rooms gives the rooms\' positions. Nothing is stored; the banner says which URL to open.',
    ],
    run: runDemo,
  },
  {
    name: 'publish', summary: 'publish a JSON message on a channel through the REST API',
    positionals: ['CHANNEL', 'JSON'],
    flags: [URL_FLAG, API_KEY_FLAG, flag('id', 'ID', 'idempotency key: a retry with the same id is applied once'), DATA_FLAG],
    notes: [CLIENT_NOTE, 'Example: hashpub publish news \'{"hello":"world"}\''],
    run: runPublish,
  },
  {
    name: 'token', summary: 'print a signed client token (JWT, HS256) on one line',
    positionals: [],
    flags: [
      flag('user', 'ID', 'user id (the "sub" claim); required'),
      flag('channels', 'a,b', 'private channels the user may subscribe to'),
      flag('publish', 'a,b', 'channels the user may publish to'),
      flag('ttl', 'SECONDS', 'lifetime of the token', { default: '3600' }),
      flag('jwt-secret', 'S', 'HS256 secret (else read from <data>/secrets.json)', { env: 'HASHPUB_JWT_SECRET' }),
      flag('claim', 'KEY=VALUE', 'extra claim passed to hooks (repeatable; VALUE parsed as JSON if it can be)', { multiple: true }),
      DATA_FLAG,
    ],
    notes: ['Example: TOKEN=$(hashpub token --user alice --channels news)'],
    run: runToken,
  },
  {
    name: 'status', summary: 'show the health and cluster members of a node',
    positionals: [],
    flags: [URL_FLAG, API_KEY_FLAG, DATA_FLAG],
    notes: [CLIENT_NOTE],
    run: runStatus,
  },
  {
    name: 'kick', summary: 'disconnect a user from a channel, optionally banning them',
    positionals: ['CHANNEL', 'USER'],
    flags: [
      flag('ban', 'SECONDS', 'also ban the user from the channel for this long'),
      flag('reason', 'TEXT', 'reason sent to the kicked connections'),
      URL_FLAG, API_KEY_FLAG, DATA_FLAG,
    ],
    notes: [CLIENT_NOTE],
    run: runKick,
  },
];
