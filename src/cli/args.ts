/**
 * Command-line parsing of kv-server and kvctl: positional arguments and `--flag value` options,
 * validated at the edge (STYLE.md §10) into typed options, or a UsageError with the line to print.
 * No dependency: the grammar is small and fixed.
 */
import { InvalidArgumentError } from '../errors.js';
import { parseAddress } from '../node/address.js';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../node/node-logger.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const KV_SERVER_USAGE =
  'usage: kv-server <id> <host:port> [--data-dir DIR] [--listen HOST:PORT] [--engine wasm|js] [--snapshot-entries N] [--compact-keep-entries N] [--metrics-address HOST:PORT] [--log-level LEVEL] [--verbose]';

export interface KvServerArgs {
  id: number;
  address: string;
  /** Where to listen when peers reach this node at another address (a proxy). */
  listenAddress: string | undefined;
  dataDir: string;
  engine: 'wasm' | 'js';
  snapshotEntries: number | undefined;
  compactKeepEntries: number | undefined;
  /** Where to serve /metrics, /health and /ready; undefined: nowhere. */
  metricsAddress: string | undefined;
  /** --log-level, or debug with --verbose; default info. */
  logLevel: LogLevel;
  verbose: boolean;
}

/** Splits argv into positionals and `--name value` / `--flag` options (flags listed in `booleans`). */
function splitArgs(argv: readonly string[], booleans: ReadonlySet<string>, valued: ReadonlySet<string>): { positional: string[]; options: Map<string, string> } {
  const positional: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (booleans.has(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      options.set(name, 'true');
      continue;
    }
    if (!valued.has(name)) throw new UsageError(`unknown option --${name}`);
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value.length === 0) throw new UsageError(`option --${name} needs a value`);
    options.set(name, value);
  }
  return { positional, options };
}

export function parsePositiveInt(s: string, what: string): number {
  if (!/^[0-9]{1,15}$/.test(s) || Number(s) <= 0) throw new UsageError(`${what} must be a positive integer, got "${s}"`);
  return Number(s);
}

function parseNonNegativeInt(s: string, what: string): number {
  if (!/^[0-9]{1,15}$/.test(s)) throw new UsageError(`${what} must be a non-negative integer, got "${s}"`);
  return Number(s);
}

export function checkAddress(s: string): string {
  try {
    parseAddress(s);
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    throw new UsageError(`bad address "${s}": expected host:port`);
  }
  return s;
}

export function parseKvServerArgs(argv: readonly string[]): KvServerArgs {
  const { positional, options } = splitArgs(argv, new Set(['verbose']), new Set(['data-dir', 'listen', 'engine', 'snapshot-entries', 'compact-keep-entries', 'metrics-address', 'log-level']));
  if (positional.length !== 2) throw new UsageError(`expected <id> and <host:port>, got ${positional.length} argument(s)`);
  const id = parsePositiveInt(positional[0]!, 'id');
  const address = checkAddress(positional[1]!);
  const engine = options.get('engine') ?? 'wasm';
  if (engine !== 'wasm' && engine !== 'js') throw new UsageError(`--engine must be wasm or js, got "${engine}"`);
  const se = options.get('snapshot-entries');
  const ck = options.get('compact-keep-entries');
  const listen = options.get('listen');
  if (listen !== undefined && parseAddress(address).port === 0) throw new UsageError('--listen needs <host:port> with a port other than 0');
  const metrics = options.get('metrics-address');
  const level = options.get('log-level') ?? (options.has('verbose') ? 'debug' : 'info');
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  return {
    id,
    address,
    listenAddress: listen === undefined ? undefined : checkAddress(listen),
    dataDir: options.get('data-dir') ?? `./data/node-${id}`,
    engine,
    snapshotEntries: se === undefined ? undefined : parsePositiveInt(se, '--snapshot-entries'),
    compactKeepEntries: ck === undefined ? undefined : parseNonNegativeInt(ck, '--compact-keep-entries'),
    metricsAddress: metrics === undefined ? undefined : checkAddress(metrics),
    logLevel: level,
    verbose: options.has('verbose'),
  };
}

export const KVCTL_USAGE =
  'usage: kvctl --servers host:port[,host:port...] [--timeout MS] put <key> <value> | get <key> | del <key> | scan [<from> [<to>]] [--limit N] | status | members | add <id> <host:port> | remove <id> | transfer <id>';

export interface KvctlArgs {
  servers: string[];
  timeoutMs: number;
  limit: number;
  command: string;
  args: string[];
}

const KVCTL_ARITY: Record<string, [number, number]> = {
  put: [2, 2], get: [1, 1], del: [1, 1], scan: [0, 2], status: [0, 0], members: [0, 0], add: [2, 2], remove: [1, 1], transfer: [1, 1],
};

export function parseKvctlArgs(argv: readonly string[]): KvctlArgs {
  const { positional, options } = splitArgs(argv, new Set(), new Set(['servers', 'timeout', 'limit']));
  const serversText = options.get('servers');
  if (serversText === undefined) throw new UsageError('--servers is required');
  const servers = serversText.split(',').filter((s) => s.length > 0).map(checkAddress);
  if (servers.length === 0) throw new UsageError('--servers lists no address');
  const command = positional[0];
  if (command === undefined) throw new UsageError('no command given');
  const arity = KVCTL_ARITY[command];
  if (arity === undefined) throw new UsageError(`unknown command "${command}"`);
  const args = positional.slice(1);
  if (args.length < arity[0] || args.length > arity[1]) throw new UsageError(`wrong number of arguments for ${command}`);
  if (command === 'add') {
    parsePositiveInt(args[0]!, 'id');
    checkAddress(args[1]!);
  }
  if (command === 'remove' || command === 'transfer') parsePositiveInt(args[0]!, 'id');
  const timeout = options.get('timeout');
  const limit = options.get('limit');
  return {
    servers,
    timeoutMs: timeout === undefined ? 10_000 : parsePositiveInt(timeout, '--timeout'),
    limit: limit === undefined ? 1000 : parsePositiveInt(limit, '--limit'),
    command,
    args,
  };
}
