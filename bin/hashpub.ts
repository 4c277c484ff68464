#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `hashpub` command: picks the command, parses its flags (lib/cli/), and runs it. Usage errors exit 2,
 * runtime failures exit 1; long-running commands (start, bootstrap, cluster) exit on signals.
 */
import { parseCommand, type CommandSpec } from '../lib/cli/args.js';
import { COMMANDS } from '../lib/cli/commands.js';
import { commandHelp, mainHelp, version } from '../lib/cli/help.js';

function fail(cmd: CommandSpec | null, message: string, exitCode: number): never {
  const where = cmd ? `hashpub ${cmd.name}` : 'hashpub';
  // Usage problems name the command and point at its help; runtime failures are already full sentences.
  process.stderr.write(exitCode === 2 ? `${where}: ${message} (see \`${where} --help\`)\n` : `${message}\n`);
  process.exit(exitCode);
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined) fail(null, 'missing command: start, bootstrap, cluster, demo, publish, token, status or kick', 2);
  if (name === '--help' || name === '-h') { process.stdout.write(mainHelp(COMMANDS)); return; }
  if (name === '--version' || name === '-v') { process.stdout.write(`${version()}\n`); return; }
  if (name === 'help') {
    const target = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && !target) fail(null, `unknown command "${rest[0]}"`, 2);
    process.stdout.write(target ? commandHelp(target) : mainHelp(COMMANDS));
    return;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) fail(null, name.startsWith('-') ? `unknown flag ${name} before the command` : `unknown command "${name}"`, 2);
  try {
    const args = parseCommand(cmd, rest);
    if (args.help) { process.stdout.write(commandHelp(cmd)); return; }
    await cmd.run(args);
  } catch (err) {
    const e = err as { exitCode?: unknown; message?: string; name?: string };
    if (typeof e.exitCode === 'number' && (e.name === 'UsageError' || e.name === 'CliError')) fail(cmd, e.message ?? '', e.exitCode);
    fail(cmd, `unexpected error: ${(err as Error)?.stack ?? String(err)}`, 1);
  }
}

await main(process.argv.slice(2));
