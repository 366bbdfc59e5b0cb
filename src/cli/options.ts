/**
 * Where a command-line option's value comes from, after the twelve-factor convention (etcd reads
 * ETCD_* variables and a --config-file the same way): the command line (node:util parseArgs), then
 * the environment, then a config file (YAML or JSON, read with the yaml package), then the
 * default. One rule names them all: flag `--data-dir` is variable `LSMRAFT_DATA_DIR` and key
 * `data-dir:` in the config file.
 *
 * What must hold: every wrong argument is reported alone, naming where it came from (the flag, the
 * variable or the file), as a UsageError; nothing here exits or prints (args.ts and the programs do).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { InvalidArgumentError } from '../errors.js';
import { parseAddress } from '../node/address.js';

/** A bad command line (or variable, or config file): the message names the one wrong argument. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  name: string;
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of the value in the help text (`DIR`, `HOST:PORT`). */
  value?: string;
  help: string;
  /** Not read from the environment or a config file (--help, --version, --config itself from a file). */
  flagOnly?: boolean;
}

export type Source = 'flag' | 'env' | 'config' | 'default';

/** One option's raw value and where it came from, for messages that name the source. */
export interface RawValue {
  value: string | boolean;
  source: Source;
}

export interface RawOptions {
  values: Map<string, RawValue>;
  positionals: string[];
  configFile: string | undefined;
}

/** `data-dir` -> `LSMRAFT_DATA_DIR`. */
export function envName(flag: string): string {
  return `LSMRAFT_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** How a message names an option given through `source`. */
export function describeSource(name: string, raw: RawValue | undefined, configFile: string | undefined): string {
  switch (raw?.source) {
    case 'env':
      return envName(name);
    case 'config':
      return `${name} (in ${configFile})`;
    default:
      return `--${name}`;
  }
}

function parseCommandLine(specs: readonly OptionSpec[], argv: readonly string[]): ReturnType<typeof parseArgs> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const s of specs) options[s.name] = s.short === undefined ? { type: s.type } : { type: s.type, short: s.short };
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw err;
    // parseArgs names the option as '--name', '-n' or '-n, --name' (with a short alias).
    const opt = /'(?:-\w, )?(--?[^' ]+)/.exec((err as Error).message)?.[1] ?? '?';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${opt}`);
    if (/does not take an argument/.test((err as Error).message)) throw new UsageError(`option ${opt} takes no value`);
    if (/argument missing/.test((err as Error).message)) throw new UsageError(`option ${opt} needs a value`);
    if (/is ambiguous/.test((err as Error).message)) throw new UsageError(`option ${opt} needs a value (for one starting with -, write ${opt}=-...)`);
    throw new UsageError((err as Error).message);
  }
}

function envBoolean(name: string, text: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off|)$/i.test(text)) return false;
  throw new UsageError(`${envName(name)} must be true or false (1/0, yes/no), got "${text}"`);
}

