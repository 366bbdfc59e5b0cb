// Auto-compaction (src/node/auto-compaction.ts) on a 3-node in-process cluster with etcd's
// `--auto-compaction-mode revision --auto-compaction-retention 10`: native puts (MVCC writes) get
// the history compacted, so a read of an old revision gets etcd's compacted error; across a
// leadership transfer the new leader goes on compacting, and no replica ever compacts past the
// retention (a Compact at most current - 10 when it is applied, every replica alike).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeStoppedError } from '../../src/node/errors.js';
import type { KvNode } from '../../src/node/kv-node.js';
import { utf8 } from '../../src/util/bytes.js';
import { eventually, removeDir, tempDir } from '../helpers/cluster.js';
import { startInProcessCluster } from './in-process-cluster.js';

const dir = tempDir('auto-compaction');
const nodes: KvNode[] = [];
const fatal: unknown[] = [];
const retention = 10;
/** Writes per phase: enough for several compactions at this retention. */
const writesPerPhase = 40;

/** Every replica's (current, compact) revisions, sampled while the test writes. */
const samples: Array<{ id: number; current: number; compact: number }> = [];
let sampler: NodeJS.Timeout | undefined;

beforeAll(async () => {
  nodes.push(
    ...(await startInProcessCluster((id) => ({
      dataDir: join(dir, `n${id}`),
      autoCompactionMode: 'revision',
      autoCompactionRetention: String(retention),
      autoCompactionCheckMs: 20,
      onFatal: (err) => fatal.push(err),
    }))),
  );
  await eventually('every replica has its state', () => nodes.every((n) => n.status().applied === nodes[0]!.status().applied), 15_000);
  sampler = setInterval(() => {
    for (const n of nodes) {
      try {
        samples.push({ id: n.id, current: n.etcd.currentRevision, compact: n.etcd.compactRevision });
      } catch (err) {
        // A replica whose state a snapshot is replacing has no revisions to read for a moment.
        if (!(err instanceof NodeStoppedError)) throw err;
      }
    }
  }, 5);
}, 30_000);

afterAll(async () => {
  clearInterval(sampler);
  for (const n of nodes) await n.stop();
  removeDir(dir);
});

async function writeAll(prefix: string): Promise<void> {
  for (let i = 0; i < writesPerPhase; i++) await nodes[i % 3]!.put(`${prefix}${i}`, `v${i}`);
}

describe('auto-compaction, revision mode', () => {
  it('compacts to current - retention on the leader, through a leader change, never past the retention', async () => {
    const leader = nodes.find((n) => n.isLeader)!;
    const first = leader.etcd.currentRevision;
    await writeAll('a/');
    const afterA = leader.etcd.currentRevision;
    await eventually('the leader compacted', () => nodes.every((n) => n.etcd.compactRevision === afterA - retention), 10_000);
    for (const n of nodes) {
      await expect(n.etcd.range({ key: utf8('a/0'), revision: first + 1 }, true)).rejects.toMatchObject({ code: 'MVCC_ERR_COMPACTED' });
      const kept = await n.etcd.range({ key: utf8('a/'), rangeEnd: utf8('a0'), revision: afterA - retention }, true);
      expect(kept.response.count).toBe(writesPerPhase - retention);
    }

    const next = nodes.find((n) => n !== leader)!;
    await leader.transferLeadership(next.id);
    await eventually('the new leader leads', () => next.isLeader, 10_000);
    await writeAll('b/');
    const afterB = next.etcd.currentRevision;
    await eventually('the new leader compacted', () => nodes.every((n) => n.etcd.compactRevision === afterB - retention), 10_000);

    expect(fatal).toEqual([]);
    expect(samples.length).toBeGreaterThan(10);
    const last = new Map<number, number>();
    for (const s of samples) {
      if (s.compact > 0) expect(s.current - s.compact, `node ${s.id} at revision ${s.current}`).toBeGreaterThanOrEqual(retention);
      expect(s.compact).toBeGreaterThanOrEqual(last.get(s.id) ?? 0);
      last.set(s.id, s.compact);
    }
  }, 60_000);
});
