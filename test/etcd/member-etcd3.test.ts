// etcd's MemberAdd, MemberPromote and MemberUpdate from the `etcd3` npm client against in-process
// nodes (src/etcd/cluster-service.ts): a learner added first through a follower (forwarded to the
// leader), started with initialClusterState 'existing', promoted; the answers' members; etcd's
// errors for a voter, an unknown member and a bad URL.
import { Etcd3, GRPCFailedPreconditionError, GRPCInvalidArgumentError } from 'etcd3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/etcd/server.js';
import { KvNode } from '../../src/node/kv-node.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import { startEtcdCluster, type EtcdCluster } from './etcd-cluster.js';

const dir = tempDir('member-etcd3');
let cluster: EtcdCluster;
let added: KvNode | undefined;

beforeAll(async () => {
  cluster = await startEtcdCluster(dir, 2);
}, 30_000);

afterAll(async () => {
  await added?.stop();
  await cluster.stop();
  removeDir(dir);
});

describe('the etcd3 client adds, promotes and updates members', () => {
  it('adds a learner through a follower, which joins once started, and promotes it', async () => {
    const follower = cluster.nodes.find((n) => !n.isLeader)!;
    const client = new Etcd3({ hosts: `http://${follower.etcdAddress!}` });
    try {
      added = await KvNode.start({ id: 3, address: '127.0.0.1:0', etcdAddress: '127.0.0.1:0', dataDir: join(dir, 'n3'), engine: 'js', workerPool: false, initialClusterState: 'existing' });
      const res = await client.cluster.memberAdd({ peerURLs: [`http://${added.address}`], isLearner: true });
      expect(res.member).toMatchObject({ ID: '3', name: '', peerURLs: [`http://${added.address}`], clientURLs: [], isLearner: true });
      expect(res.members.map((m) => m.ID).sort()).toEqual(['1', '2', '3']);
      await eventually('node 3 caught up', () => added!.status().voters.length === 2, 15_000);
      await eventually('node 3 promoted', async () => {
        try {
          await client.cluster.memberPromote({ ID: '3' });
          return true;
        } catch (err) {
          if (err instanceof GRPCFailedPreconditionError && err.message.includes('in sync with leader')) return false;
          throw err;
        }
      }, 10_000, 100);
      const list = await client.cluster.memberList({});
      expect(list.members.map((m) => [m.ID, m.isLearner])).toEqual([['1', false], ['2', false], ['3', false]]);
      await expect(client.cluster.memberPromote({ ID: '3' })).rejects.toThrow('etcdserver: can only promote a learner member');
      await expect(client.cluster.memberUpdate({ ID: '77', peerURLs: ['http://127.0.0.1:1'] })).rejects.toThrow('etcdserver: member not found');
      await expect(client.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:1/path'] })).rejects.toThrow(GRPCInvalidArgumentError);
    } finally {
      client.close();
    }
  }, 40_000);
});
