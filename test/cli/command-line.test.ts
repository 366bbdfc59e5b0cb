// kv-server and kvctl as processes: --help and --version, options from flags, LSMRAFT_* variables
// and a config file (flags > env > config > defaults), and a bad argument named alone with exit 2.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-script.js';
import { removeDir, startServer, stopAll, tempDir } from '../helpers/cluster.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const dir = tempDir('command-line');
afterAll(async () => {
  await stopAll();
  removeDir(dir);
});

describe('kv-server and kvctl command lines', () => {
  it('--help prints every option and the rule for variables; --version the package version', async () => {
    const [sh, sv, kh, kv] = await Promise.all([
      runCli('kv-server.ts', ['--help']),
      runCli('kv-server.ts', ['--version']),
      runCli('kvctl.ts', ['-h']),
      runCli('kvctl.ts', ['--version']),
    ]);
    expect([sh.code, sv.code, kh.code, kv.code]).toEqual([0, 0, 0, 0]);
    for (const flag of ['--data-dir', '--listen', '--engine', '--snapshot-entries', '--compact-keep-entries', '--metrics-address', '--etcd-address', '--log-level', '--history-file', '--verbose', '--config']) {
      expect(sh.stdout).toContain(flag);
    }
    expect(sh.stdout).toContain('LSMRAFT_DATA_DIR');
    for (const flag of ['--servers', '--timeout', '--output', '--hex', '--base64', '--limit', '--prefix', '--reverse', '--keys-only', '--value-file', '--config']) {
      expect(kh.stdout).toContain(flag);
    }
    expect(kh.stdout).toContain('LSMRAFT_SERVERS');
    expect(sv.stdout).toBe(`kv-server ${VERSION}\n`);
    expect(kv.stdout).toBe(`kvctl ${VERSION}\n`);
  });

  it('a bad argument exits 2 with one line naming it (not the usage line)', async () => {
    const cases: Array<[string, string[], Record<string, string>, string]> = [
      ['kv-server.ts', ['1', '127.0.0.1:0', '--engine', 'x'], {}, 'kv-server: --engine must be one of wasm, js, got "x"'],
      ['kv-server.ts', ['1', '127.0.0.1:0'], { LSMRAFT_SNAPSHOT_ENTRIES: 'many' }, 'kv-server: LSMRAFT_SNAPSHOT_ENTRIES must be a positive integer, got "many"'],
      ['kv-server.ts', ['1', '127.0.0.1:0', '--bogus'], {}, 'kv-server: unknown option --bogus'],
      ['kvctl.ts', ['--servers', '127.0.0.1:1', 'put', 'k'], {}, 'kvctl: put: missing <value>'],
      ['kvctl.ts', ['get', 'k'], { LSMRAFT_SERVERS: 'nohost' }, 'kvctl: LSMRAFT_SERVERS: address must be host:port, got "nohost"'],
      ['kvctl.ts', ['--servers', '127.0.0.1:1', '-o', 'xml', 'status'], {}, 'kvctl: --output must be one of simple, json, table, got "xml"'],
    ];
    const results = await Promise.all(cases.map(([script, args, env]) => runCli(script, args, { env })));
    for (const [i, r] of results.entries()) {
      const [script, args, , message] = cases[i]!;
      const name = script.replace('.ts', '');
      expect([r.code, r.stderr], `${script} ${args.join(' ')}`).toEqual([2, `${message}\nTry '${name} --help'.\n`]);
      expect(r.stdout).toBe('');
    }
  });

  it('kv-server takes its options from flags over LSMRAFT_* variables over a config file', async () => {
    const config = join(dir, 'node.yaml');
    writeFileSync(config, `id: 7\naddress: 127.0.0.1:0\ndata-dir: ${join(dir, 'from-config')}\nengine: js\n`);
    // Config only: id, address, data dir and engine from the file.
    const a = await startServer({ id: 7, dataDir: join(dir, 'from-config'), args: ['--config', config] });
    expect(await a.ask('status', /^node /)).toMatch(/^node 7 leader /);
    expect((await a.askLines('lsm s', /lsm tree/)).join('\n')).toContain(`${join(dir, 'from-config')}/state-`);
    expect((await a.askLines('lsm s', /lsm tree/)).join('\n')).toContain('engine js');
    await a.stop();
    // The variable beats the file; the flag beats both.
    const b = await startServer({ id: 7, dataDir: join(dir, 'from-env'), args: [], env: { LSMRAFT_CONFIG: config, LSMRAFT_DATA_DIR: join(dir, 'from-env') } });
    await b.stop();
    const c = await startServer({ id: 8, dataDir: join(dir, 'from-flag'), args: ['8', '--data-dir', join(dir, 'from-flag')], env: { LSMRAFT_CONFIG: config, LSMRAFT_DATA_DIR: join(dir, 'from-env') } });
    expect(await c.ask('status', /^node /)).toMatch(/^node 8 /);
    await c.stop();
    const nodeIn = (d: string): string | undefined => (existsSync(join(dir, d, 'IDENTITY')) ? /node=(\d+)/.exec(readFileSync(join(dir, d, 'IDENTITY'), 'utf8'))?.[1] : undefined);
    expect([nodeIn('from-config'), nodeIn('from-env'), nodeIn('from-flag')]).toEqual(['7', '7', '8']);
  });
});
