// An add that did not finish leaves its node a learner. When that node is lost and an operator
// adds a new, empty node under the same id at another address, the leader must not keep trying the
// old address with the old node's progress: it removes the learner and adds the new node afresh
// (src/node/membership-admin.ts). Found by the chaos soak (test/chaos/): a wiped node re-added after
// a leader change never caught up, and the replicas did not converge.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvNode, type KvNodeOptions } from '../../src/node/kv-node.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';

const KEYS = 300;

describe('re-adding a learner whose node was replaced', () => {
  const nodes: KvNode[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
    for (const d of dirs.splice(0)) removeDir(d);
  });

  async function start(dir: string, id: number, name: string, extra: Partial<KvNodeOptions> = {}): Promise<KvNode> {
    const node = await KvNode.start({ id, address: '127.0.0.1:0', dataDir: join(dir, name), engine: 'js', workerPool: false, ...extra });
    nodes.push(node);
    return node;
  }

  it('removes the unfinished learner and adds the new node at its new address', { timeout: 120_000 }, async () => {
    const dir = tempDir('replace-learner');
    dirs.push(dir);
    let lost: KvNode | undefined;
    // When the leader applies "learner 3", node 3 is lost: the add cannot finish.
    const a = await start(dir, 1, 'a', {
      log: (line) => {
        if (/applied addLearner 3 /.test(line) && lost !== undefined) void lost.stop();
      },
    });
    for (let i = 0; i < KEYS; i++) await a.put(`k${i}`, `v${i}`);
    lost = await start(dir, 3, 'lost');
    await expect(a.addMember(3, lost.address)).rejects.toMatchObject({ code: 'KV_ERR_MEMBERSHIP' });
    expect(a.status().learners).toContain(3);

    const fresh = await start(dir, 3, 'fresh');
    expect(fresh.address).not.toBe(lost.address);
    await a.addMember(3, fresh.address);
    expect(a.status().voters).toEqual([1, 3]);
    expect(a.members().find((m) => m.id === 3)?.address).toBe(fresh.address);
    await eventually('the new node 3 has every key', async () => fresh.localScan(undefined, undefined, 10_000).length === KEYS, 20_000);
    await a.put('after', 'replace');
    expect(fromUtf8((await fresh.get('after'))!)).toBe('replace');
  });
});
