/**
 * A 3-node in-process lsmraft cluster (KvNode.start in this process; js engine, no worker pool):
 * node 1 starts, adds 2 and 3, and the call returns once all three are voters. `options(id)` gives
 * each node's options beyond the id and address (dataDir and fs included).
 */
import { KvNode } from '../../src/node/kv-node.js';
import type { KvNodeOptions } from '../../src/node/node-options.js';
import { eventually } from '../helpers/cluster.js';

/** Bound on the wait until the three are voters. */
const VOTERS_TIMEOUT_MS = 15_000;

export async function startInProcessCluster(options: (id: number) => Omit<KvNodeOptions, 'id' | 'address'>): Promise<KvNode[]> {
  const nodes: KvNode[] = [];
  for (const id of [1, 2, 3]) nodes.push(await KvNode.start({ id, address: '127.0.0.1:0', engine: 'js', workerPool: false, ...options(id) }));
  await nodes[0]!.addMember(2, nodes[1]!.address);
  await nodes[0]!.addMember(3, nodes[2]!.address);
  await eventually('3 voters', () => nodes.every((n) => n.status().voters.length === 3), VOTERS_TIMEOUT_MS);
  return nodes;
}
