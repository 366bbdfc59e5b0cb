/**
 * A memtable switch started by flush() never lands while a synced group waits for its WAL fsync:
 * the switch runs between write groups (WritePath.switchForFlush), so a group logged in the old
 * WAL is applied to the old memtable, and the flush that follows moves the manifest's log number
 * past that WAL only once its writes are in tables. An acknowledged sync write survives a clean
 * close and reopen.
 * (The race window is the WAL fsync latency of a real disk; a held fsync makes it deterministic.)
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

const base = { engine: 'js' as const, workerPool: false as const };

describe('memtable switch while a synced group waits for its fsync', () => {
  it('keeps an acknowledged sync write across close and reopen', async () => {
    const fs = new FailingMemFileSystem();
    // hold(path): that file's sync() waits until releaseHeld().
    let heldPath: string | undefined;
    let releaseHeld: () => void = () => undefined;
    let gate: Promise<void> = Promise.resolve();
    const hold = (path: string): void => {
      heldPath = path;
      gate = new Promise((resolve) => {
        releaseHeld = () => {
          heldPath = undefined;
          resolve();
        };
      });
    };
    fs.onSync = (path) => (path === heldPath ? gate : 'pass');
    const tree = await LsmTree.open('/db', { ...base, fs });
    await tree.put('a', '1');
    const walBefore = fs.list('/db').filter((n) => n.endsWith('.log'));
    expect(walBefore.length).toBe(1);
    hold(`/db/${walBefore[0]}`);

    // flush() switches the memtable; the synced put is logged in the old WAL meanwhile.
    const flushed = tree.flush();
    const synced = tree.put('b', '2', { sync: true });
    // The flush writes its table only after the old WAL's fsync settles (TreeCore.immWalSync): hold
    // the fsync until the switch has landed (a second WAL exists), then release it. Bounded wait.
    for (let i = 0; i < 1000 && fs.list('/db').filter((n) => n.endsWith('.log')).length < 2; i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(fs.list('/db').filter((n) => n.endsWith('.log')).length).toBe(2);
    releaseHeld();
    await Promise.all([flushed, synced]);
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
