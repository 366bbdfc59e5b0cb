// kvctl against a real server: the three output formats, binary-safe keys and values (--hex,
// --base64, quoting in simple output, base64 in JSON), not-found, values from stdin and a file,
// scan's limit notice, --prefix, --reverse, --keys-only; and a fast error naming every address
// when no server answers.
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type ScriptResult } from '../helpers/run-script.js';
import { removeDir, startServer, stopAll, tempDir, type ServerProcess } from '../helpers/cluster.js';

describe('kvctl output', () => {
  let dir: string;
  let server: ServerProcess;
  const kvctl = (args: string[], input?: string | Uint8Array): Promise<ScriptResult> =>
    runCli('kvctl.ts', args, { env: { LSMRAFT_SERVERS: server.address }, ...(input === undefined ? {} : { input }) });

  beforeAll(async () => {
    dir = tempDir('kvctl-output');
    server = await startServer({ id: 1, dataDir: join(dir, 'node-1') });
    const puts: Array<[string, string]> = [['user:1', 'ada'], ['user:2', 'bob'], ['user:3', 'cy'], ['zed', 'z']];
    for (const [k, v] of puts) expect((await kvctl(['put', k, v])).code).toBe(0);
  });
  afterAll(async () => {
    await stopAll();
    removeDir(dir);
  });

  it('prints get and scan as simple, table and json', async () => {
    const [simple, table, json, missing, missingJson] = await Promise.all([
      kvctl(['get', 'user:1']),
      kvctl(['get', 'user:1', '-o', 'table']),
      kvctl(['get', 'user:1', '--output=json']),
      kvctl(['get', 'nope']),
      kvctl(['get', 'nope', '-o', 'json']),
    ]);
    expect(simple.stdout).toBe('ada\n');
    expect(table.stdout).toBe('KEY     VALUE\nuser:1  ada\n');
    expect(JSON.parse(json.stdout)).toEqual({ key: 'user:1', value: 'ada', encoding: 'utf8' });
    // Not found: nothing on stdout, exit 1, in every format.
    expect([missing.code, missing.stdout, missingJson.code, missingJson.stdout]).toEqual([1, '', 1, '']);

    const [scan, scanTable, scanJson, put] = await Promise.all([
      kvctl(['scan', 'user:', 'user:~']),
      kvctl(['scan', 'user:', 'user:~', '-o', 'table']),
      kvctl(['scan', 'user:', 'user:~', '-o', 'json']),
      kvctl(['put', 'k', 'v', '-o', 'json']),
    ]);
    expect(scan.stdout).toBe('user:1 = ada\nuser:2 = bob\nuser:3 = cy\n');
    expect(scanTable.stdout).toBe('KEY     VALUE\nuser:1  ada\nuser:2  bob\nuser:3  cy\n');
    expect(JSON.parse(scanJson.stdout)).toEqual({
      pairs: [{ key: 'user:1', value: 'ada', encoding: 'utf8' }, { key: 'user:2', value: 'bob', encoding: 'utf8' }, { key: 'user:3', value: 'cy', encoding: 'utf8' }],
      more: false,
      limit: 1000,
    });
    expect(JSON.parse(put.stdout)).toEqual({ ok: true });
    const [status, members] = await Promise.all([kvctl(['status']), kvctl(['members', '-o', 'table'])]);
    expect(status.stdout.trimEnd()).toMatch(/^node 1 leader term \d+ leader 1 \(127\.0\.0\.1:\d+\) commit \d+ applied \d+ log \d+\.\.\d+ snapshot \d+\/\d+ voters \[1\] cluster [0-9a-f]{16}$/);
    expect(members.stdout.split('\n')[0]).toMatch(/^ID\s+ADDRESS\s+ROLE\s+MATCH\s+CONTACT$/);
  });

  it('keeps binary keys and values and separators unambiguous', async () => {
    const bytes = Uint8Array.from([0x62, 0x00, 0xff, 0x0a]);
    expect((await kvctl(['put', 'bin', '-'], bytes)).code).toBe(0);
    expect((await kvctl(['put', 'a = b', 'two\nlines'])).code).toBe(0);
    const file = join(dir, 'value.txt');
    writeFileSync(file, 'from a file\n');
    expect((await kvctl(['put', 'file', '--value-file', file])).code).toBe(0);

    const [hex, b64, simple, json, sep, fromFile] = await Promise.all([
      kvctl(['get', 'bin', '--hex']),
      kvctl(['get', 'bin', '--base64']),
      kvctl(['get', 'bin']),
      kvctl(['get', 'bin', '-o', 'json']),
      kvctl(['scan', 'a', 'a~']),
      kvctl(['get', 'file', '-o', 'json']),
    ]);
    expect(hex.stdout).toBe('6200ff0a\n');
    expect(b64.stdout).toBe(`${Buffer.from(bytes).toString('base64')}\n`);
    expect(simple.stdout).toBe('"b\\x00\\xff\\x0a"\n');
    expect(JSON.parse(json.stdout)).toEqual({ key: 'Ymlu', value: Buffer.from(bytes).toString('base64'), encoding: 'base64' });
    expect(sep.stdout).toBe('"a = b" = "two\\nlines"\n');
    expect(JSON.parse(fromFile.stdout)).toEqual({ key: 'file', value: 'from a file\n', encoding: 'utf8' });
    const keysHex = await kvctl(['scan', 'a', 'a~', '--keys-only', '--hex']);
    expect(keysHex.stdout).toBe(`${Buffer.from('a = b').toString('hex')}\n`);
  });

  it('scan says when it stopped at its limit; --prefix, --reverse and --keys-only', async () => {
    const [limited, exact, prefix, reverse, reverseJson, keys] = await Promise.all([
      kvctl(['scan', 'user:', 'user:~', '--limit', '2']),
      kvctl(['scan', 'user:', 'user:~', '--limit', '3']),
      kvctl(['scan', '--prefix', 'user:', '--limit', '5']),
      kvctl(['scan', '--prefix', 'user:', '--reverse', '--limit', '2']),
      kvctl(['scan', '--prefix', 'user:', '--reverse', '--limit', '2', '-o', 'json', '--keys-only']),
      kvctl(['scan', '--prefix', 'user:', '--keys-only']),
    ]);
    expect([limited.stdout, limited.stderr]).toEqual(['user:1 = ada\nuser:2 = bob\n', '(more: stopped at limit 2)\n']);
    expect([exact.stdout, exact.stderr]).toEqual(['user:1 = ada\nuser:2 = bob\nuser:3 = cy\n', '']);
    expect(prefix.stdout).toBe('user:1 = ada\nuser:2 = bob\nuser:3 = cy\n');
    expect([reverse.stdout, reverse.stderr]).toEqual(['user:3 = cy\nuser:2 = bob\n', '(more: stopped at limit 2)\n']);
    expect(JSON.parse(reverseJson.stdout)).toEqual({ pairs: [{ key: 'user:3', encoding: 'utf8' }, { key: 'user:2', encoding: 'utf8' }], more: true, limit: 2 });
    expect(keys.stdout).toBe('user:1\nuser:2\nuser:3\n');
  });

  it('names every address and why when no server answers, within --timeout', async () => {
    // A server that accepts connections and never answers, beside a closed port.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentAddress = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedAddress = `127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      const t0 = Date.now();
      const r = await runCli('kvctl.ts', ['--servers', `${closedAddress},${silentAddress}`, '--timeout', '2s', 'get', 'k']);
      const lines = r.stderr.trimEnd().split('\n');
      expect(r.code, r.stderr).toBe(3);
      expect(lines[0]).toMatch(/^error KV_ERR_(CONNECTION_CLOSED|TIMEOUT): /);
      expect(lines.slice(1)).toEqual(['servers tried (within 2000 ms):', `  ${closedAddress}: connection refused`, `  ${silentAddress}: no answer in time`]);
      // The deadline holds: the time beyond 2 s is the process starting (tsx) and exiting.
      expect(r.elapsedMs).toBeLessThan(2000 + 4000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    } finally {
      silent.close();
    }
  });
});
