/**
 * The command lines of kv-server and kvctl: their options (each also a LSMRAFT_* variable and a
 * config-file key, see options.ts), validated once, at the edge, into typed arguments, or a
 * UsageError naming the one wrong argument. docs/cli.md documents every option listed here.
 */
import { readFileSync } from 'node:fs';
import { parseAddress } from '../node/address.js';
import { parseAutoCompaction, type AutoCompactionMode } from '../node/auto-compaction.js';
import { InvalidArgumentError } from '../errors.js';
import type { ClientTlsOptions, NodeTlsOptions } from '../node/tls-options.js';
import { checkAddress, envName, OptionReader, optionsHelp, parsePositiveInt, resolveOptions, UsageError, type OptionSpec } from './options.js';

export { checkAddress, parsePositiveInt, UsageError } from './options.js';

/** What a command line asks for: help, the version, or a run with typed arguments. */
export type Parsed<T> = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; args: T };

/** package.json's version (src/cli and dist/cli both sit two levels below it). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const COMMON: readonly OptionSpec[] = [
  { name: 'config', type: 'string', value: 'FILE', help: 'read options from a YAML or JSON file (keys are the option names)' },
  { name: 'help', short: 'h', type: 'boolean', help: 'print this help and exit', flagOnly: true },
  { name: 'version', type: 'boolean', help: 'print the version and exit', flagOnly: true },
];

/** The object without its undefined fields (options objects under exactOptionalPropertyTypes). */
function definedOnly<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const KV_SERVER_OPTIONS: readonly OptionSpec[] = [
  { name: 'id', type: 'string', value: 'N', help: 'node id, a positive integer (or the first positional argument)' },
  { name: 'address', type: 'string', value: 'HOST:PORT', help: 'address to listen on and announce; port 0 picks one (or the second positional)' },
  { name: 'data-dir', type: 'string', value: 'DIR', help: 'data directory (default ./data/node-<id>)' },
  { name: 'listen', type: 'string', value: 'HOST:PORT', help: 'listen here, announce --address (behind a proxy or NAT)' },
  { name: 'engine', type: 'string', value: 'wasm|js', help: 'LSM hot-path twin (default wasm)' },
  { name: 'snapshot-entries', type: 'string', value: 'N', help: 'applied entries between snapshots (default 100000)' },
  { name: 'compact-keep-entries', type: 'string', value: 'N', help: 'log entries kept behind a snapshot (default 5000)' },
  { name: 'metrics-address', type: 'string', value: 'HOST:PORT', help: 'serve Prometheus metrics over HTTP here' },
  { name: 'etcd-address', type: 'string', value: 'HOST:PORT', help: "serve etcd's v3 gRPC API here (etcdctl, etcd clients)" },
  { name: 'initial-cluster-state', type: 'string', value: 'new|existing', help: "first start: new makes a one-member cluster (default); existing waits for the leader of a cluster that added this node (etcdctl member add)" },
  { name: 'auto-compaction-mode', type: 'string', value: 'periodic|revision', help: 'how the leader compacts the MVCC history (default periodic)' },
  { name: 'auto-compaction-retention', type: 'string', value: 'RETENTION', help: 'periodic: a duration (1h, 30m; a bare number is hours); revision: a count; 0: off (default 1h)' },
  { name: 'quota-backend-bytes', type: 'string', value: 'BYTES', help: 'raise a NOSPACE alarm (writes refused) once the state tree holds more; 0: none (default)' },
  { name: 'log-level', type: 'string', value: 'LEVEL', help: `log level: ${LOG_LEVELS.join(', ')} (default info)` },
  { name: 'history-file', type: 'string', value: 'FILE', help: 'prompt history on a terminal (default ~/.lsmraft_history)' },
  { name: 'restore', type: 'string', value: 'FILE', help: 'first make a new one-member cluster in --data-dir from a backup (kvctl snapshot save)' },
  { name: 'cert-file', type: 'string', value: 'FILE', help: 'TLS: PEM certificate shown to clients' },
  { name: 'key-file', type: 'string', value: 'FILE', help: 'TLS: PEM private key of --cert-file' },
  { name: 'trusted-ca-file', type: 'string', value: 'FILE', help: 'TLS: PEM CA that signs client certificates' },
  { name: 'client-cert-auth', type: 'boolean', help: 'TLS: refuse clients without a certificate --trusted-ca-file signed' },
  { name: 'peer-cert-file', type: 'string', value: 'FILE', help: 'TLS: PEM certificate toward peers (mutual TLS)' },
  { name: 'peer-key-file', type: 'string', value: 'FILE', help: 'TLS: PEM private key of --peer-cert-file' },
  { name: 'peer-trusted-ca-file', type: 'string', value: 'FILE', help: "TLS: PEM CA that signs every member's peer certificate" },
  { name: 'verbose', short: 'v', type: 'boolean', help: 'diagnostic lines on stderr' },
  ...COMMON,
];

