/**
 * Review finding: two memtable switches can run at once. switchMemtable() checks "no immutable
 * memtable" on entry and then awaits the next WAL's preparation; a second caller (a second
 * flush(), or makeRoomSlow() from the write queue) passes the same check meanwhile. The later
 * switch then overwrites `imm` while the first one's flush is running, and that flush's install
 * sets `imm = undefined`: the memtable in between (with acknowledged writes) vanishes from reads,
 * and its WAL is retired by the flush's log number.
 * (The window is one WAL creation + fsync + directory fsync; a held fsync makes it deterministic.)
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import type { WritableFile } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';

/** Holds the sync() of the n-th WAL created after arm(n) until release(). */
class GatedLogFileSystem extends CrashableMemFileSystem {
  private logsUntilHeld = -1;
  private heldPath: string | undefined = undefined;
  private releaseGate: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => {
    this.releaseGate = resolve;
  });

  arm(nthLog: number): void {
    this.logsUntilHeld = nthLog;
  }

  release(): void {
    this.releaseGate();
  }

  override create(path: string): WritableFile {
    const inner = super.create(path);
    if (path.endsWith('.log') && this.logsUntilHeld > 0 && --this.logsUntilHeld === 0) this.heldPath = path;
    const held = this.heldPath === path;
    return {
      path: inner.path,
      append: (data) => inner.append(data),
      sync: () => (held ? this.gate.then(() => inner.sync()) : inner.sync()),
      syncSync: () => inner.syncSync(),
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }
}

const base = { engine: 'js' as const, workerPool: false as const };

describe('review: concurrent memtable switches', () => {
  it('two concurrent flush() calls lose no acknowledged write', async () => {
    const fs = new GatedLogFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      await tree.put('x', '1');
      fs.arm(2); // the second switch's new WAL waits for release()
      const first = tree.flush();
      const second = tree.flush();
      // Microtask turns only: the first switch completes, its flush job (a later turn) has not run.
      for (let i = 0; i < 50 && tree.describe().immutable === undefined; i++) await Promise.resolve();
      expect(tree.describe().immutable).toBeDefined();
      await tree.put('y', '2');
      expect(fromUtf8(tree.getSync('y')!)).toBe('2');
      fs.release();
      await Promise.all([first, second]);
      const y = tree.getSync('y');
      expect(y === undefined ? undefined : fromUtf8(y)).toBe('2');
    } finally {
      await tree.close();
    }
  });
});
