/**
 * A full compact() merges every level into the deepest one in one pass (src/lsm/compaction-picker.ts
 * pickFullCompaction): each table is read once, not once per level it passes through, what a live
 * snapshot reads survives, and tombstones reaching the bottom are gone. Both engines.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { Rng } from '../helpers/rng.js';
import { treeContents } from '../helpers/tree-contents.js';

const KEYS = 3000;
/** Background compactions the test waits for, at most, before compact(). */
const SETTLE_WAITS_MAX = 2000;

describe('full compact()', () => {
  for (const engine of ['js', 'wasm'] as const) {
    it(`${engine}: reads each table once, gathers every level into one, keeps what a snapshot reads`, async () => {
      const tree = await LsmTree.open('/db', {
        fs: new CrashableMemFileSystem(), engine, workerPool: false, wal: false,
        memtableBytesMax: 64 * 1024, targetFileSizeBytes: 64 * 1024, l1MaxBytes: 64 * 1024, levelSizeMultiplier: 2, l0CompactionTrigger: 2,
        // Stored raw, the repetitive values fill the three levels this test needs.
        blockCompression: 'none',
      });
      try {
        const rng = new Rng(7);
        const model = new Map<string, string>();
        const value = (i: number, round: number): string => `${round}:${i}:${'v'.repeat(100)}`;
        for (let round = 0; round < 3; round++) {
          for (let i = 0; i < KEYS; i++) {
            const key = `key${String(rng.int(KEYS)).padStart(6, '0')}`;
            if (rng.chance(0.2)) {
              await tree.delete(key);
              model.delete(key);
            } else {
              await tree.put(key, value(i, round));
              model.set(key, value(i, round));
            }
          }
        }
        const snapshot = tree.snapshot();
        const atSnapshot = new Map(model);
        for (let i = 0; i < KEYS / 2; i++) {
          const key = `key${String(rng.int(KEYS)).padStart(6, '0')}`;
          await tree.delete(key);
          model.delete(key);
        }
        await tree.flush();
        for (let i = 0; i < SETTLE_WAITS_MAX && tree.stats().compactions.running; i++) await new Promise((r) => setTimeout(r, 5));
        const before = tree.describe().levels.filter((l) => l.files.length > 0);
        expect(before.length).toBeGreaterThanOrEqual(3);
        const tableBytes = before.reduce((n, l) => n + l.bytes, 0);
        const readBefore = tree.stats().compactions.inputBytes;

        await tree.compact();

        // One pass: exactly the tables there were, read once (level by level would read more).
        expect(tree.stats().compactions.inputBytes - readBefore).toBe(tableBytes);
        const after = tree.describe().levels.filter((l) => l.files.length > 0);
        expect(after.map((l) => l.level)).toEqual([before[before.length - 1]!.level]);
        expect(await treeContents(tree)).toEqual(model);
        expect(await treeContents(tree, snapshot)).toEqual(atSnapshot);
        snapshot.release();
      } finally {
        await tree.close();
      }
    });
  }

  it('moves a lone table flushed with no snapshot live down unchanged; rewrites one that may hold older versions', async () => {
    const tree = await LsmTree.open('/db', { fs: new CrashableMemFileSystem(), workerPool: false, wal: false });
    try {
      for (let i = 0; i < 100; i++) await tree.put(`k${i}`, 'a');
      for (let i = 0; i < 100; i++) await tree.put(`k${i}`, 'b');
      await tree.compact();
      let s = tree.stats();
      expect(s.compactions.trivialMoves).toBe(1);
      expect(s.compactions.count).toBe(0);
      expect(tree.describe().levels.filter((l) => l.files.length > 0).map((l) => l.level)).toEqual([6]);

      // A snapshot live during the flush keeps the older versions in the table: compact() rewrites
      // it (keys before the moved table's: it meets nothing in L6 either).
      for (let i = 0; i < 100; i++) await tree.put(`j${i}`, 'a');
      const snapshot = tree.snapshot();
      for (let i = 0; i < 100; i++) await tree.put(`j${i}`, 'b');
      await tree.flush();
      snapshot.release();
      await tree.compact();
      s = tree.stats();
      expect(s.compactions.trivialMoves).toBe(1);
      expect(s.compactions.count).toBe(1);
      expect(s.compactions.outputBytes).toBeLessThan(s.compactions.inputBytes);
      const all = await treeContents(tree);
      expect(all.size).toBe(200);
      for (const v of all.values()) expect(v).toBe('b');
    } finally {
      await tree.close();
    }
  });
});