export const KV_SERVER_USAGE = 'usage: kv-server <id> <host:port> [options]';

export function kvServerHelp(): string {
  return `${KV_SERVER_USAGE}

Runs one lsmraft node and reads commands from stdin (type help at the prompt).
Every option is also an environment variable, LSMRAFT_ + the option in upper snake case
(--data-dir is LSMRAFT_DATA_DIR), and a key of the --config file (data-dir: ...).
Precedence: command line > environment > config file > default.

options:
${optionsHelp(KV_SERVER_OPTIONS)}

exit codes: 0 after exit, a signal or this node's removal; 1 start failed or stopped on an error;
2 bad arguments.`;
}

export interface KvServerArgs {
  id: number;
  address: string;
  /** Where to listen when peers reach this node at another address (a proxy). */
  listenAddress: string | undefined;
  dataDir: string;
  engine: 'wasm' | 'js';
  snapshotEntries: number | undefined;
  compactKeepEntries: number | undefined;
  /** HTTP address of the metrics endpoint (the node option of the same name serves it). */
  metricsAddress: string | undefined;
  /** gRPC address of the etcd v3 API (the node option etcdAddress serves it). */
  etcdAddress: string | undefined;
  /** etcd's --initial-cluster-state (the node option initialClusterState). */
  initialClusterState: 'new' | 'existing' | undefined;
  /** etcd's --auto-compaction-mode and --auto-compaction-retention (checked by parseAutoCompaction). */
  autoCompactionMode: AutoCompactionMode | undefined;
  autoCompactionRetention: string | undefined;
  /** etcd's --quota-backend-bytes (the node option quotaBackendBytes). */
  quotaBackendBytes: number | undefined;
  /** The node's log level (the node option of the same name applies it). */
  logLevel: LogLevel | undefined;
  historyFile: string | undefined;
  /** A backup file to restore into dataDir before the node starts (restoreBackup). */
  restore: string | undefined;
  /** The node's TLS options (src/node/tls-options.ts): empty for plain text. */
  tls: NodeTlsOptions;
  verbose: boolean;
}

function positionalOrOption(r: OptionReader, positional: string | undefined, name: string, what: string): string {
  if (positional !== undefined) return positional;
  const v = r.string(name);
  if (v === undefined) throw new UsageError(`missing ${what} (give it as an argument, --${name} or ${envName(name)})`);
  return v;
}

export function parseKvServerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Parsed<KvServerArgs> {
  const raw = resolveOptions(KV_SERVER_OPTIONS, argv, env);
  const r = new OptionReader(raw);
  if (r.flag('help')) return { kind: 'help' };
  if (r.flag('version')) return { kind: 'version' };
  const pos = raw.positionals;
  if (pos.length > 2) throw new UsageError(`unexpected argument "${pos[2]}" (expected <id> <host:port>)`);
  const idText = positionalOrOption(r, pos[0], 'id', '<id>');
  const id = parsePositiveInt(idText, pos[0] === undefined ? r.label('id') : '<id>');
  const addressText = positionalOrOption(r, pos[1], 'address', '<host:port>');
  const address = checkAddress(addressText, pos[1] === undefined ? r.label('address') : '<host:port>');
  const listenAddress = r.address('listen');
  if (listenAddress !== undefined && parseAddress(address).port === 0) throw new UsageError(`${r.label('listen')} needs <host:port> with a port other than 0`);
  const autoCompactionMode = r.oneOf('auto-compaction-mode', ['periodic', 'revision'] as const);
  const autoCompactionRetention = r.string('auto-compaction-retention');
  try {
    parseAutoCompaction(autoCompactionMode ?? 'periodic', autoCompactionRetention ?? '1h');
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    throw new UsageError(`${r.label('auto-compaction-retention')}: ${err.message}`);
  }
  return {
    kind: 'run',
    args: {
      id,
      address,
      listenAddress,
      dataDir: r.string('data-dir') ?? `./data/node-${id}`,
      engine: r.oneOf('engine', ['wasm', 'js'] as const) ?? 'wasm',
      snapshotEntries: r.positiveInt('snapshot-entries'),
      compactKeepEntries: r.nonNegativeInt('compact-keep-entries'),
      metricsAddress: r.address('metrics-address'),
      etcdAddress: r.address('etcd-address'),
      initialClusterState: r.oneOf('initial-cluster-state', ['new', 'existing'] as const),
      autoCompactionMode,
      autoCompactionRetention,
      quotaBackendBytes: r.nonNegativeInt('quota-backend-bytes'),
      logLevel: r.oneOf('log-level', LOG_LEVELS),
      historyFile: r.string('history-file'),
      restore: r.string('restore'),
      tls: definedOnly({
        certFile: r.string('cert-file'),
        keyFile: r.string('key-file'),
        trustedCaFile: r.string('trusted-ca-file'),
        clientCertAuth: r.flag('client-cert-auth') ? true : undefined,
        peerCertFile: r.string('peer-cert-file'),
        peerKeyFile: r.string('peer-key-file'),
        peerTrustedCaFile: r.string('peer-trusted-ca-file'),
      }),
      verbose: r.flag('verbose'),
    },
  };
}

