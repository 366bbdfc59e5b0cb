/**
 * KvNode.etcd (src/node/etcd-api.ts), the hook the watch hub and the lessor use, on a 3-node
 * in-process cluster: every replica's onApplied sees the same revisions in order (etcd writes and
 * native writes alike), readEvents returns the retained history and refuses compacted revisions,
 * lease commands go through Raft and revoke deletes the lease's keys in one revision.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvNode } from '../../src/node/kv-node.js';
import type { RevisionEvents } from '../../src/mvcc/types.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';

const dir = tempDir('node-etcd');
const nodes: KvNode[] = [];

beforeAll(async () => {
  for (const id of [1, 2, 3]) nodes.push(await KvNode.start({ id, address: '127.0.0.1:0', dataDir: join(dir, `n${id}`), engine: 'js', workerPool: false }));
  await nodes[0]!.addMember(2, nodes[1]!.address);
  await nodes[0]!.addMember(3, nodes[2]!.address);
  await eventually('3 voters', () => nodes.every((n) => n.status().voters.length === 3), 15_000);
}, 30_000);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  removeDir(dir);
});

const show = (batches: RevisionEvents[]) => batches.map((b) => `${b.revision}: ${b.events.map((e) => `${e.type} ${fromUtf8(e.kv.key)}`).join(', ')}`);

describe('KvNode.etcd', () => {
  it('tells every replica the same revisions, and lease commands go through Raft', async () => {
    const seen: RevisionEvents[][] = nodes.map(() => []);
    const off = nodes.map((n, i) => n.etcd.onApplied((b) => seen[i]!.push(b)));
    const follower = nodes.find((n) => !n.isLeader)!;
    const start = follower.etcd.currentRevision;
    await follower.etcd.propose({ type: 'leaseGrant', id: 77n, ttlSeconds: 30 });
    await expect(follower.etcd.propose({ type: 'leaseGrant', id: 77n, ttlSeconds: 30 })).rejects.toMatchObject({ code: 'MVCC_ERR_LEASE_EXISTS' });
    await follower.etcd.propose({ type: 'put', put: { key: utf8('l/a'), value: utf8('1'), lease: 77n } });
    await nodes[0]!.put('native', 'n');
    await follower.etcd.propose({ type: 'put', put: { key: utf8('l/b'), value: utf8('2'), lease: 77n } });
    expect(follower.etcd.lease(77n)!.keys.map(fromUtf8)).toEqual(['l/a', 'l/b']);
    const revoked = await nodes[2]!.etcd.propose({ type: 'leaseRevoke', id: 77n });
    expect(revoked.revision).toBe(start + 4);
    const expected = [`${start + 1}: PUT l/a`, `${start + 2}: PUT native`, `${start + 3}: PUT l/b`, `${start + 4}: DELETE l/a, DELETE l/b`];
    await eventually('every replica applied the revoke', () => seen.every((s) => s.length === 4));
    for (const s of seen) expect(show(s)).toEqual(expected);
    for (const o of off) o();
    for (const n of nodes) {
      await eventually(`node ${n.id} caught up`, () => n.etcd.currentRevision === start + 4);
      expect(n.etcd.leases().map((l) => l.id)).toEqual([]);
      expect(show(await n.etcd.readEvents(start + 1, start + 4, utf8('l/'), utf8('l0'), 100))).toEqual([expected[0], expected[2], expected[3]]);
    }
    await nodes[0]!.etcd.propose({ type: 'compact', revision: start + 3 });
    await expect(nodes[0]!.etcd.readEvents(start + 2, start + 4, utf8('a'), Uint8Array.of(0), 100)).rejects.toMatchObject({ code: 'MVCC_ERR_COMPACTED' });
    expect(show(await nodes[0]!.etcd.readEvents(start + 3, start + 4, utf8('l/'), utf8('l0'), 1))).toEqual([expected[2]]);
  });
});
