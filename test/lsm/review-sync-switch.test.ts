/**
 * Review finding: a memtable switch started by flush() (not by the write queue) can land while a
 * synced group waits for its WAL fsync. The group was logged in the OLD WAL but is applied to the
 * NEW memtable after the switch, so the flush that follows moves the manifest's log number past the
 * only log that holds it: an acknowledged sync write is gone after a clean close and reopen.
 * (The race window is the WAL fsync latency of a real disk; a gated fsync makes it deterministic.)
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import type { WritableFile } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

/** A crashable file system whose WAL fsyncs can be held until the test releases them. */
class GatedSyncFileSystem extends CrashableMemFileSystem {
  /** Path of the one file whose sync() waits for `gate`; undefined holds nothing. */
  heldPath: string | undefined = undefined;
  private release: () => void = () => undefined;
  private gate: Promise<void> = Promise.resolve();

  hold(path: string): void {
    this.heldPath = path;
    this.gate = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  releaseHeld(): void {
    this.heldPath = undefined;
    this.release();
  }

  override create(path: string): WritableFile {
    const inner = super.create(path);
    const owner = this;
    return {
      path: inner.path,
      append: (data) => inner.append(data),
      sync: () => (owner.heldPath === path ? owner.gate.then(() => inner.sync()) : inner.sync()),
      syncSync: () => inner.syncSync(),
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }
}

const base = { engine: 'js' as const, workerPool: false as const };

describe('review: memtable switch while a synced group waits for its fsync', () => {
  it('keeps an acknowledged sync write across close and reopen', async () => {
    const fs = new GatedSyncFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    await tree.put('a', '1');
    const walBefore = fs.list('/db').filter((n) => n.endsWith('.log'));
    expect(walBefore.length).toBe(1);
    fs.hold(`/db/${walBefore[0]}`);

    // flush() switches the memtable; the synced put is logged in the old WAL meanwhile.
    const flushed = tree.flush();
    const synced = tree.put('b', '2', { sync: true });
    await flushed;
    fs.releaseHeld();
    await synced;
    expect(fromUtf8(tree.getSync('b')!)).toBe('2');
    await tree.close();

    const reopened = await LsmTree.open('/db', { ...base, fs });
    try {
      expect(fromUtf8(reopened.getSync('a')!)).toBe('1');
      const b = reopened.getSync('b');
      expect(b === undefined ? undefined : fromUtf8(b)).toBe('2');
    } finally {
      await reopened.close();
    }
  });
});
