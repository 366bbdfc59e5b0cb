// kv-server as an operator runs it: --metrics-address serves /metrics, /health and /ready;
// --log-level writes JSON records on a non-terminal stderr; a port in use fails the start with
// KV_ERR_ADDRESS_IN_USE, exit code 1 and no data directory left behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, REPO_ROOT, removeDir, startServer, stopAll, tempDir } from '../helpers/cluster.js';
import { httpGet, sample, scrape } from '../helpers/metrics.js';

const dirs: string[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  await stopAll();
  for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
  for (const d of dirs.splice(0)) removeDir(d);
});

function newDir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

describe('kv-server operability', () => {
  it('serves metrics, health and readiness, and logs JSON records', async () => {
    const dir = newDir('cli-metrics');
    const s = await startServer({ id: 1, dataDir: join(dir, 'n1'), extraArgs: ['--metrics-address', '127.0.0.1:0', '--log-level', 'info'] });
    const { line } = await s.waitForLine(/^metrics on /);
    const address = /^metrics on (\S+)$/.exec(line)![1]!;
    await eventually('a leader', async () => sample(await scrape(address), 'etcd_server_has_leader') === 1);
    const before = sample(await scrape(address), 'etcd_server_proposals_committed_total')!;
    s.send('put a 1');
    await s.waitForLine(/^ok$/);
    expect(sample(await scrape(address), 'etcd_server_proposals_committed_total')).toBeGreaterThan(before);
    expect((await httpGet(address, '/health')).status).toBe(200);
    expect((await httpGet(address, '/ready')).status).toBe(200);
    expect((await httpGet(address, '/x')).status).toBe(404);

    const records = s.stderr.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(r).toMatchObject({ level: expect.any(Number), time: expect.any(String), msg: expect.any(String), node: 1 });
    expect(records.some((r) => r['leader'] === 1 && String(r['msg']).includes('leader is 1'))).toBe(true);
  });

  it('a port in use: error KV_ERR_ADDRESS_IN_USE, exit 1, no data directory', async () => {
    const blocker = net.createServer((c) => c.destroy());
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const dir = newDir('cli-in-use');
    for (const args of [[`127.0.0.1:${port}`], ['127.0.0.1:0', '--metrics-address', `127.0.0.1:${port}`]]) {
      const dataDir = join(dir, 'n1');
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'kv-server.ts'), '1', ...args, '--data-dir', dataDir, '--engine', 'js'], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code, stderr).toBe(1);
      expect(stderr).toContain(`error KV_ERR_ADDRESS_IN_USE: cannot listen for ${args.length === 1 ? 'peers' : 'metrics'} on 127.0.0.1:${port}`);
      expect(existsSync(dataDir)).toBe(false);
    }
  });
});
