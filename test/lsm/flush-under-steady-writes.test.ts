/**
 * flush() (and so compact() and checkpoint(), which start with it) flushes what was written before
 * the call and returns, while writes keep arriving: it waits for the memtable switched at the call
 * (TreeCore.flushedSwitches), not for an empty memtable, as leveldb's CompactMemTable flushes the
 * memtable as of the call. A steady writer (a Raft node applying entries) must not keep it waiting.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };
const WRITER_MS_MAX = 1_500;

describe('flush() under a steady writer', () => {
  it('returns after flushing what was written before the call', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      await tree.put('before', '1');
      let flushed = false;
      const flushing = tree.flush().then(() => {
        flushed = true;
      });
      // One write per event-loop turn until flush() returns or the time bound passes.
      const until = Date.now() + WRITER_MS_MAX;
      let writes = 0;
      for (; writes < 100_000 && !flushed && Date.now() < until; writes++) {
        await tree.put(`w${writes}`, 'x');
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const flushesWhileWriting = tree.stats().flushes.count;
      await flushing; // the writer has stopped: now it converges
      // One flush() call, one memtable's worth of writes before it: one flush (two at most if a
      // switch was already due). Each write made during the flush caused another switch and flush.
      expect(flushesWhileWriting, `${writes} writes during flush(), flush() returned: ${flushed}`).toBeLessThanOrEqual(2);
    } finally {
      await tree.close();
    }
  });
});