/** Reads a config file: a YAML (or JSON, a subset of YAML) mapping of option names to values. */
function readConfig(file: string, specs: readonly OptionSpec[]): Map<string, string | boolean> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    throw new UsageError(`config file ${file} does not parse: ${err.message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`config file ${file} must be a mapping of option names to values`);
  const out = new Map<string, string | boolean>();
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    const spec = specs.find((s) => s.name === key && s.flagOnly !== true && s.name !== 'config');
    if (spec === undefined) throw new UsageError(`config file ${file}: unknown option "${key}"`);
    if (spec.type === 'boolean') {
      if (typeof v !== 'boolean') throw new UsageError(`config file ${file}: ${key} must be true or false`);
      out.set(key, v);
    } else if (typeof v === 'string' || typeof v === 'number') {
      out.set(key, String(v));
    } else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
      out.set(key, v.join(','));
    } else {
      throw new UsageError(`config file ${file}: ${key} must be a string or a number`);
    }
  }
  return out;
}

/**
 * Merges the four sources, flags > environment > config file > (the caller's) defaults. The config
 * file is `--config` or LSMRAFT_CONFIG.
 */
export function resolveOptions(specs: readonly OptionSpec[], argv: readonly string[], env: NodeJS.ProcessEnv): RawOptions {
  const parsed = parseCommandLine(specs, argv);
  const values = new Map<string, RawValue>();
  for (const s of specs) {
    const v = parsed.values[s.name];
    if (v !== undefined) values.set(s.name, { value: v as string | boolean, source: 'flag' });
  }
  for (const s of specs) {
    if (values.has(s.name) || s.flagOnly === true) continue;
    const text = env[envName(s.name)];
    if (text === undefined) continue;
    values.set(s.name, { value: s.type === 'boolean' ? envBoolean(s.name, text) : text, source: 'env' });
  }
  const configRaw = values.get('config');
  const configFile = configRaw === undefined ? undefined : String(configRaw.value);
  if (configFile !== undefined) {
    for (const [name, value] of readConfig(configFile, specs)) if (!values.has(name)) values.set(name, { value, source: 'config' });
  }
  for (const [name, raw] of values) {
    if (raw.source !== 'flag' && typeof raw.value === 'string' && raw.value.length === 0) {
      throw new UsageError(`${describeSource(name, raw, configFile)} is empty`);
    }
  }
  return { values, positionals: parsed.positionals, configFile };
}

/** Typed accessors over RawOptions whose messages name the source of a wrong value. */
export class OptionReader {
  constructor(private readonly raw: RawOptions) {}

  has(name: string): boolean {
    return this.raw.values.has(name);
  }

  label(name: string): string {
    return describeSource(name, this.raw.values.get(name), this.raw.configFile);
  }

  string(name: string): string | undefined {
    const v = this.raw.values.get(name)?.value;
    return v === undefined ? undefined : String(v);
  }

  flag(name: string): boolean {
    return this.raw.values.get(name)?.value === true;
  }

  positiveInt(name: string): number | undefined {
    const s = this.string(name);
    return s === undefined ? undefined : parsePositiveInt(s, this.label(name));
  }

  nonNegativeInt(name: string): number | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    if (!/^[0-9]{1,15}$/.test(s)) throw new UsageError(`${this.label(name)} must be a non-negative integer, got "${s}"`);
    return Number(s);
  }

  address(name: string): string | undefined {
    const s = this.string(name);
    return s === undefined ? undefined : checkAddress(s, this.label(name));
  }

  oneOf<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    if (!(choices as readonly string[]).includes(s)) throw new UsageError(`${this.label(name)} must be one of ${choices.join(', ')}, got "${s}"`);
    return s as T;
  }

  durationMs(name: string): number | undefined {
    const s = this.string(name);
    return s === undefined ? undefined : parseDurationMs(s, this.label(name));
  }
}

export function parsePositiveInt(s: string, what: string): number {
  if (!/^[0-9]{1,15}$/.test(s) || Number(s) <= 0) throw new UsageError(`${what} must be a positive integer, got "${s}"`);
  return Number(s);
}

export function checkAddress(s: string, what = 'address'): string {
  try {
    parseAddress(s);
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    throw new UsageError(`${what} must be host:port, got "${s}"`);
  }
  return s;
}

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** `1500` (milliseconds), `1500ms`, `5s`, `0.5s`, `2m`: a positive duration in whole milliseconds. */
export function parseDurationMs(s: string, what: string): number {
  const m = /^([0-9]{1,9}(?:\.[0-9]{1,3})?)(ms|s|m)?$/.exec(s);
  const ms = m === null ? NaN : Math.round(Number(m[1]) * DURATION_UNIT_MS[m[2] ?? 'ms']!);
  if (!(ms > 0)) throw new UsageError(`${what} must be a duration such as 1500, 1500ms, 5s or 2m, got "${s}"`);
  return ms;
}

/** The help text's option table, one line per option. */
export function optionsHelp(specs: readonly OptionSpec[]): string {
  const left = specs.map((s) => `${s.short === undefined ? '    ' : `-${s.short}, `}--${s.name}${s.value === undefined ? '' : ` ${s.value}`}`);
  const width = Math.max(...left.map((l) => l.length));
  return specs.map((s, i) => `  ${left[i]!.padEnd(width)}  ${s.help}`).join('\n');
}
