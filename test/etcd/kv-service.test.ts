/**
 * The etcd KV, Cluster and Maintenance services of a 3-node in-process cluster, driven by a grpc-js
 * client built from the same .proto files: put / range / txn / delete / compact through any member
 * (a follower forwards writes through Raft and serves linearizable reads with ReadIndex), historical
 * reads, etcd's error codes and messages, and the request limits.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/etcd/server.js';
import type { KvNode } from '../../src/node/kv-node.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import { EtcdTestClient, type Wire } from './etcd-client.js';
import { startInProcessCluster } from './in-process-cluster.js';

const dir = tempDir('etcd-kv');
const nodes: KvNode[] = [];
const clients: EtcdTestClient[] = [];

const b = (s: string) => Buffer.from(s);
const keysOf = (r: Wire) => (r.kvs as Wire[]).map((kv) => `${fromUtf8(kv.key as Buffer)}=${fromUtf8(kv.value as Buffer)}`);
const rev = (r: Wire) => Number((r.header as Wire).revision);

async function expectStatus(p: Promise<unknown>, code: grpc.status, details: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code, details });
}

beforeAll(async () => {
  nodes.push(...(await startInProcessCluster((id) => ({ etcdAddress: '127.0.0.1:0', dataDir: join(dir, `n${id}`) }))));
  for (const n of nodes) clients.push(new EtcdTestClient(n.etcdAddress!));
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const n of nodes) await n.stop();
  removeDir(dir);
});

describe('etcd KV service', () => {
  it('puts through a follower and reads the same revisions through every member', async () => {
    const follower = clients[nodes.findIndex((n) => !n.isLeader)]!;
    const p1 = await follower.call('KV', 'Put', { key: b('k1'), value: b('v1') });
    const p2 = await clients[0]!.call('KV', 'Put', { key: b('k2'), value: b('v2'), prev_kv: true });
    const p3 = await clients[2]!.call('KV', 'Put', { key: b('k1'), value: b('v1b'), prev_kv: true });
    // A new cluster is at revision 1, as etcd's: the first write is revision 2.
    expect([rev(p1), rev(p2), rev(p3)]).toEqual([2, 3, 4]);
    expect(p2.prev_kv).toBeNull();
    expect(fromUtf8((p3.prev_kv as Wire).value as Buffer)).toBe('v1');
    for (const c of clients) {
      const r = await c.call('KV', 'Range', { key: b('k'), range_end: b('l') });
      expect(keysOf(r)).toEqual(['k1=v1b', 'k2=v2']);
      expect(rev(r)).toBe(rev(p3));
      const kv = (r.kvs as Wire[])[0]!;
      expect([kv.create_revision, kv.mod_revision, kv.version]).toEqual([String(rev(p1)), String(rev(p3)), '2']);
      const h = r.header as Wire;
      expect(h.cluster_id).toBe(nodes[0]!.clusterId.toString());
      expect(Number(h.raft_term)).toBeGreaterThan(0);
    }
    // A historical read, and a serializable one on a follower.
    const old = await clients[1]!.call('KV', 'Range', { key: b('k1'), revision: String(rev(p1)) });
    expect(keysOf(old)).toEqual(['k1=v1']);
    await eventually('serializable read caught up', async () => keysOf(await clients[1]!.call('KV', 'Range', { key: b('k1'), serializable: true }))[0] === 'k1=v1b');
    // The native API sees the same keys.
    expect(fromUtf8((await nodes[2]!.get('k2'))!)).toBe('v2');
  });

  it('runs txns (compare, success / failure, nested ops) in one revision', async () => {
    const c = clients[1]!;
    const before = rev(await c.call('KV', 'Range', { key: b('t') }));
    const t = await c.call('KV', 'Txn', {
      compare: [{ result: 'EQUAL', target: 'VERSION', key: b('t/a'), version: '0' }],
      success: [{ request_put: { key: b('t/a'), value: b('1') } }, { request_put: { key: b('t/b'), value: b('2') } }, { request_range: { key: b('t/'), range_end: b('t0') } }],
      failure: [{ request_range: { key: b('t/a') } }],
    });
    expect(t.succeeded).toBe(true);
    expect(rev(t)).toBe(before + 1);
    const responses = t.responses as Wire[];
    expect(keysOf(responses[2]!.response_range as Wire)).toEqual(['t/a=1', 't/b=2']);
    // The responses inside a txn carry only the revision in their headers, as etcd's.
    expect((responses[0]!.response_put as Wire).header).toMatchObject({ revision: String(before + 1), cluster_id: '0', member_id: '0' });
    const again = await c.call('KV', 'Txn', {
      compare: [{ result: 'EQUAL', target: 'VERSION', key: b('t/a'), version: '0' }],
      success: [{ request_put: { key: b('t/a'), value: b('x') } }],
      failure: [{ request_range: { key: b('t/a') } }],
    });
    expect(again.succeeded).toBe(false);
    expect(rev(again)).toBe(before + 1);
    const del = await c.call('KV', 'DeleteRange', { key: b('t/'), range_end: b('t0'), prev_kv: true });
    expect([del.deleted, (del.prev_kvs as Wire[]).length, rev(del)]).toEqual(['2', 2, before + 2]);
  });

  it('answers a txn that writes nothing as a read (ReadIndex, local state), not through Raft', async () => {
    const fi = nodes.findIndex((n) => !n.isLeader);
    const c = clients[fi]!;
    const put = await clients[(fi + 1) % 3]!.call('KV', 'Put', { key: b('ro/a'), value: b('1') });
    // Counts this member's etcd proposals (a txn through Raft is one).
    const etcd = nodes[fi]!.etcd;
    const propose = etcd.propose.bind(etcd);
    let proposals = 0;
    etcd.propose = (w) => {
      proposals++;
      return propose(w);
    };
    try {
      const t = await c.call('KV', 'Txn', {
        compare: [{ result: 'EQUAL', target: 'VALUE', key: b('ro/a'), value: b('1') }],
        success: [{ request_range: { key: b('ro/'), range_end: b('ro0') } }, { request_txn: { success: [{ request_range: { key: b('ro/a') } }] } }],
        failure: [{ request_range: { key: b('ro/b') } }],
      });
      // Linearizable: the put acknowledged through another member is seen at its revision or later.
      expect(t.succeeded).toBe(true);
      expect(rev(t)).toBeGreaterThanOrEqual(rev(put));
      const responses = t.responses as Wire[];
      expect(keysOf(responses[0]!.response_range as Wire)).toEqual(['ro/a=1']);
      expect(keysOf(((responses[1]!.response_txn as Wire).responses as Wire[])[0]!.response_range as Wire)).toEqual(['ro/a=1']);
      expect(proposals).toBe(0);
      // Its errors are the apply's: a range below the compacted revision, a future revision.
      await expectStatus(c.call('KV', 'Txn', { success: [{ request_range: { key: b('ro/a'), revision: String(rev(t) + 100) } }] }), grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision');
      expect(proposals).toBe(0);
      // A txn that may write (in either branch) goes through Raft.
      await c.call('KV', 'Txn', { compare: [{ result: 'EQUAL', target: 'VALUE', key: b('ro/a'), value: b('1') }], success: [{ request_range: { key: b('ro/a') } }], failure: [{ request_put: { key: b('ro/b'), value: b('x') } }] });
      expect(proposals).toBe(1);
    } finally {
      etcd.propose = propose;
    }
  });

  it('compacts, then answers etcd errors for compacted and future revisions', async () => {
    const c = clients[0]!;
    const r1 = await c.call('KV', 'Put', { key: b('c'), value: b('1') });
    await c.call('KV', 'Put', { key: b('c'), value: b('2') });
    const r3 = await c.call('KV', 'Put', { key: b('c'), value: b('3') });
    await c.call('KV', 'Compact', { revision: String(rev(r3) - 1), physical: true });
    expect(nodes[0]!.etcd.compactionPending).toBe(false);
    await expectStatus(c.call('KV', 'Range', { key: b('c'), revision: String(rev(r1)) }), grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    await expectStatus(clients[2]!.call('KV', 'Range', { key: b('c'), revision: String(rev(r1)) }), grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    expect(keysOf(await c.call('KV', 'Range', { key: b('c'), revision: String(rev(r3) - 1) }))).toEqual(['c=2']);
    await expectStatus(c.call('KV', 'Range', { key: b('c'), revision: String(rev(r3) + 1000) }), grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision');
    await expectStatus(c.call('KV', 'Compact', { revision: String(rev(r1)) }), grpc.status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
  });

  it('refuses what etcd refuses, with its codes and messages', async () => {
    const c = clients[2]!;
    await expectStatus(c.call('KV', 'Put', { key: b(''), value: b('x') }), grpc.status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
    await expectStatus(c.call('KV', 'Range', { key: b('') }), grpc.status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
    await expectStatus(c.call('KV', 'Put', { key: b('x'), value: b('x'), lease: '12345' }), grpc.status.NOT_FOUND, 'etcdserver: requested lease not found');
    const ops = Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b(`many${i}`), value: b('') } }));
    await expectStatus(c.call('KV', 'Txn', { success: ops }), grpc.status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request');
    await expectStatus(
      c.call('KV', 'Txn', { success: [{ request_put: { key: b('d'), value: b('1') } }, { request_put: { key: b('d'), value: b('2') } }] }),
      grpc.status.INVALID_ARGUMENT,
      'etcdserver: duplicate key given in txn request',
    );
    await expectStatus(c.call('KV', 'Put', { key: b('big'), value: Buffer.alloc(1.5 * 1024 * 1024) }), grpc.status.INVALID_ARGUMENT, 'etcdserver: request is too large');
    await expectStatus(c.call('Auth', 'AuthEnable', {}), grpc.status.UNIMPLEMENTED, expect.any(String) as unknown as string);
    // An enum value the .proto does not name (a newer client's) is refused, not guessed.
    await expectStatus(c.call('KV', 'Range', { key: b('a'), sort_order: 7 }), grpc.status.INVALID_ARGUMENT, 'etcdserver: sort_order must be one of NONE, ASCEND, DESCEND, got 7');
    await expect(c.call('KV', 'Txn', { compare: [{ key: b('a'), result: 9 }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('lists members and reports status', async () => {
    const list = await clients[1]!.call('Cluster', 'MemberList', {});
    const members = list.members as Wire[];
    expect(members.map((m) => m.ID).sort()).toEqual(['1', '2', '3']);
    const self = members.find((m) => m.ID === '2')!;
    expect(self.clientURLs).toEqual([`http://${nodes[1]!.etcdAddress}`]);
    const st = await clients[1]!.call('Maintenance', 'Status', {});
    expect(st.version).toMatch(/^3\.4\.x-compatible lsmraft /);
    expect(Number(st.leader)).toBe(nodes.find((n) => n.isLeader)!.id);
    expect(Number(st.raftAppliedIndex)).toBeGreaterThan(0);
    expect(Number(st.dbSize)).toBeGreaterThan(0);
    // HashKV agrees across members once they applied the same log, and changes with a write.
    const hashes = async () => Promise.all(clients.map(async (c) => (await c.call('Maintenance', 'HashKV', {})).hash));
    await eventually('members caught up', async () => new Set(await hashes()).size === 1);
    const [before] = await hashes();
    await clients[0]!.call('KV', 'Put', { key: b('hash'), value: b('x') });
    await eventually('members caught up again', async () => new Set(await hashes()).size === 1);
    expect((await hashes())[0]).not.toBe(before);
  });
});
