/**
 * Review finding: a flush that fails while close() waits for it is retried at once, with no
 * backoff, again and again. maybeScheduleFlush() only refuses when the state is 'closed', while
 * recordBackgroundError() arms no retry timer unless the state is 'open'; so during 'closing' each
 * failed flush's finally() schedules the next attempt immediately. close() waits up to 1000 of
 * them, then marks the tree closed with the last attempt still running (the runner and table
 * cache are closed under it). With a WAL the memtable needs no flush at close at all.
 */
import { describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import type { WritableFile } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

/** Table files cannot be created while `failTables` is set (a full disk, for tables only). */
class FailingTablesFileSystem extends CrashableMemFileSystem {
  failTables = false;
  override create(path: string): WritableFile {
    if (this.failTables && path.endsWith('.sst')) throw new IoError(`create ${path}: ENOSPC (test)`);
    return super.create(path);
  }
}

const base = { engine: 'js' as const, workerPool: false as const, memtableBytesMax: 64 * 1024 };

describe('review: close() while a flush keeps failing', () => {
  it('does not retry the flush without backoff during close', async () => {
    const fs = new FailingTablesFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    await tree.put('big', new Uint8Array(70 * 1024).fill(7));
    fs.failTables = true;
    // Room for this write switches the full memtable; its flush starts in the background.
    await tree.put('small', 'x');
    expect(tree.stats().memtable.immutableBytes).toBeGreaterThan(0);
    await tree.close();
    const failures = tree.stats().flushes.failures;
    // One failed attempt (maybe two) is expected; hundreds mean a hot retry loop.
    expect(failures).toBeLessThanOrEqual(2);

    fs.failTables = false;
    const reopened = await LsmTree.open('/db', { ...base, fs });
    try {
      expect(fromUtf8(reopened.getSync('small')!)).toBe('x');
      expect(reopened.getSync('big')!.length).toBe(70 * 1024);
    } finally {
      await reopened.close();
    }
  });
});
