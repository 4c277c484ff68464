import { OptionsError } from '../errors.js';
import { parseOptions } from '../options.js';
import { CliError, positiveInt, UsageError, type ParsedArgs } from './args.js';
import { stopOnSignals } from './signals.js';

/** First line `hashpub demo` prints once it is ready (tests and benchmarks parse it). */
export const DEMO_READY_LINE = /^hashpub demo ready at (\S+)/m;

/** `hashpub demo`: the demo app (lib/demo/) on N in-memory nodes in this process; prints which URLs to open. */
export async function runDemo(args: ParsedArgs): Promise<void> {
  const v = args.values;
  const nodes = positiveInt('nodes', v.nodes, 1);
  if (nodes > 9) throw new UsageError(`bad value for --nodes: at most 9 in one process, got ${nodes}`);
  const port = v.port === '0' ? 0 : positiveInt('port', v.port, 8080);
  if (port + nodes - 1 > 65535) throw new UsageError(`bad value for --port: ports ${port}-${port + nodes - 1} pass 65535`);
  const host = typeof v.host === 'string' ? v.host : '127.0.0.1';
  const logLevel = typeof v['log-level'] === 'string' ? v['log-level'] : 'warn';
  try {
    parseOptions({ logLevel, host });
  } catch (err) {
    if (err instanceof OptionsError) throw new UsageError(`bad value for --${err.field === 'logLevel' ? 'log-level' : err.field}: ${err.message}`);
    throw err;
  }
  const { startDemo } = await import('../demo/demo-app.js');
  let demo: Awaited<ReturnType<typeof startDemo>>;
  try {
    demo = await startDemo({ nodes, port, host, logLevel });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || /in use/.test(e.message)) throw new CliError(`a port from ${port} is in use: pass another --port (or --port 0)`);
    throw new CliError(`could not start the demo: ${e.message}`);
  }
  stopOnSignals('demo', () => demo.stop());
  const [first] = demo.urls;
  const lines = [
    `hashpub demo ready at ${first}`,
    '',
    `  chat       ${first}/demo/chat     (open it in two windows; try another language, and a moderator's /kick NAME)`,
    `  game       ${first}/demo/game     (arrows or WASD to fly, space to fire)`,
    `  dashboard  ${first}/dashboard     (API key below)`,
    '',
    `  nodes      ${demo.urls.join('  ')}`,
    `  API key    ${demo.apiKey}`,
    '',
    'Demo mode: POST /demo/token signs a token for any name, so anyone who reaches these ports can join.',
    'Everything is in memory and goes away with Ctrl-C.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
}
