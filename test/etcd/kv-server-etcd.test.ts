/**
 * kv-server --etcd-address, as an operator runs it: the node prints `etcd api on <host:port>` once
 * the API listens, an etcd client's put is seen by the node's own `get` (one keyspace), and a
 * kill -9 and restart keeps the revisions (the MVCC state is in the state tree, re-applied from
 * the log).
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { removeDir, startServer, stopAll, tempDir } from '../helpers/cluster.js';
import { EtcdTestClient, type Wire } from './etcd-client.js';

const dir = tempDir('kv-server-etcd');
const clients: EtcdTestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await stopAll();
});
afterAll(() => removeDir(dir));

async function etcdAddress(s: Awaited<ReturnType<typeof startServer>>): Promise<string> {
  const { line } = await s.waitForLine(/^etcd api on /);
  return /^etcd api on (\S+)$/.exec(line)![1]!;
}

describe('kv-server --etcd-address', () => {
  it('serves the etcd API on one keyspace with the native commands, across a kill -9', async () => {
    const dataDir = join(dir, 'n1');
    const s = await startServer({ id: 1, dataDir, extraArgs: ['--etcd-address', '127.0.0.1:0'] });
    const c = new EtcdTestClient(await etcdAddress(s));
    clients.push(c);
    const put = await c.call('KV', 'Put', { key: Buffer.from('k'), value: Buffer.from('from etcd') });
    expect((put.header as Wire).revision).toBe('2');
    expect(await s.ask('get k', /./)).toBe('from etcd');
    s.send('put n native');
    await s.waitForLine(/^ok$/);
    const r = await c.call('KV', 'Range', { key: Buffer.from('k'), range_end: Buffer.from('o') });
    expect((r.kvs as Wire[]).map((kv) => `${String(kv.key)}@${String(kv.mod_revision)}`)).toEqual(['k@2', 'n@3']);

    s.kill('SIGKILL');
    await s.exited;
    c.close();
    const again = await startServer({ id: 1, dataDir, extraArgs: ['--etcd-address', '127.0.0.1:0'] });
    const c2 = new EtcdTestClient(await etcdAddress(again));
    clients.push(c2);
    const after = await c2.call('KV', 'Range', { key: Buffer.from('k'), range_end: Buffer.from('o'), revision: '2' });
    expect((after.kvs as Wire[]).map((kv) => String(kv.key))).toEqual(['k']);
    expect((after.header as Wire).revision).toBe('3');
  });
});
