// A member added to the configuration first and started afterwards (etcd's order:
// src/node/membership-admin.ts addMemberFirst, initialClusterState 'existing'): the started node is
// in no cluster (cluster id 0) and waits; the leader's JOIN takes it in (the first cluster that
// names its id), and from then on it refuses every other cluster, also before its leader's
// snapshot reached it (membership.ts joinRefusal).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { KvNode, type KvNodeOptions } from '../../src/node/kv-node.js';
import { joinRefusal } from '../../src/node/membership.js';
import { NEW_MEMBER_CONTACT_MS } from '../../src/node/membership-admin.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';

const running: KvNode[] = [];
const dirs: string[] = [];

async function start(dir: string, id: number, extra: Partial<KvNodeOptions> = {}): Promise<KvNode> {
  const node = await KvNode.start({ id, address: '127.0.0.1:0', dataDir: join(dir, `node-${id}`), engine: 'js', workerPool: false, ...extra });
  running.push(node);
  return node;
}

/** A local read of `key` on `node`; undefined also while a snapshot replaces its state (KV_ERR_STOPPED: retry). */
function localText(node: KvNode, key: string): string | undefined {
  try {
    const v = node.localGet(key);
    return v === undefined ? undefined : fromUtf8(v);
  } catch (err) {
    if (err instanceof LsmraftError && err.code === 'KV_ERR_STOPPED') return undefined;
    throw err;
  }
}

afterEach(async () => {
  for (const n of running.splice(0)) await n.stop();
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('joinRefusal of a blank node', () => {
  const blank = { nodeId: 4, hasUserData: false, conf: { voters: [], learners: [] } };
  it('takes the first cluster when it is in none, and only that cluster once it joined one', () => {
    expect(joinRefusal({ ...blank, clusterId: 0n }, 0xabcn, 4)).toBeUndefined();
    expect(joinRefusal({ ...blank, clusterId: 0xabcn }, 0xabcn, 4)).toBe('already');
    expect(joinRefusal({ ...blank, clusterId: 0xabcn }, 0xdefn, 4)).toMatch(/joined cluster 0000000000000abc and waits for its leader/);
    expect(joinRefusal({ ...blank, clusterId: 0n }, 0xabcn, 5)).toMatch(/not node 5/);
  });
});

describe('a member added first, started with initialClusterState existing', () => {
  it('waits in no cluster, is taken in by its leader, catches up, and refuses another cluster', async () => {
    const dir = tempDir('join-existing');
    dirs.push(dir);
    const a = await start(dir, 1);
    await eventually('node 1 leads', () => a.isLeader, 10_000);
    await a.put('before', 'v1');
    // Not started yet: added as a learner under a new id, above every id the cluster had.
    const id = await a.addMemberFirst('127.0.0.1:1', true);
    expect(id).toBe(2);
    // Move it to the address the node will really have (port 0 is picked at start).
    const b = await start(dir, 3, { initialClusterState: 'existing' });
    expect(b.clusterId).toBe(0n);
    expect(b.status().voters).toEqual([]);
    await expect(a.addMemberFirst(b.address, true)).resolves.toBe(3);
    await eventually('node 3 caught up', () => localText(b, 'before') === 'v1', 15_000);
    expect(b.clusterId).toBe(a.clusterId);
    // The leader may not have its acknowledgement yet: not in sync is retried.
    await eventually('node 3 promoted', async () => {
      try {
        await a.promoteMember(3);
        return true;
      } catch (err) {
        if (err instanceof LsmraftError && err.code === 'KV_ERR_LEARNER_NOT_READY') return false;
        throw err;
      }
    }, 10_000, 100);
    expect(a.status().voters).toEqual([1, 3]);
    // Another cluster cannot take it.
    const other = await start(dir, 9);
    await eventually('node 9 leads', () => other.isLeader, 10_000);
    await expect(other.addMember(3, b.address)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP', message: expect.stringMatching(/refused to join: node 3 holds user data/) });
    expect(b.clusterId).toBe(a.clusterId);
  }, 40_000);

  it('leaves a node that started as a fresh cluster of its own alone (a member that lost its disk)', async () => {
    const dir = tempDir('join-existing-fresh');
    dirs.push(dir);
    const a = await start(dir, 1);
    await eventually('node 1 leads', () => a.isLeader, 10_000);
    const b = await start(dir, 2);
    await expect(a.addMemberFirst(b.address, true)).resolves.toBe(2);
    // Two contact intervals and more: the leader asks, sees a cluster of its own, and sends no JOIN.
    await new Promise((r) => setTimeout(r, 2.5 * NEW_MEMBER_CONTACT_MS));
    expect(b.clusterId).not.toBe(a.clusterId);
    expect(b.status().voters).toEqual([2]);
  }, 20_000);
});
