/**
 * The crashable in-memory file system with per-path hooks for the faults a test needs beyond
 * CrashableMemFileSystem.injectError (which fails the n-th call of an operation, whatever the
 * file): a create() that fails for some paths only, and sync() calls that fail or wait for the
 * test (to make an fsync-latency race deterministic). Every test that needs such a file system
 * uses this one.
 */
import { IoError } from '../../src/errors.js';
import type { WritableFile } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';

/** What a sync of a file does: sync, fail with EIO, or wait for the promise and then sync. */
export type SyncAction = 'pass' | 'fail' | Promise<void>;

export class FailingMemFileSystem extends CrashableMemFileSystem {
  /** Called before each create(); 'fail' makes it throw ENOSPC (a full disk). */
  onCreate: (path: string) => 'pass' | 'fail' = () => 'pass';
  /**
   * Called at each sync()/syncSync() of a file made by create(). A failing sync() rejects a turn
   * later, as real IO; a promise delays sync() only (syncSync() cannot wait, so it syncs at once).
   */
  onSync: (path: string) => SyncAction = () => 'pass';

  override create(path: string): WritableFile {
    if (this.onCreate(path) === 'fail') throw new IoError(`create ${path}: ENOSPC (test)`);
    const inner = super.create(path);
    const eio = (): IoError => new IoError(`sync ${path}: EIO (test)`);
    return {
      path: inner.path,
      append: (data) => inner.append(data),
      sync: () => {
        const action = this.onSync(path);
        if (action === 'pass') return inner.sync();
        if (action === 'fail') return new Promise<void>((_, reject) => setImmediate(() => reject(eio())));
        return action.then(() => inner.sync());
      },
      syncSync: () => {
        if (this.onSync(path) === 'fail') throw eio();
        inner.syncSync();
      },
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }
}
