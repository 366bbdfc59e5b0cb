/**
 * Deleting files nothing needs any more (after leveldb's DBImpl::RemoveObsoleteFiles and Pebble's
 * obsolete_files.go): tables no version references and no running job will install, logs older
 * than the oldest log a memtable still depends on, manifests other than the live one. Unlinks run
 * off the main thread; close() waits for them (settled()).
 *
 * A deletion need not be durable: a file that reappears after a crash is deleted again at open.
 */
import { LsmraftError } from '../errors.js';
import { joinPath, parseFileName } from './filenames.js';
import type { TreeCore } from './tree-core.js';

export class ObsoleteFiles {
  /** Names of obsolete files being unlinked, and those unlinks. */
  private readonly deleting = new Set<string>();
  private readonly removals = new Set<Promise<void>>();

  /** `onError` gets each typed IO error of a list or an unlink (the disk went away). */
  constructor(
    private readonly core: TreeCore,
    private readonly onError: (err: LsmraftError) => void,
  ) {}

  /**
   * Starts deleting every obsolete file. Throws a typed error if the directory cannot be listed;
   * a failed unlink goes to onError.
   */
  deleteNow(): void {
    const core = this.core;
    const keep = core.uncertainOutputs.size === 0 ? core.pendingOutputs : new Set([...core.pendingOutputs, ...core.uncertainOutputs]);
    for (const name of core.versions.obsoleteFiles(core.fs.list(core.dir), keep)) {
      if (this.deleting.has(name)) continue;
      const parsed = parseFileName(name)!;
      if (parsed.type === 'table') core.tableCache.evict(parsed.number);
      this.deleting.add(name);
      const removal = core.fs.removeAsync(joinPath(core.dir, name)).then(
        () => {
          this.deleting.delete(name);
        },
        (err: unknown) => {
          this.deleting.delete(name);
          if (!(err instanceof LsmraftError)) throw err;
          this.onError(err);
        },
      );
      this.removals.add(removal);
      void removal.finally(() => this.removals.delete(removal));
    }
  }

  /**
   * deleteNow() for background paths: a failure to list (the disk went away) goes to onError too,
   * to be retried with the next job, not thrown into a detached promise.
   */
  collect(): void {
    try {
      this.deleteNow();
    } catch (err) {
      if (!(err instanceof LsmraftError)) throw err;
      this.onError(err);
    }
  }

  /** Resolves once every unlink started so far has finished (either way). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.removals]);
  }
}
