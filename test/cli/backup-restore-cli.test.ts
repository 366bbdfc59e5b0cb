// Backup and restore from the command line, as etcd's `etcdctl snapshot save` and
// `snapshot restore`: `kvctl snapshot save <file>` against a running kv-server, then
// `kv-server --restore <file>` starts a new one-member cluster that serves every key.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { freePort, removeDir, startServer, stopAll, tempDir } from '../helpers/cluster.js';
import { runCli } from '../helpers/run-script.js';

const KEYS = 200;

describe('kvctl snapshot save and kv-server --restore', () => {
  const dirs: string[] = [];
  const clients: KvClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await stopAll();
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('saves a backup and starts a new cluster from it with every key', async () => {
    const dir = tempDir('backup-cli');
    dirs.push(dir);
    const source = await startServer({ id: 1, dataDir: join(dir, 'source') });
    const client = await KvClient.connect([source.address]);
    clients.push(client);
    for (let i = 0; i < KEYS; i++) await client.put(`k${String(i).padStart(4, '0')}`, `v${i}`);
    await client.delete('k0007');

    const file = join(dir, 'backup.lsmrbk');
    const saved = await runCli('kvctl.ts', ['--servers', source.address, '-o', 'json', 'snapshot', 'save', file], { timeoutMs: 30_000 });
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    const report = JSON.parse(saved.stdout) as { file: string; bytes: number; index: number };
    expect(report.file).toBe(file);
    expect(report.bytes).toBeGreaterThan(0);

    const bad = await runCli('kvctl.ts', ['--servers', source.address, 'snapshot', 'load', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/snapshot: unknown subcommand "load"/);

    const port = await freePort();
    const restored = await startServer({ id: 5, address: `127.0.0.1:${port}`, dataDir: join(dir, 'restored'), extraArgs: ['--restore', file] });
    expect(restored.address).toBe(`127.0.0.1:${port}`);
    const c2 = await KvClient.connect([restored.address]);
    clients.push(c2);
    const pairs = await c2.scan(undefined, undefined, 10_000);
    expect(pairs.length).toBe(KEYS - 1);
    expect(pairs.some(([k]) => fromUtf8(k) === 'k0007')).toBe(false);
    expect(fromUtf8((await c2.get('k0199'))!)).toBe('v199');
    const status = await c2.status();
    expect(status.voters).toEqual([5]);
    // A new cluster: it takes writes of its own.
    await c2.put('after', 'restore');
    expect(fromUtf8((await c2.get('after'))!)).toBe('restore');
  });

  it('refuses to restore into a data directory that holds a node', async () => {
    const dir = tempDir('backup-cli-refuse');
    dirs.push(dir);
    const source = await startServer({ id: 1, dataDir: join(dir, 'source') });
    const file = join(dir, 'backup.lsmrbk');
    const saved = await runCli('kvctl.ts', ['--servers', source.address, 'snapshot', 'save', file], { timeoutMs: 30_000 });
    expect(saved.code).toBe(0);
    const r = await runCli('kv-server.ts', ['1', '127.0.0.1:0', '--data-dir', join(dir, 'source'), '--restore', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error KV_ERR_INVALID_ARGUMENT: .*not empty/);
  });
});
