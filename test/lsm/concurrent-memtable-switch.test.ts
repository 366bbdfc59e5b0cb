/**
 * Two memtable switches never overlap. flush() switches the memtable inside the write queue's
 * exclusive section (WritePath.switchForFlush), after waiting out the previous immutable
 * memtable's flush; a second flush() meanwhile waits its turn. If two switches overlapped, the
 * later one would replace the immutable memtable while the first one's flush runs and that
 * flush's install would drop it: acknowledged writes gone from reads.
 * (The window is one WAL creation + fsync + directory fsync; a held fsync makes it deterministic.)
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

const base = { engine: 'js' as const, workerPool: false as const };

describe('concurrent memtable switches', () => {
  it('two concurrent flush() calls lose no acknowledged write', async () => {
    const fs = new FailingMemFileSystem();
    // arm(n): the sync() of the n-th WAL created afterwards waits until release().
    let logsUntilHeld = -1;
    let heldPath: string | undefined;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const arm = (nthLog: number): void => {
      logsUntilHeld = nthLog;
    };
    fs.onCreate = (path) => {
      if (path.endsWith('.log') && logsUntilHeld > 0 && --logsUntilHeld === 0) heldPath = path;
      return 'pass';
    };
    fs.onSync = (path) => (path === heldPath ? gate : 'pass');
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      await tree.put('x', '1');
      arm(2); // the second switch's new WAL waits for release()
      const first = tree.flush();
      const second = tree.flush();
      // Microtask turns only: the first switch completes, its flush job (a later turn) has not run.
      for (let i = 0; i < 50 && tree.describe().immutable === undefined; i++) await Promise.resolve();
      expect(tree.describe().immutable).toBeDefined();
      await tree.put('y', '2');
      expect(fromUtf8(tree.getSync('y')!)).toBe('2');
      release();
      await Promise.all([first, second]);
      const y = tree.getSync('y');
      expect(y === undefined ? undefined : fromUtf8(y)).toBe('2');
    } finally {
      await tree.close();
    }
  });
});