// ---- kvctl ------------------------------------------------------------------------------------

export const OUTPUT_FORMATS = ['simple', 'json', 'table'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const KVCTL_OPTIONS: readonly OptionSpec[] = [
  { name: 'servers', type: 'string', value: 'HOST:PORT,...', help: 'the servers to try, comma-separated (required)' },
  { name: 'timeout', type: 'string', value: 'DURATION', help: 'deadline of the command, retries included: 1500 (ms), 5s, 1m (default 10s)' },
  { name: 'output', short: 'o', type: 'string', value: 'simple|json|table', help: 'output format (default simple)' },
  { name: 'hex', type: 'boolean', help: 'print keys and values as hex' },
  { name: 'base64', type: 'boolean', help: 'print keys and values as base64' },
  { name: 'limit', type: 'string', value: 'N', help: 'scan: at most N pairs (default 1000)' },
  { name: 'prefix', type: 'string', value: 'P', help: 'scan: only keys starting with P' },
  { name: 'reverse', type: 'boolean', help: 'scan: the last keys of the range, in descending order' },
  { name: 'keys-only', type: 'boolean', help: 'scan: print keys only' },
  { name: 'value-file', type: 'string', value: 'FILE', help: 'put: read the value from FILE (or give the value as -: stdin)' },
  { name: 'cacert', type: 'string', value: 'FILE', help: "TLS: PEM CA that signed the servers' certificates" },
  { name: 'cert', type: 'string', value: 'FILE', help: 'TLS: PEM client certificate (servers with --client-cert-auth)' },
  { name: 'key', type: 'string', value: 'FILE', help: 'TLS: PEM private key of --cert' },
  ...COMMON,
];

export const KVCTL_USAGE = 'usage: kvctl [options] <command> [args]';

interface CommandShape {
  args: readonly string[];
  /** How many of `args` are required. */
  required: number;
  help: string;
}

export const KVCTL_COMMANDS: Readonly<Record<string, CommandShape>> = {
  put: { args: ['<key>', '<value>'], required: 1, help: 'store key = value (value - reads stdin; or --value-file)' },
  get: { args: ['<key>'], required: 1, help: 'print the value; nothing and exit 1 if there is none' },
  del: { args: ['<key>'], required: 1, help: 'delete key' },
  scan: { args: ['[<from>', '[<to>]]'], required: 0, help: 'key = value pairs, bounds inclusive (--limit, --prefix, --reverse, --keys-only)' },
  status: { args: [], required: 0, help: "the answering node's status" },
  members: { args: [], required: 0, help: 'the members' },
  add: { args: ['<id>', '<host:port>'], required: 2, help: 'add an empty node as a member' },
  remove: { args: ['<id>'], required: 1, help: 'remove a member' },
  transfer: { args: ['<id>'], required: 1, help: 'hand leadership to member id' },
  snapshot: { args: ['save', '<file>'], required: 2, help: 'save a consistent backup of the cluster to file (kv-server --restore)' },
};

export function kvctlHelp(): string {
  const cmds = Object.entries(KVCTL_COMMANDS).map(([name, c]) => `${name} ${c.args.join(' ')}`.trim());
  const width = Math.max(...cmds.map((c) => c.length));
  const lines = Object.values(KVCTL_COMMANDS).map((c, i) => `  ${cmds[i]!.padEnd(width)}  ${c.help}`);
  return `${KVCTL_USAGE}

One request to an lsmraft cluster. Every option is also an environment variable, LSMRAFT_ + the
option in upper snake case (--servers is LSMRAFT_SERVERS), and a key of the --config file.
Precedence: command line > environment > config file > default.

commands:
${lines.join('\n')}

options:
${optionsHelp(KVCTL_OPTIONS)}

exit codes: 0 success; 1 get found no such key; 2 bad arguments; 3 the request failed.`;
}

export interface KvctlArgs {
  servers: string[];
  timeoutMs: number;
  output: OutputFormat;
  encoding: 'hex' | 'base64' | undefined;
  limit: number;
  prefix: string | undefined;
  reverse: boolean;
  keysOnly: boolean;
  valueFile: string | undefined;
  /** TLS to the servers (KvClientOptions.tls); undefined: plain text. */
  tls: ClientTlsOptions | undefined;
  command: string;
  args: string[];
}

/** Options that make sense for one command only; anywhere else they are a usage error. */
const COMMAND_ONLY: Readonly<Record<string, string>> = { limit: 'scan', prefix: 'scan', reverse: 'scan', 'keys-only': 'scan', 'value-file': 'put' };

export function parseKvctlArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Parsed<KvctlArgs> {
  const raw = resolveOptions(KVCTL_OPTIONS, argv, env);
  const r = new OptionReader(raw);
  if (r.flag('help')) return { kind: 'help' };
  if (r.flag('version')) return { kind: 'version' };
  const [command, ...args] = raw.positionals;
  if (command === undefined) throw new UsageError(`no command given (one of ${Object.keys(KVCTL_COMMANDS).join(', ')})`);
  const shape = KVCTL_COMMANDS[command];
  if (shape === undefined) throw new UsageError(`unknown command "${command}" (one of ${Object.keys(KVCTL_COMMANDS).join(', ')})`);
  for (const [opt, only] of Object.entries(COMMAND_ONLY)) {
    // From the environment or a config file such an option is a default, not a mistake.
    if (only !== command && raw.values.get(opt)?.source === 'flag') throw new UsageError(`--${opt} applies to ${only} only`);
  }
  const valueFile = command === 'put' ? r.string('value-file') : undefined;
  const required = command === 'put' && valueFile === undefined ? 2 : shape.required;
  const allowed = command === 'put' && valueFile !== undefined ? 1 : shape.args.length;
  if (args.length < required) throw new UsageError(`${command}: missing ${shape.args[args.length]!.replace(/[[\]]/g, '')}`);
  if (args.length > allowed) {
    throw new UsageError(`${command}: unexpected argument "${args[allowed]}"${command === 'put' && valueFile !== undefined ? ' (the value comes from --value-file)' : ''}`);
  }
  if (command === 'add') {
    parsePositiveInt(args[0]!, 'add: <id>');
    checkAddress(args[1]!, 'add: <host:port>');
  }
  if (command === 'remove' || command === 'transfer') parsePositiveInt(args[0]!, `${command}: <id>`);
  if (command === 'snapshot' && args[0] !== 'save') throw new UsageError(`snapshot: unknown subcommand "${args[0]}" (snapshot save <file>)`);
  const cacert = r.string('cacert');
  if (cacert === undefined && (r.has('cert') || r.has('key'))) throw new UsageError('--cert and --key need --cacert');
  if (r.has('cert') !== r.has('key')) throw new UsageError('give --cert and --key together');
  if (command === 'scan' && r.has('prefix') && args.length > 0) throw new UsageError('scan: give either --prefix or <from> [<to>], not both');
  const serversText = r.string('servers');
  if (serversText === undefined) throw new UsageError('no servers given: --servers host:port[,host:port...] or LSMRAFT_SERVERS');
  const servers = serversText.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (servers.length === 0) throw new UsageError(`${r.label('servers')} lists no address`);
  for (const s of servers) checkAddress(s, `${r.label('servers')}: address`);
  if (r.flag('hex') && r.flag('base64')) throw new UsageError('give --hex or --base64, not both');
  return {
    kind: 'run',
    args: {
      servers,
      timeoutMs: r.durationMs('timeout') ?? 10_000,
      output: r.oneOf('output', OUTPUT_FORMATS) ?? 'simple',
      encoding: r.flag('hex') ? 'hex' : r.flag('base64') ? 'base64' : undefined,
      limit: r.positiveInt('limit') ?? 1000,
      prefix: r.string('prefix'),
      reverse: r.flag('reverse'),
      keysOnly: r.flag('keys-only'),
      valueFile,
      tls: cacert === undefined ? undefined : definedOnly({ caFile: cacert, certFile: r.string('cert'), keyFile: r.string('key') }) as ClientTlsOptions,
      command,
      args,
    },
  };
}
