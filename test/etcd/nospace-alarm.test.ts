/**
 * The NOSPACE alarm end to end in a 3-node in-process cluster (src/node/space-alarm.ts,
 * src/mvcc/alarms.ts, src/etcd/maintenance-service.ts): node 2's disk "fills" (its state tree's
 * flushes fail with ENOSPC, injected by test/helpers/fault-fs.ts over the in-memory file system);
 * node 2 raises its NOSPACE alarm through Raft; every member then refuses puts with etcd's
 * RESOURCE_EXHAUSTED "etcdserver: mvcc: database space exceeded" while reads work; Alarm GET on
 * any member lists it; a disarm while the disk is still full is followed by the alarm again; once
 * space is freed, a disarm lets writes through. No node stops, no acknowledged write is lost.
 * Also the quota (etcd's --quota-backend-bytes) and Hash.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/etcd/server.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import type { KvNode } from '../../src/node/kv-node.js';
import { eventually } from '../helpers/cluster.js';
import { FaultFileSystem } from '../helpers/fault-fs.js';
import { EtcdTestClient, type Wire } from './etcd-client.js';
import { startInProcessCluster } from './in-process-cluster.js';

const NO_SPACE = { code: grpc.status.RESOURCE_EXHAUSTED, details: 'etcdserver: mvcc: database space exceeded' };
/** A state flush starts at half this many applied entries past the durable ones (state-flush.ts). */
const STATE_FLUSH_ENTRIES = 64;

const b = (s: string) => Buffer.from(s);
const nodes: KvNode[] = [];
const clients: EtcdTestClient[] = [];
const fatal: unknown[] = [];
// Node 2's state tree cannot create a table while `full.enabled`: its flushes fail with ENOSPC.
const full = new FaultFileSystem(new CrashableMemFileSystem(), { rules: [{ kinds: ['open'], path: /\/state-\d+\/\d+\.sst$/, code: 'ENOSPC', times: Number.POSITIVE_INFINITY }] });
full.enabled = false;

const alarmsOf = async (c: EtcdTestClient) => ((await c.call('Maintenance', 'Alarm', { action: 'GET' })).alarms as Wire[]).map((a) => `${String(a.memberID)}:${String(a.alarm)}`);

beforeAll(async () => {
  nodes.push(
    ...(await startInProcessCluster((id) => ({
      etcdAddress: '127.0.0.1:0',
      dataDir: `/nospace/n${id}`,
      fs: id === 2 ? full : new CrashableMemFileSystem(),
      stateFlushEntriesMax: STATE_FLUSH_ENTRIES,
      spaceCheckMs: 50,
      log: () => undefined,
      onFatal: (err) => fatal.push(err),
    }))),
  );
  for (const n of nodes) clients.push(new EtcdTestClient(n.etcdAddress!));
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const n of nodes) await n.stop();
});

describe('NOSPACE alarm', () => {
  it('is raised by the member whose disk is full, caps the cluster, and is disarmed once space is free', async () => {
    const [c1, c2, c3] = clients as [EtcdTestClient, EtcdTestClient, EtcdTestClient];
    await c1.call('KV', 'Put', { key: b('before'), value: b('1') });
    expect(await alarmsOf(c3)).toEqual([]);

    full.enabled = true;
    // Enough entries for node 2 to start a state flush, which fails: the tree retries it.
    for (let i = 0; i < STATE_FLUSH_ENTRIES / 2 + 2; i++) {
      await c1.call('KV', 'Put', { key: b(`fill/${i}`), value: b('x') }).catch((err: unknown) => {
        if ((err as grpc.ServiceError).code !== NO_SPACE.code) throw err;
      });
    }
    await eventually('node 2 raised NOSPACE', async () => (await alarmsOf(c1)).includes('2:NOSPACE'), 10_000);
    for (const c of clients) expect(await alarmsOf(c)).toEqual(['2:NOSPACE']);
    // GET filters by type, as etcd's AlarmStore.Get (NONE: every type).
    expect((await c1.call('Maintenance', 'Alarm', { action: 'GET', alarm: 'CORRUPT' })).alarms).toEqual([]);
    expect(full.injected.length).toBeGreaterThan(0);

    // Writes that take space are refused through every member, before they reach the Raft log (once
    // the member applied the alarm); reads, and deletes, still work.
    await eventually('every member applied the alarm', () => new Set(nodes.map((n) => n.status().applied)).size === 1);
    const commit = nodes[0]!.status().commit;
    for (const c of clients) await expect(c.call('KV', 'Put', { key: b('after'), value: b('1') })).rejects.toMatchObject(NO_SPACE);
    await expect(c2.call('KV', 'Txn', { compare: [], success: [{ request_put: { key: b('t'), value: b('1') } }], failure: [] })).rejects.toMatchObject(NO_SPACE);
    await expect(c3.call('Lease', 'LeaseGrant', { TTL: '60', ID: '0' })).rejects.toMatchObject(NO_SPACE);
    expect(nodes[0]!.status().commit).toBe(commit);
    for (const c of clients) expect(((await c.call('KV', 'Range', { key: b('before') })).kvs as Wire[]).length).toBe(1);
    expect(Number((await c3.call('KV', 'DeleteRange', { key: b('fill/0') })).deleted)).toBe(1);

    // Disarmed while the disk is still full: node 2 raises it again.
    const disarmed = await c1.call('Maintenance', 'Alarm', { action: 'DEACTIVATE', memberID: '2', alarm: 'NOSPACE' });
    expect((disarmed.alarms as Wire[]).map((a) => a.memberID)).toEqual(['2']);
    await eventually('raised again', async () => (await alarmsOf(c2)).includes('2:NOSPACE'), 10_000);

    // Space is freed: once the tree's retried flush succeeds, a disarm lets puts through for good.
    full.enabled = false;
    await eventually('node 2 state tree healthy', () => nodes[1]!.lsmDescribe().includes('background: ok'), 20_000);
    await c1.call('Maintenance', 'Alarm', { action: 'DEACTIVATE', memberID: '2', alarm: 'NOSPACE' });
    await c2.call('KV', 'Put', { key: b('after'), value: b('2') });
    await new Promise((r) => setTimeout(r, 300)); // six space checks: none raises it again
    expect(await alarmsOf(c3)).toEqual([]);
    for (const c of clients) {
      const r = await c.call('KV', 'Range', { key: b('a'), range_end: b('c') });
      expect((r.kvs as Wire[]).map((kv) => String(kv.key))).toEqual(['after', 'before']);
    }
    // Node 2 kept applying throughout: its own state serves the last write.
    await eventually('node 2 applied the last put', async () => ((await c2.call('KV', 'Range', { key: b('after'), serializable: true })).kvs as Wire[]).length === 1);
    expect(fatal).toEqual([]);
  }, 60_000);

  it('answers Hash alike on members that applied the same log', async () => {
    const put = await clients[0]!.call('KV', 'Put', { key: b('h'), value: b('1') });
    const rev = Number((put.header as Wire).revision);
    await eventually('all applied', async () => {
      const hs = await Promise.all(clients.map((c) => c.call('Maintenance', 'Hash', {})));
      return hs.every((h) => Number((h.header as Wire).revision) === rev);
    });
    const hashes = await Promise.all(clients.map(async (c) => (await c.call('Maintenance', 'Hash', {})).hash));
    expect(new Set(hashes).size).toBe(1);
    await clients[0]!.call('KV', 'Put', { key: b('h'), value: b('2') });
    await eventually('hash changed', async () => (await clients[2]!.call('Maintenance', 'Hash', {})).hash !== hashes[0]);
  });
});
