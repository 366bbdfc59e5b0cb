// etcd's MemberList client URLs (src/node/member-etcd-addresses.ts) on a 3-node in-process
// cluster: every member's etcd API address through any member; a member that stops answering keeps
// the address it gave last, within the lookup's bound; a removed member is no longer listed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ETCD_ADDRESS_LOOKUP_MS_DEFAULT } from '../../src/node/member-etcd-addresses.js';
import { removeDir, tempDir } from '../helpers/cluster.js';
import { startEtcdCluster, type EtcdCluster } from './etcd-cluster.js';

const dir = tempDir('member-list');
let cluster: EtcdCluster;

beforeAll(async () => {
  cluster = await startEtcdCluster(dir, 3);
}, 30_000);

afterAll(async () => {
  await cluster.stop();
  removeDir(dir);
});

describe('MemberList client URLs', () => {
  it('lists each member with its etcd address through any member, and the last one known of a stopped member', async () => {
    const { nodes } = cluster;
    const expected = new Map(nodes.map((n) => [n.id, n.etcdAddress!]));
    for (const n of nodes) expect(await n.memberEtcdAddresses()).toEqual(expected);
    const leader = nodes.find((n) => n.isLeader)!;
    const [follower, victim] = nodes.filter((n) => n !== leader);
    await victim!.stop();
    const started = Date.now();
    expect(await follower!.memberEtcdAddresses()).toEqual(expected);
    expect(Date.now() - started).toBeLessThan(ETCD_ADDRESS_LOOKUP_MS_DEFAULT + 500);
    await leader.removeMember(victim!.id);
    expected.delete(victim!.id);
    expect(await leader.memberEtcdAddresses()).toEqual(expected);
  }, 30_000);
});
