// The command lines as data: flags, LSMRAFT_* variables and config files merged by precedence,
// and a message naming each wrong argument and where it came from.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseKvctlArgs, parseKvServerArgs, type KvctlArgs, type KvServerArgs, type Parsed } from '../../src/cli/args.js';
import { envName, parseDurationMs, UsageError } from '../../src/cli/options.js';
import { removeDir, tempDir } from '../helpers/cluster.js';

const dir = tempDir('args');
afterAll(() => removeDir(dir));

function run<T>(p: Parsed<T>): T {
  if (p.kind !== 'run') throw new Error(`expected a run, got ${p.kind}`);
  return p.args;
}

function server(argv: string[], env: NodeJS.ProcessEnv = {}): KvServerArgs {
  return run(parseKvServerArgs(argv, env));
}

function kvctl(argv: string[], env: NodeJS.ProcessEnv = {}): KvctlArgs {
  return run(parseKvctlArgs(argv, env));
}

function config(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

describe('kv-server command line', () => {
  it('takes positional id and address, defaults, options', () => {
    expect(server(['3', 'localhost:10003'])).toEqual({
      id: 3, address: 'localhost:10003', listenAddress: undefined, dataDir: './data/node-3', engine: 'wasm', snapshotEntries: undefined, compactKeepEntries: undefined,
      metricsAddress: undefined, etcdAddress: undefined, logLevel: undefined, historyFile: undefined, restore: undefined, tls: {}, verbose: false,
    });
    expect(server(['1', '127.0.0.1:0', '--data-dir', '/x', '--engine=js', '--snapshot-entries', '50', '-v', '--metrics-address', '127.0.0.1:9100', '--log-level', 'debug', '--etcd-address', '127.0.0.1:2379'])).toMatchObject({
      dataDir: '/x', engine: 'js', snapshotEntries: 50, verbose: true, metricsAddress: '127.0.0.1:9100', logLevel: 'debug', etcdAddress: '127.0.0.1:2379',
    });
    expect(server(['1', 'h:1', '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000'])).toMatchObject({ autoCompactionMode: 'revision', autoCompactionRetention: '1000' });
    expect(server(['1', 'h:1', '--auto-compaction-retention', '30m'])).toMatchObject({ autoCompactionMode: undefined, autoCompactionRetention: '30m' });
    expect(server(['1', 'h:1', '--quota-backend-bytes', '1048576'])).toMatchObject({ quotaBackendBytes: 1048576 });
    expect(server(['1', 'h:1'])).toMatchObject({ quotaBackendBytes: undefined });
    expect(server(['2', '127.0.0.1:7000', '--listen', '127.0.0.1:0'])).toMatchObject({ address: '127.0.0.1:7000', listenAddress: '127.0.0.1:0' });
    expect(server(['4', 'h:1', '--initial-cluster-state', 'existing'])).toMatchObject({ initialClusterState: 'existing' });
    expect(() => server(['4', 'h:1', '--initial-cluster-state', 'joined'])).toThrow(/initial-cluster-state/);
    expect(parseKvServerArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseKvServerArgs(['--version'])).toEqual({ kind: 'version' });
  });

  it('names each wrong argument', () => {
    const cases: Array<[string[], string]> = [
      [[], 'missing <id>'],
      [['1'], 'missing <host:port>'],
      [['0', 'h:1'], '<id> must be a positive integer, got "0"'],
      [['x', 'h:1'], '<id> must be a positive integer, got "x"'],
      [['1', 'h'], '<host:port> must be host:port, got "h"'],
      [['1', 'h:1', 'extra'], 'unexpected argument "extra"'],
      [['1', 'h:1', '--engine', 'c'], '--engine must be one of wasm, js, got "c"'],
      [['1', 'h:1', '--nope'], 'unknown option --nope'],
      [['1', 'h:1', '--data-dir'], 'option --data-dir needs a value'],
      [['1', 'h:1', '--verbose=yes'], 'option --verbose takes no value'],
      [['1', 'h:0', '--listen', 'h:1'], '--listen needs <host:port> with a port other than 0'],
      [['1', 'h:1', '--log-level', 'loud'], '--log-level must be one of trace, debug, info, warn, error, fatal, silent, got "loud"'],
      [['1', 'h:1', '--snapshot-entries', '-5'], 'option --snapshot-entries needs a value (for one starting with -, write --snapshot-entries=-...)'],
      [['1', 'h:1', '--auto-compaction-mode', 'hourly'], '--auto-compaction-mode must be one of periodic, revision, got "hourly"'],
      [['1', 'h:1', '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1h'], 'revision retention must be a count of revisions, got "1h"'],
      [['1', 'h:1', '--auto-compaction-retention', '1d'], 'periodic retention must be a duration'],
      [['1', 'h:1', '--snapshot-entries=-5'], '--snapshot-entries must be a positive integer, got "-5"'],
      [['1', 'h:1', '--quota-backend-bytes', '2GB'], '--quota-backend-bytes must be'],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseKvServerArgs(argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseKvServerArgs(argv), argv.join(' ')).toThrow(message);
    }
  });

  it('reads options from LSMRAFT_* variables and a config file: flags > env > config > defaults', () => {
    expect(envName('compact-keep-entries')).toBe('LSMRAFT_COMPACT_KEEP_ENTRIES');
    const yaml = config('node.yaml', 'id: 4\naddress: 127.0.0.1:0\ndata-dir: /from-config\nengine: js\nsnapshot-entries: 77\nverbose: true\n');
    const fromConfig = server(['--config', yaml]);
    expect(fromConfig).toMatchObject({ id: 4, address: '127.0.0.1:0', dataDir: '/from-config', engine: 'js', snapshotEntries: 77, verbose: true, compactKeepEntries: undefined });
    const env = { LSMRAFT_DATA_DIR: '/from-env', LSMRAFT_SNAPSHOT_ENTRIES: '88', LSMRAFT_VERBOSE: '0' };
    expect(server(['--config', yaml], env)).toMatchObject({ dataDir: '/from-env', snapshotEntries: 88, engine: 'js', verbose: false });
    expect(server(['--config', yaml, '--data-dir', '/from-flag'], env)).toMatchObject({ dataDir: '/from-flag', snapshotEntries: 88 });
    expect(server(['5', 'h:2'], { LSMRAFT_CONFIG: yaml })).toMatchObject({ id: 5, address: 'h:2', dataDir: '/from-config' });
    const json = config('node.json', '{"id": 6, "address": "h:3", "compact-keep-entries": 0}');
    expect(server(['--config', json])).toMatchObject({ id: 6, address: 'h:3', compactKeepEntries: 0 });
  });

  it('names the variable or the file of a wrong value', () => {
    expect(() => parseKvServerArgs(['1', 'h:1'], { LSMRAFT_ENGINE: 'c' })).toThrow('LSMRAFT_ENGINE must be one of wasm, js, got "c"');
    expect(() => parseKvServerArgs(['1', 'h:1'], { LSMRAFT_VERBOSE: 'maybe' })).toThrow('LSMRAFT_VERBOSE must be true or false');
    const bad = config('bad.yaml', 'snapshot-entries: lots\n');
    expect(() => parseKvServerArgs(['1', 'h:1', '--config', bad])).toThrow(`snapshot-entries (in ${bad}) must be a positive integer, got "lots"`);
    const unknown = config('unknown.yaml', 'data_dir: /x\n');
    expect(() => parseKvServerArgs(['1', 'h:1', '--config', unknown])).toThrow(`config file ${unknown}: unknown option "data_dir"`);
    const broken = config('broken.yaml', 'a: [1\n');
    expect(() => parseKvServerArgs(['1', 'h:1', '--config', broken])).toThrow(`config file ${broken} does not parse`);
    expect(() => parseKvServerArgs(['1', 'h:1', '--config', join(dir, 'absent.yaml')])).toThrow('cannot read config file');
  });
});

describe('kvctl command line', () => {
  it('takes servers, a command and its arguments, and options anywhere', () => {
    expect(kvctl(['--servers', 'a:1,b:2', 'put', 'k', 'v'])).toEqual({
      servers: ['a:1', 'b:2'], timeoutMs: 10_000, output: 'simple', encoding: undefined, limit: 1000, prefix: undefined, reverse: false, keysOnly: false, valueFile: undefined,
      command: 'put', args: ['k', 'v'],
    });
    expect(kvctl(['scan', '--servers=a:1', '--limit', '5', '-o', 'json', '--reverse', '--keys-only', '--hex'])).toMatchObject({ command: 'scan', limit: 5, output: 'json', reverse: true, keysOnly: true, encoding: 'hex' });
    expect(kvctl(['get', 'k'], { LSMRAFT_SERVERS: 'e:1', LSMRAFT_OUTPUT: 'table', LSMRAFT_TIMEOUT: '2s' })).toMatchObject({ servers: ['e:1'], output: 'table', timeoutMs: 2000 });
    expect(kvctl(['--servers', 'f:1', 'get', 'k'], { LSMRAFT_SERVERS: 'e:1' })).toMatchObject({ servers: ['f:1'] });
    expect(kvctl(['put', 'k', '-', '--servers', 'a:1'])).toMatchObject({ args: ['k', '-'] });
    expect(kvctl(['put', 'k', '--value-file', '/v', '--servers', 'a:1'])).toMatchObject({ args: ['k'], valueFile: '/v' });
    const yaml = config('kvctl.yaml', 'servers: [c:1, d:2]\ntimeout: 750\n');
    expect(kvctl(['--config', yaml, 'status'])).toMatchObject({ servers: ['c:1', 'd:2'], timeoutMs: 750 });
  });

  it('names each wrong argument', () => {
    const cases: Array<[string[], string]> = [
      [['put', 'k', 'v'], 'no servers given'],
      [['--servers', 'a:1'], 'no command given'],
      [['--servers', 'a:1', 'put', 'k'], 'put: missing <value>'],
      [['--servers', 'a:1', 'get', 'k', 'x'], 'get: unexpected argument "x"'],
      [['--servers', 'a', 'get', 'k'], '--servers: address must be host:port, got "a"'],
      [['--servers', 'a:1', 'add', 'x', 'b:1'], 'add: <id> must be a positive integer, got "x"'],
      [['--servers', 'a:1', 'nope'], 'unknown command "nope"'],
      [['--servers', 'a:1', '-o', 'xml', 'status'], '--output must be one of simple, json, table, got "xml"'],
      [['--servers', 'a:1', '--timeout', 'soon', 'status'], '--timeout must be a duration'],
      [['--servers', 'a:1', '--prefix', 'p', 'get', 'k'], '--prefix applies to scan only'],
      [['--servers', 'a:1', '--hex', '--base64', 'status'], 'give --hex or --base64, not both'],
      [['--servers', 'a:1', '--prefix', 'p', 'scan', 'a'], 'scan: give either --prefix or <from> [<to>], not both'],
      [['--servers', 'a:1', '--value-file', 'f', 'put', 'k', 'v'], 'put: unexpected argument "v" (the value comes from --value-file)'],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseKvctlArgs(argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseKvctlArgs(argv), argv.join(' ')).toThrow(message);
    }
  });

  it('reads durations as milliseconds or with a unit', () => {
    expect([parseDurationMs('1500', 't'), parseDurationMs('1500ms', 't'), parseDurationMs('5s', 't'), parseDurationMs('0.5s', 't'), parseDurationMs('2m', 't')]).toEqual([1500, 1500, 5000, 500, 120_000]);
    for (const bad of ['0', '', '5h', '-1', 's', '1.2345s']) expect(() => parseDurationMs(bad, 't'), bad).toThrow(UsageError);
  });
});

describe('TLS, backup and restore options', () => {
  it('kv-server: the TLS flags become the node options of the same names (etcd names)', () => {
    const a = server(['1', 'h:1', '--peer-cert-file', 'p.pem', '--peer-key-file', 'p.key', '--peer-trusted-ca-file', 'ca.pem', '--client-cert-auth', '--trusted-ca-file', 'cca.pem']);
    expect(a.tls).toEqual({ peerCertFile: 'p.pem', peerKeyFile: 'p.key', peerTrustedCaFile: 'ca.pem', clientCertAuth: true, trustedCaFile: 'cca.pem' });
    expect(server(['1', 'h:1']).tls).toEqual({});
    expect(server(['1', 'h:1'], { LSMRAFT_CERT_FILE: 'c.pem', LSMRAFT_KEY_FILE: 'c.key' }).tls).toEqual({ certFile: 'c.pem', keyFile: 'c.key' });
    expect(server(['1', 'h:1', '--restore', 'b.lsmrbk']).restore).toBe('b.lsmrbk');
  });

  it('kvctl: --cacert, --cert, --key and snapshot save', () => {
    expect(kvctl(['--servers', 'a:1', 'get', 'k']).tls).toBeUndefined();
    expect(kvctl(['--servers', 'a:1', '--cacert', 'ca.pem', '--cert', 'c.pem', '--key', 'c.key', 'get', 'k']).tls).toEqual({ caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'c.key' });
    expect(kvctl(['--servers', 'a:1', 'snapshot', 'save', 'f']).args).toEqual(['save', 'f']);
    for (const bad of [['--servers', 'a:1', '--cert', 'c.pem', '--key', 'k', 'get', 'k'], ['--servers', 'a:1', '--cacert', 'ca', '--cert', 'c.pem', 'get', 'k'], ['--servers', 'a:1', 'snapshot', 'save'], ['--servers', 'a:1', 'snapshot', 'restore', 'f']]) {
      expect(() => parseKvctlArgs(bad, {}), bad.join(' ')).toThrow(UsageError);
    }
  });
});
