/**
 * Review finding: when a flush's logAndApply() fails, its output tables are deleted at once
 * (runFlush's finally drops them from pendingOutputs and collects garbage; runCompaction does the
 * same). But version-set.ts says the failed edit's outcome is unknown until the next logAndApply()
 * succeeds: the record may be on disk in the old manifest (a failed fsync after a write the disk
 * kept), so the caller must keep those files. If a crash comes first, recovery replays the edit
 * and names a table that no longer exists.
 */
import { describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import type { WritableFile } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

/** Manifest fsyncs fail (EIO) while `failManifestSync` is set; the appended bytes stay written. */
class FailingManifestSyncFileSystem extends CrashableMemFileSystem {
  failManifestSync = false;
  override create(path: string): WritableFile {
    const inner = super.create(path);
    const isManifest = path.includes('MANIFEST');
    const fail = (): boolean => this.failManifestSync && isManifest;
    return {
      path: inner.path,
      append: (data) => inner.append(data),
      sync: () => (fail() ? Promise.reject(new IoError(`sync ${path}: EIO (test)`)) : inner.sync()),
      syncSync: () => {
        if (fail()) throw new IoError(`sync ${path}: EIO (test)`);
        inner.syncSync();
      },
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }
}

const base = { engine: 'js' as const, workerPool: false as const, memtableBytesMax: 64 * 1024 };

describe('review: tables of a failed manifest edit', () => {
  it('are kept until a later edit succeeds, so a crash cannot leave the manifest naming a deleted table', async () => {
    const fs = new FailingManifestSyncFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    await tree.put('a', '1', { sync: true });
    fs.failManifestSync = true;
    let flushCode: string | undefined;
    try {
      await tree.flush();
    } catch (err) {
      flushCode = (err as { code?: string }).code;
    }
    expect(flushCode).toBeDefined();
    // Half a memtable of synced writes: the tree pre-creates its next WAL, syncing the directory.
    await tree.put('b', new Uint8Array(40 * 1024).fill(1), { sync: true });
    await tree.put('c', '3', { sync: true });
    fs.crash({ keepUnsyncedBytes: (n) => n }); // the disk wrote the manifest record before EIO
    fs.failManifestSync = false;

    let reopened: LsmTree | undefined;
    let openError: unknown;
    try {
      reopened = await LsmTree.open('/db', { ...base, fs });
    } catch (err) {
      openError = err;
    }
    try {
      expect(String(openError ?? '')).toBe('');
      expect(fromUtf8(reopened!.getSync('a')!)).toBe('1');
      expect(fromUtf8(reopened!.getSync('c')!)).toBe('3');
    } finally {
      await reopened?.close();
    }
  });
});
