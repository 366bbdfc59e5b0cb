/**
 * The crashable-file-system variant of the kill -9 crash test: writers issue synced batches while
 * flushes and compactions run inline; at a seeded random moment the "process" is killed (its file
 * system view goes dead) and the machine crashes (everything unsynced is lost, or a random part of
 * each unsynced tail survives, as a disk that wrote back some pages). After each reopen every
 * acknowledged batch is present whole, a batch in flight is all or nothing, and nothing else exists.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { ProcessFileSystem } from '../helpers/fs-process.js';
import { Rng, testSeeds } from '../helpers/rng.js';
import { batchKeys } from './crash-batches.js';

const options = {
  engine: 'js' as const,
  workerPool: false as const,
  memtableBytesMax: 64 * 1024,
  targetFileSizeBytes: 64 * 1024,
  l1MaxBytes: 256 * 1024,
  levelSizeMultiplier: 4,
  l0CompactionTrigger: 2,
  // After the kill every IO fails, so queued writes wait out this bound (retrying the WAL switch)
  // before they fail: short, so the dead tree's writers end soon.
  backgroundErrorStallMsMax: 100,
};

async function verify(tree: LsmTree, started: Set<number>, acked: Set<number>, maxId: number): Promise<void> {
  for (let id = 0; id <= maxId; id++) {
    const keys = batchKeys(id);
    const found = keys.map(([k]) => tree.getSync(k));
    const count = found.filter((v) => v !== undefined).length;
    if (acked.has(id)) expect(count, `acknowledged batch ${id}`).toBe(keys.length);
    else if (!started.has(id)) expect(count, `never-started batch ${id}`).toBe(0);
    else expect([0, keys.length], `in-flight batch ${id} must be all or nothing`).toContain(count);
    for (let j = 0; j < keys.length; j++) if (found[j] !== undefined) expect(fromUtf8(found[j]!)).toBe(keys[j]![1]);
  }
  for await (const [k] of tree.scan()) {
    const id = Number(fromUtf8(k).split('-')[2]);
    expect(started.has(id), `key ${fromUtf8(k)} of a batch never started`).toBe(true);
  }
}

describe('crash recovery on the crashable file system', () => {
  for (const seed of testSeeds(500, 4)) {
    it(`keeps acknowledged synced batches across crashes (seed ${seed})`, async () => {
      const rng = new Rng(seed);
      const memfs = new CrashableMemFileSystem();
      const started = new Set<number>();
      const acked = new Set<number>();
      let next = 0;
      try {
        for (let round = 0; round < 6; round++) {
          const pfs = new ProcessFileSystem(memfs);
          const tree = await LsmTree.open('/db', { ...options, fs: pfs });
          if (round > 0) await verify(tree, started, acked, next - 1);
          let dead = false;
          const writer = async (): Promise<void> => {
            // Until the kill below; bounded by the batch count too.
            for (let i = 0; i < 100_000 && !dead; i++) {
              const id = next++;
              started.add(id);
              try {
                await tree.batch(batchKeys(id).map(([key, value]) => ({ type: 'put' as const, key, value })), { sync: true });
              } catch (err) {
                if (dead) return; // the process is gone: its unfinished writes were never acknowledged
                throw err;
              }
              if (!dead) acked.add(id);
            }
          };
          const writers = Array.from({ length: 3 }, () => writer());
          await new Promise((resolve) => setTimeout(resolve, 20 + rng.int(200)));
          dead = true;
          pfs.kill();
          const keep = rng.chance(0.5);
          memfs.crash(keep ? { keepUnsyncedBytes: (n) => rng.int(n + 1) } : {});
          await Promise.all(writers);
        }
        const tree = await LsmTree.open('/db', { ...options, fs: new ProcessFileSystem(memfs) });
        try {
          await verify(tree, started, acked, next - 1);
          expect(acked.size).toBeGreaterThan(50);
        } finally {
          await tree.close();
        }
      } catch (err) {
        console.error(`crash test failed: seed ${seed}; replay with LSMRAFT_SEED=${seed} npx vitest run test/lsm/crash-memfs.test.ts`);
        throw err;
      }
    }, 60_000);
  }
});
