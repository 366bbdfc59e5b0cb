// A node that applies its own removal switches to `removed`: every request then fails at once with
// KV_ERR_REMOVED (certainly not applied) instead of waiting out its deadline, it tells its owner
// through onRemoved, and a client that reaches it moves on to a member.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../src/node/kv-client.js';
import { KvNode } from '../../src/node/kv-node.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';

const running: KvNode[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.stop()));
  for (const d of dirs.splice(0)) removeDir(d);
});

async function start(dir: string, id: number, onRemoved?: () => void): Promise<KvNode> {
  const node = await KvNode.start({
    id, address: '127.0.0.1:0', dataDir: join(dir, `node-${id}`), engine: 'js', workerPool: false,
    ...(onRemoved === undefined ? {} : { onRemoved }),
  });
  running.push(node);
  return node;
}

/** Nodes 1, 2, 3 in a fresh directory, added at node 1, with k = v written; `onRemoved` is node 3's. */
async function startThree(prefix: string, onRemoved?: () => void): Promise<{ dir: string; n1: KvNode; n2: KvNode; n3: KvNode }> {
  const dir = tempDir(prefix);
  dirs.push(dir);
  const n1 = await start(dir, 1);
  const n2 = await start(dir, 2);
  const n3 = await start(dir, 3, onRemoved);
  await eventually('n1 leads', () => n1.isLeader);
  await n1.addMember(2, n2.address);
  await n1.addMember(3, n3.address);
  await n1.put('k', 'v');
  return { dir, n1, n2, n3 };
}

describe('a removed node', () => {
  it('refuses every request at once with KV_ERR_REMOVED and reports its removal', async () => {
    let removedCalls = 0;
    const { n1, n2, n3 } = await startThree('removed', () => removedCalls++);
    await n1.removeMember(3);
    await eventually('n3 applied its removal', () => removedCalls === 1, 5000);

    for (const attempt of [() => n3.put('k', 'w'), () => n3.get('k'), () => n3.delete('k'), () => n3.scan()]) {
      const t0 = Date.now();
      await expect(attempt()).rejects.toMatchObject({ code: 'KV_ERR_REMOVED' });
      expect(Date.now() - t0).toBeLessThan(500);
    }
    expect(() => n3.status()).toThrow(expect.objectContaining({ code: 'KV_ERR_REMOVED' }));
    // Its own tree stays readable for inspection (lsm g/r/s), without consensus.
    expect(fromUtf8(n3.localGet('k')!)).toBe('v');

    // A client whose first address is the removed node moves on to a member.
    const client = new KvClient([n3.address, n2.address], { requestTimeoutMs: 5000 });
    try {
      expect(fromUtf8((await client.get('k'))!)).toBe('v');
    } finally {
      client.close();
    }
    expect(n1.status().voters).toEqual([1, 2]);
  });
});

describe('a node removed while it was down', () => {
  it('learns of its removal from the leader when it comes back, and refuses requests', async () => {
    let removedCalls = 0;
    const three = await startThree('removed-down');
    const { dir, n1 } = three;
    let n3 = three.n3;
    await eventually('n3 applied the put', () => n3.localGet('k') !== undefined);
    const address = n3.address;
    await n3.stop();
    running.splice(running.indexOf(n3), 1);
    await n1.removeMember(3);
    await n1.put('after', 'removal');

    // Back on its old address and data: it still counts itself a member, but no one answers its votes.
    n3 = await KvNode.start({ id: 3, address, dataDir: join(dir, 'node-3'), engine: 'js', workerPool: false, onRemoved: () => removedCalls++ });
    running.push(n3);
    expect(n3.status().voters).toEqual([1, 2, 3]);
    await eventually('n3 learns of its removal', () => removedCalls === 1, 10_000);
    const t0 = Date.now();
    await expect(n3.put('k', 'w')).rejects.toMatchObject({ code: 'KV_ERR_REMOVED' });
    expect(Date.now() - t0).toBeLessThan(500);
    expect(n1.status().voters).toEqual([1, 2]);
    expect(fromUtf8((await n1.get('k'))!)).toBe('v');
  });
});
