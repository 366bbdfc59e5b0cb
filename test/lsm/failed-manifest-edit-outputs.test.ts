/**
 * The output tables of a job whose manifest edit failed are kept until a later edit succeeds
 * (TreeCore.uncertainOutputs). version-set.ts says a failed edit's outcome is unknown until then:
 * the record may be on disk in the old manifest (a failed fsync after a write the disk kept), and
 * if a crash comes first, recovery replays the edit and must find every table it names.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

const base = { engine: 'js' as const, workerPool: false as const, memtableBytesMax: 64 * 1024 };

describe('tables of a failed manifest edit', () => {
  it('are kept until a later edit succeeds, so a crash cannot leave the manifest naming a deleted table', async () => {
    const fs = new FailingMemFileSystem();
    let failManifestSync = false;
    // Manifest fsyncs fail (EIO) while set; the appended bytes stay written.
    fs.onSync = (path) => (failManifestSync && path.includes('MANIFEST') ? 'fail' : 'pass');
    const tree = await LsmTree.open('/db', { ...base, fs });
    await tree.put('a', '1', { sync: true });
    failManifestSync = true;
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
    failManifestSync = false;

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
