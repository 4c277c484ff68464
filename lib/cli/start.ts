import { isLoopback } from '../cluster/addresses.js';
import { OptionsError } from '../errors.js';
import type { HashpubNode } from '../node-api.js';
import type { Options } from '../options.js';
import { CliError, kebab, positiveInt, readSecrets, secretsPath, startOptions, UsageError, type ParsedArgs } from './args.js';
import { stopOnSignals } from './signals.js';

/** First line `hashpub start` prints once the node is ready; `hashpub cluster` parses it. */
export const READY_LINE = /^hashpub node ready at (\S+)/m;

/** `hashpub start`: flags/env/config -> parseOptions() -> createNode().start(), print how to use it, stop on signals. */
export async function runStart(args: ParsedArgs): Promise<void> {
  const options = startOptions(args);
  // Imported here, not at the top: `hashpub token`/`publish` should not load storage and the DHT.
  const { createNode } = await import('../index.js');
  let node: HashpubNode;
  try {
    node = createNode(options);
  } catch (err) {
    throw asStartError(err, options);
  }
  const started = node.start();
  // With --api-keys, SIGHUP re-reads the keys (as nginx reloads its config) instead of stopping the node.
  const reload = options.apiKeys !== null;
  stopOnSignals('node', async () => {
    await started.catch(() => {});
    await node.stop();
  }, 15_000, reload ? ['SIGINT', 'SIGTERM'] : undefined);
  if (reload) {
    process.on('SIGHUP', () => {
      node.reloadApiKeys().then(
        (n) => process.stderr.write(`SIGHUP: ${n} API keys in use\n`),
        (err: unknown) => process.stderr.write(`SIGHUP: API keys not reloaded, the old ones stay: ${(err as Error).message}\n`));
    });
  }
  try {
    await started;
  } catch (err) {
    await Promise.race([node.stop().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
    throw asStartError(err, options);
  }
  process.stdout.write(banner(node, options));
}

function banner(node: HashpubNode, o: Options): string {
  const stored = o.data === ':memory:' ? 'not stored: --data :memory:' : `stored in ${secretsPath(o.data)}`;
  const generated = (k: 'apiKey' | 'jwtSecret' | 'secret') => node.generated.includes(k);
  const origin = (given: string | null, flag: string) =>
    given !== null ? `given (--${flag})` : `from ${secretsPath(o.data)}`;
  const lines = [`hashpub node ready at ${node.url}`, `  node id      ${node.id}`];
  if (node.bootstrap !== null) {
    const secret = o.secret ?? (generated('secret') && o.data !== ':memory:' ? readSecrets(o.data).secret : undefined);
    const port = o.port === 0 ? 0 : o.port + 1;
    // A bootstrap on a network address is joined from other machines; one on loopback from this one.
    const local = node.bootstrap.split(',').every((b) => isLoopback(b.slice(0, b.lastIndexOf(':'))));
    const where = local ? `--port ${port} --data ./.hashpub-2` : '--host <that machine\'s address>';
    lines.push(
      `  bootstrap    ${node.bootstrap}`,
      `  join it:     hashpub start ${where} --bootstrap ${node.bootstrap} --secret ${secret ?? `<cluster secret from ${secretsPath(o.data)}>`}`,
    );
  }
  // With a public key or key set and no --jwt-secret, HS256 tokens are refused: the secret is not worth showing.
  const keyed = (o.jwtPublicKey !== null || o.jwks !== null) && o.jwtSecret === null;
  const keys = [o.jwtPublicKey !== null ? `--jwt-public-key ${o.jwtPublicKey}` : '', o.jwks !== null ? `--jwks ${o.jwks}` : ''].filter(Boolean).join(', ');
  lines.push(
    o.apiKeys !== null && o.apiKey === null
      ? `  API keys     from --api-keys (the generated key is not accepted; SIGHUP re-reads them)`
      : `  API key      ${generated('apiKey') ? `${node.apiKey}  (generated, ${stored})` : origin(o.apiKey, 'api-key')}`,
    keyed ? `  JWT          verified with ${keys} (RS256/ES256; HS256 off without --jwt-secret)`
      : `  JWT secret   ${generated('jwtSecret') ? `${node.jwtSecret}  (generated, ${stored})` : origin(o.jwtSecret, 'jwt-secret')}`,
    '',
    'Publish a message:',
    `  curl -X POST -H "Authorization: Bearer ${generated('apiKey') && o.apiKeys === null ? node.apiKey : '<api key>'}" -H 'content-type: application/json' -d '{"data":{"hello":"world"}}' ${node.url}/v1/channels/news/messages`,
    'Make a client token:',
    keyed ? '  sign it in your app with the private key (RS256/ES256, claims sub and exp)'
      : `  hashpub token --user alice --jwt-secret ${generated('jwtSecret') ? node.jwtSecret : '<jwt secret>'}`,
    '',
  );
  return `${lines.join('\n')}\n`;
}

/** Codes found along an error's cause chain (and inside AggregateErrors). */
function errorCodes(err: unknown, depth = 0): string[] {
  if (typeof err !== 'object' || err === null || depth > 8) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === 'string' ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => errorCodes(x, depth + 1)) : [];
  return [...own, ...errorCodes(e.cause, depth + 1), ...nested];
}

function asStartError(err: unknown, o: Options): Error {
  if (err instanceof OptionsError) {
    const why = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
    // An option left unset whose derived value does not work (e.g. --public-url with --host 0.0.0.0): say what is needed.
    const unset = (o as unknown as Record<string, unknown>)[err.field] === null;
    return new UsageError(unset ? `cannot start: ${why}` : `bad value for --${kebab(err.field)}: ${why}`);
  }
  const codes = errorCodes(err);
  const msg = err instanceof Error ? err.message : String(err);
  if (codes.includes('EADDRINUSE')) {
    return new CliError(`port ${o.port} on ${o.host} is already in use: pick another with --port (e.g. --port ${o.port + 1}, or --port 0 for any free port) or stop the process using it`);
  }
  if (codes.includes('EACCES')) {
    return new CliError(`not allowed to listen on ${o.host}:${o.port}: use a port above 1023 (--port) or another --host`);
  }
  if (codes.includes('EADDRNOTAVAIL')) {
    return new CliError(`cannot listen on ${o.host}: no such local address; pass another --host (e.g. 127.0.0.1)`);
  }
  if (codes.includes('LEVEL_LOCKED')) {
    return new CliError(`data dir ${o.data} is in use by another hashpub process: stop it or pass another --data`);
  }
  return new CliError(`could not start: ${msg}`);
}

/** `hashpub bootstrap`: runs a DHT bootstrap node until a signal. */
export async function runBootstrap(args: ParsedArgs): Promise<void> {
  const host = typeof args.values.host === 'string' ? args.values.host : '127.0.0.1';
  const publicHost = typeof args.values['public-host'] === 'string' ? args.values['public-host'] : null;
  const portFlag = args.values.port;
  const port = portFlag === '0' ? 0 : positiveInt('port', portFlag, 49737);
  if (port > 65535) throw new UsageError(`bad value for --port: must be 0-65535, got ${port}`);
  const { startBootstrap } = await import('../cluster/bootstrap.js');
  let boot: Awaited<ReturnType<typeof startBootstrap>>;
  try {
    boot = await startBootstrap(host, port, { publicHost });
  } catch (err) {
    if (err instanceof OptionsError) throw new UsageError(`bad value for --${kebab(err.field.replace('bootstrap.', ''))}: ${err.message.replace(/^\S+: /, '')}`);
    if (errorCodes(err).includes('EADDRINUSE')) {
      throw new CliError(`port ${port} on ${host} is already in use: pick another with --port (or --port 0)`);
    }
    if (errorCodes(err).includes('EADDRNOTAVAIL')) {
      throw new CliError(`cannot listen on ${host}: no such local address; pass another --host (e.g. 127.0.0.1)`);
    }
    throw new CliError(`could not start the bootstrap node: ${(err as Error)?.message ?? String(err)}`);
  }
  stopOnSignals('bootstrap node', () => boot.close());
  const addr = `${boot.host}:${boot.port}`;
  const bound = boot.bindHost !== boot.host ? ` (bound to ${boot.bindHost}:${boot.port})` : '';
  process.stdout.write(`bootstrap listening on ${addr}${bound}\n  nodes join with: hashpub start --bootstrap ${addr}\n`);
}
