/**
 * A failed manual compaction: compact() rejects with the job's error, the failure is counted, and
 * nothing else is left rejected (Background.compactAll tracks the running compaction with a
 * promise that settles either way), so Node reports no unhandled rejection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };

describe('manual compaction failure', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it('rejects compact() without leaving an unhandled rejection behind', async () => {
    process.on('unhandledRejection', onUnhandled);
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      // Two overlapping L0 tables: the manual compaction must merge them (not a trivial move).
      await tree.put('a', '1');
      await tree.flush();
      await tree.put('a', '2');
      await tree.flush();
      expect(tree.stats().levels[0]!.files).toBe(2);
      fs.injectError('create');
      let code: string | undefined;
      try {
        await tree.compact();
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code).toBeDefined();
      expect(tree.stats().compactions.failures).toBe(1);
      // Unhandled rejections are reported after the microtask queue drains: give it a few turns.
      for (let turn = 0; turn < 5; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      expect(unhandled.map((r) => String(r))).toEqual([]);
    } finally {
      await tree.close();
    }
  });
});
