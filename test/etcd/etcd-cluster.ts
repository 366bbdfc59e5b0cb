/**
 * An in-process cluster of KvNodes serving the etcd API on free ports of 127.0.0.1, one test
 * client per member: what the etcd API tests that need a real cluster start from.
 */
import { join } from 'node:path';
import '../../src/etcd/server.js';
import { KvNode } from '../../src/node/kv-node.js';
import { eventually } from '../helpers/cluster.js';
import { EtcdTestClient } from './etcd-client.js';

export interface EtcdCluster {
  nodes: KvNode[];
  clients: EtcdTestClient[];
  /** Closes the clients and stops the nodes still running. */
  stop(): Promise<void>;
}

export async function startEtcdCluster(dir: string, count = 3): Promise<EtcdCluster> {
  const nodes: KvNode[] = [];
  const opts = (id: number) => ({ id, address: '127.0.0.1:0', etcdAddress: '127.0.0.1:0', dataDir: join(dir, `n${id}`), engine: 'js' as const, workerPool: false });
  for (let id = 1; id <= count; id++) nodes.push(await KvNode.start(opts(id)));
  for (let i = 1; i < count; i++) await nodes[0]!.addMember(i + 1, nodes[i]!.address);
  await eventually(`${count} voters`, () => nodes.every((n) => n.status().voters.length === count), 15_000);
  const clients = nodes.map((n) => new EtcdTestClient(n.etcdAddress!));
  return {
    nodes,
    clients,
    async stop() {
      for (const c of clients) c.close();
      for (const n of nodes) await n.stop();
    },
  };
}
