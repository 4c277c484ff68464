import { defaultOptions, type Options } from '../options.js';
import { envName, kebab, type CommandSpec, type FlagSpec } from './args.js';
import { runKick, runPublish, runStatus } from './client.js';
import { runCluster } from './cluster.js';
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
  apiKey: ['KEY', 'API key for the REST API (generated if unset)'],
  jwtSecret: ['S', 'HS256 secret for client tokens (generated if unset)'],
  allowAnonymous: ['', 'accept client connections without a token'],
  hooks: ['FILE', 'in-process hook module (default export of hook functions)'],
  webhook: ['URL', 'webhook receiver; events are POSTed to URL/{event}'],
  webhookSecret: ['S', 'secret that signs webhook requests (default: the API key)'],
  webhookEvents: ['E1,E2', 'events sent to the webhook (connect,subscribe,publish,deliver,unsubscribe,disconnect); none = all'],
  allowedOrigins: ['O1,O2', 'origins whose pages may use this node (CORS and WebSocket Origin); none = any'],
  logLevel: ['LEVEL', 'fatal, error, warn, info, debug, trace or silent'],
  maxBodyBytes: ['N', 'largest REST request body, bytes'],
  maxPayloadBytes: ['N', 'largest WebSocket frame from a client, bytes'],
  maxBufferedBytes: ['N', 'disconnect a client whose unsent output passes this many bytes'],
  maxHeaderBytes: ['N', 'largest request header block, bytes'],
  headersTimeoutMs: ['MS', 'close a request whose headers take longer (slowloris)'],
  acceptPerSecond: ['N', 'new client connections admitted per second (burst: 0.1 s worth); past it 503 + Retry-After or close 1013 at once, before any token check or hook: a reconnect storm waits its turn instead of stalling the node (0 = none; README)'],
  sessionTtlSeconds: ['SECONDS', 'keep a disconnected session this long for a resume'],
  presenceGraceSeconds: ['SECONDS', 'a dropped connection (no goodbye) leaves presence after this long'],
  maxPollSeconds: ['SECONDS', 'longest long-poll wait a client may ask for'],
  hookTimeoutMs: ['MS', 'a hook call that takes longer fails'],
  hookConcurrency: ['N', 'most webhook requests in flight at once'],
  hookFailure: ['deny|allow', 'what a failed connect/subscribe/publish hook means'],
  fsync: ['', 'fsync every write (survives power loss)'],
  maxJsonDepth: ['N', 'max JSON nesting depth of bodies and frames'],
  heartbeatMs: ['MS', 'cluster heartbeat interval; a peer that misses 3 in a row is suspected'],
  failureTimeoutMs: ['MS', 'a suspected peer silent this much longer is dropped (once confirmed; 2x if not)'],
  presenceIntervalMs: ['MS', 'join/leave events of a channel with presenceEvents on go out as one batched diff per node per interval'],
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
      'process is gone (its UDP port refuses a probe, about 1 s after a crash), else after --failure-timeout-ms of',
      'silence confirmed by another member. A node that was only busy (a stalled event loop) stays in the cluster.',
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
      flag('nodes', 'N', 'number of nodes', { default: '3' }),
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
