import { readFileSync } from 'node:fs';
import type { CommandSpec, FlagSpec } from './args.js';

/** The package version (from package.json next to dist/). */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function synopsis(cmd: CommandSpec): string {
  return ['hashpub', cmd.name, ...cmd.positionals, '[flags]'].join(' ');
}

function flagLabel(f: FlagSpec): string {
  return `--${f.name}${f.arg ? ` ${f.arg}` : ''}`;
}

function flagLines(flags: FlagSpec[]): string[] {
  const width = Math.min(34, Math.max(...flags.map((f) => flagLabel(f).length)) + 2);
  return flags.map((f) => {
    const extra = [f.default !== undefined ? `default ${f.default}` : '', f.env ? `env ${f.env}` : ''].filter(Boolean);
    const label = flagLabel(f);
    const pad = label.length < width ? ' '.repeat(width - label.length) : `\n${' '.repeat(width + 2)}`;
    const line = `  ${label}${pad}${f.help}`;
    if (!extra.length) return line;
    const tail = `(${extra.join(', ')})`;
    return line.length + tail.length < 110 ? `${line} ${tail}` : `${line}\n${' '.repeat(width + 2)}${tail}`;
  });
}

/** Help of one command: synopsis, every flag with its default and env var, notes. */
export function commandHelp(cmd: CommandSpec): string {
  const lines = [
    `Usage: ${synopsis(cmd)}`,
    '',
    `${cmd.summary[0]!.toUpperCase()}${cmd.summary.slice(1)}.`,
    '',
    'Flags:',
    ...flagLines([...cmd.flags, { name: 'help', type: 'boolean', help: 'show this help (also -h)' }]),
  ];
  if (cmd.notes?.length) lines.push('', ...cmd.notes);
  return `${lines.join('\n')}\n`;
}

/** Lays out `head` followed by `words`, wrapped at 100 columns with continuation lines indented. */
function wrap(head: string, words: string[]): string[] {
  const out: string[] = [];
  let line = `  ${head}`;
  for (const w of words) {
    if (line.length + 1 + w.length > 100 && line.trim() !== head) {
      out.push(line);
      line = `      ${w}`;
    } else {
      line += ` ${w}`;
    }
  }
  out.push(line);
  return out;
}

/** Help of `hashpub`: every command with its flags (defaults and env vars in each command's --help). */
export function mainHelp(commands: CommandSpec[]): string {
  const lines = [
    `hashpub ${version()}: real-time publish/subscribe over a DHT cluster`,
    '',
    'Usage: hashpub <command> [flags]',
    '',
    'Commands:',
  ];
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  for (const c of commands) lines.push(`  ${c.name.padEnd(width)}${c.summary}`);
  lines.push('', 'Flags of each command:');
  for (const c of commands) {
    const flags = c.flags.map((f) => {
      const shown = `${flagLabel(f)}${f.default !== undefined ? `=${f.default}` : ''}`;
      return `[${shown}${f.env ? ` $${f.env}` : ''}]`;
    });
    lines.push(...wrap(synopsis(c).replace(' [flags]', ''), flags));
  }
  lines.push(
    '',
    'Every `start` flag also reads the env var HASHPUB_<FLAG> (e.g. HASHPUB_PORT, HASHPUB_ALLOW_ANONYMOUS)',
    'and the JSON file of --config; flags win over env vars, env vars over the file.',
    'Run `hashpub <command> --help` for details. `hashpub --version` prints the version.',
  );
  return `${lines.join('\n')}\n`;
}
