/**
 * Review finding: a trivial move whose manifest edit fails is neither counted nor recorded, and is
 * retried at once without backoff. runCompaction() returns straight from logAndApply() for a
 * trivial move, outside the try/catch that counts a failure and arms the retry timer;
 * maybeScheduleCompaction() swallows the rejection ("already recorded by runCompaction") and its
 * finally() picks the same move again immediately: a hot loop of manifest rewrites for as long as
 * the disk fails, and stats() shows no failure and no background error.
 */
import { describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import type { WritableFile } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';

/** Manifest fsyncs after the first `manifestSyncsAllowed` fail (EIO, a turn later, as real IO). */
class FailingManifestSyncFileSystem extends CrashableMemFileSystem {
  manifestSyncsAllowed = Infinity;
  manifestSyncs = 0;
  failedManifestSyncs = 0;
  override create(path: string): WritableFile {
    const inner = super.create(path);
    const isManifest = path.includes('MANIFEST');
    const failNow = (): boolean => {
      if (!isManifest) return false;
      this.manifestSyncs++;
      if (this.manifestSyncs <= this.manifestSyncsAllowed) return false;
      this.failedManifestSyncs++;
      return true;
    };
    return {
      path: inner.path,
      append: (data) => inner.append(data),
      sync: () => {
        if (!failNow()) return inner.sync();
        return new Promise<void>((_, reject) => setImmediate(() => reject(new IoError(`sync ${path}: EIO (test)`))));
      },
      syncSync: () => {
        if (failNow()) throw new IoError(`sync ${path}: EIO (test)`);
        inner.syncSync();
      },
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }
}

const base = { engine: 'js' as const, workerPool: false as const, l0CompactionTrigger: 1 };

describe('review: failing trivial move', () => {
  it('is counted, recorded and retried with backoff', async () => {
    const fs = new FailingManifestSyncFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      await tree.put('a', '1');
      // The flush's own edit may sync; every manifest sync after it fails (the trivial move's).
      fs.manifestSyncsAllowed = fs.manifestSyncs + 1;
      await tree.flush();
      expect(tree.stats().levels[0]!.files).toBe(1);
      // 30 ms: shorter than the first retry backoff (50 ms), long enough for a hot loop to show.
      const until = Date.now() + 30;
      for (let turn = 0; turn < 10_000 && Date.now() < until; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      const s = tree.stats();
      expect({
        failures: s.compactions.failures,
        backgroundErrors: s.backgroundErrors,
        attemptsAtMost3: fs.failedManifestSyncs <= 3,
      }).toEqual({ failures: 1, backgroundErrors: 1, attemptsAtMost3: true });
    } finally {
      fs.manifestSyncsAllowed = Infinity;
      await tree.close();
    }
  });
});
