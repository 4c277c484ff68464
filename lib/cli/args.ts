import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OptionsError } from '../errors.js';
import { defaultOptions, parseOptions, type Options } from '../options.js';

/** A problem with how the CLI was called (unknown flag, missing argument, bad value): exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A runtime failure the user can act on (node unreachable, HTTP error answer, port in use): exit code 1. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** One command-line flag: its kebab-case name, value kind, help line, default and env var. */
export interface FlagSpec {
  name: string;
  type: 'string' | 'boolean';
  /** Placeholder shown in help, e.g. "PORT". */
  arg?: string;
  help: string;
  /** Default as shown in help (the real default lives in Options or the command). */
  default?: string;
  /** Env var read when the flag is absent. */
  env?: string;
  multiple?: boolean;
}

/** A command: name, synopsis, flags, positional argument names and the function that runs it. */
export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional argument placeholders, in order (all required). */
  positionals: string[];
  flags: FlagSpec[];
  /** More help text printed after the flags. */
  notes?: string[];
  run(args: ParsedArgs): Promise<void>;
}

/** Flag values (absent flags are undefined) and positionals of one command line. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** "maxBodyBytes" -> "max-body-bytes". */
export const kebab = (field: string): string => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** "max-body-bytes" -> "HASHPUB_MAX_BODY_BYTES". */
export const envName = (flag: string): string => `HASHPUB_${flag.replace(/-/g, '_').toUpperCase()}`;

/** Parses argv for `spec` (strict): unknown flags, missing values and wrong argument counts throw UsageError. */
export function parseCommand(spec: CommandSpec, argv: string[]): ParsedArgs & { help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const f of spec.flags) options[f.name] = { type: f.type, ...(f.multiple ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true, allowNegative: true });
  } catch (err) {
    throw new UsageError(describeParseError(err));
  }
  const values = parsed.values as ParsedArgs['values'];
  const help = values.help === true;
  delete values.help;
  if (!help) {
    const { positionals } = parsed;
    if (positionals.length < spec.positionals.length) {
      throw new UsageError(`missing ${spec.positionals[positionals.length]} argument`);
    }
    if (positionals.length > spec.positionals.length) {
      throw new UsageError(`unexpected argument "${positionals[spec.positionals.length]}"`);
    }
  }
  return { values, positionals: parsed.positionals, help };
}

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const flag = /'(-[^' ]+)/.exec(e.message ?? '')?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': return `unknown flag ${flag}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(e.message ?? '') ? `${flag} needs a value` : `${flag} takes no value`;
    default: return e.message ?? String(err);
  }
}

/** Reads `--name`, else the flag's env var (empty env vars count as unset). */
export function flagOrEnv(args: ParsedArgs, spec: FlagSpec, env: NodeJS.ProcessEnv = process.env): string | boolean | undefined {
  const v = args.values[spec.name];
  if (v !== undefined) return Array.isArray(v) ? v.join(',') : v;
  const e = spec.env ? env[spec.env] : undefined;
  return e === undefined || e === '' ? undefined : e;
}

/** Where each option value came from, for error messages: "--port", "HASHPUB_PORT", "config file x.json". */
export type OptionSources = Record<string, string>;

/**
 * Builds the Options of `hashpub start` from flags > env vars > `--config` file > defaults, then
 * validates with parseOptions(). A bad value throws UsageError naming the flag and where it came from.
 */
export function startOptions(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): Options {
  const input: Record<string, unknown> = {};
  const sources: OptionSources = {};
  const configPath = flagOrEnv(args, { name: 'config', type: 'string', help: '', env: 'HASHPUB_CONFIG' }, env);
  if (typeof configPath === 'string') {
    for (const [k, v] of Object.entries(readConfigFile(configPath))) {
      input[k] = v;
      sources[k] = `config file ${configPath}`;
    }
  }
  for (const field of Object.keys(defaultOptions())) {
    const flag = kebab(field);
    const e = env[envName(flag)];
    if (e !== undefined && e !== '') { input[field] = e; sources[field] = envName(flag); }
    const v = args.values[flag];
    if (v !== undefined) { input[field] = v; sources[field] = `--${flag}`; }
  }
  try {
    return parseOptions(input);
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    const why = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
    const from = sources[err.field];
    const via = from && from !== `--${kebab(err.field)}` ? ` (from ${from})` : '';
    throw new UsageError(`bad value for --${kebab(err.field)}${via}: ${why}`);
  }
}

/** Reads a `--config` JSON file whose keys are Options field names. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(`config file ${path} must hold a JSON object like {"port": 9000}`);
  }
  const known = defaultOptions();
  for (const key of Object.keys(json)) {
    if (!(key in known)) {
      throw new UsageError(`config file ${path}: unknown key "${key}" (keys are option names in camelCase, e.g. "allowAnonymous")`);
    }
  }
  return json as Record<string, unknown>;
}

/** The secrets a node stores in `<data>/secrets.json`. */
export interface StoredSecrets {
  apiKey?: string;
  jwtSecret?: string;
  secret?: string;
}

/** Reads `<dataDir>/secrets.json`; returns {} when it is missing or unreadable. */
export function readSecrets(dataDir: string): StoredSecrets {
  try {
    const json = JSON.parse(readFileSync(secretsPath(dataDir), 'utf8')) as unknown;
    if (typeof json !== 'object' || json === null) return {};
    const out: StoredSecrets = {};
    for (const k of ['apiKey', 'jwtSecret', 'secret'] as const) {
      const v = (json as Record<string, unknown>)[k];
      if (typeof v === 'string' && v !== '') out[k] = v;
    }
    return out;
  } catch {
    return {};
  }
}

/** Path of the secrets file of a data dir. */
export const secretsPath = (dataDir: string): string => join(dataDir, 'secrets.json');

/** Parses a positive integer flag value or throws UsageError naming the flag. */
export function positiveInt(flag: string, v: string | boolean | string[] | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`bad value for --${flag}: expected a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Splits "a,b" into ["a","b"]; undefined stays undefined. */
export function list(v: string | boolean | string[] | undefined): string[] | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  const s = Array.isArray(v) ? v.join(',') : v;
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}
