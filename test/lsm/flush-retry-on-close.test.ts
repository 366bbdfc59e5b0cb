/**
 * close() while the flush of the immutable memtable keeps failing: once the tree is closing no
 * flush is scheduled and no retry timer is armed (background.ts), so close() waits for the one
 * running attempt, not for a stream of immediate retries. With a WAL the memtable needs no flush
 * at close: reopening recovers it from the log.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

const base = { engine: 'js' as const, workerPool: false as const, memtableBytesMax: 64 * 1024 };

describe('close() while a flush keeps failing', () => {
  it('does not retry the flush without backoff during close', async () => {
    const fs = new FailingMemFileSystem();
    let failTables = false;
    // A full disk for tables only.
    fs.onCreate = (path) => (failTables && path.endsWith('.sst') ? 'fail' : 'pass');
    const tree = await LsmTree.open('/db', { ...base, fs });
    await tree.put('big', new Uint8Array(70 * 1024).fill(7));
    failTables = true;
    // Room for this write switches the full memtable; its flush starts in the background.
    await tree.put('small', 'x');
    expect(tree.stats().memtable.immutableBytes).toBeGreaterThan(0);
    await tree.close();
    const failures = tree.stats().flushes.failures;
    // One failed attempt (maybe two) is expected; hundreds mean a hot retry loop.
    expect(failures).toBeLessThanOrEqual(2);

    failTables = false;
    const reopened = await LsmTree.open('/db', { ...base, fs });
    try {
      expect(fromUtf8(reopened.getSync('small')!)).toBe('x');
      expect(reopened.getSync('big')!.length).toBe(70 * 1024);
    } finally {
      await reopened.close();
    }
  });
});
