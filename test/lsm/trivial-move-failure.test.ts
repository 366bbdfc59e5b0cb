/**
 * A trivial move whose manifest edit fails is counted and recorded like any failed compaction
 * (stats().compactions.failures, backgroundErrors) and retried only after the backoff
 * (Background.recordError), not at once in a hot loop of manifest rewrites.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';

const base = { engine: 'js' as const, workerPool: false as const, l0CompactionTrigger: 1 };

describe('failing trivial move', () => {
  it('is counted, recorded and retried with backoff', async () => {
    const fs = new FailingMemFileSystem();
    // Manifest fsyncs after the first `manifestSyncsAllowed` fail (EIO).
    let manifestSyncsAllowed = Infinity;
    let manifestSyncs = 0;
    let failedManifestSyncs = 0;
    fs.onSync = (path) => {
      if (!path.includes('MANIFEST')) return 'pass';
      manifestSyncs++;
      if (manifestSyncs <= manifestSyncsAllowed) return 'pass';
      failedManifestSyncs++;
      return 'fail';
    };
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      await tree.put('a', '1');
      // The flush's own edit may sync; every manifest sync after it fails (the trivial move's).
      manifestSyncsAllowed = manifestSyncs + 1;
      await tree.flush();
      expect(tree.stats().levels[0]!.files).toBe(1);
      // 30 ms: shorter than the first retry backoff (50 ms), long enough for a hot loop to show.
      const until = Date.now() + 30;
      for (let turn = 0; turn < 10_000 && Date.now() < until; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      const s = tree.stats();
      expect({
        failures: s.compactions.failures,
        backgroundErrors: s.backgroundErrors,
        attemptsAtMost3: failedManifestSyncs <= 3,
      }).toEqual({ failures: 1, backgroundErrors: 1, attemptsAtMost3: true });
    } finally {
      manifestSyncsAllowed = Infinity;
      await tree.close();
    }
  });
});
