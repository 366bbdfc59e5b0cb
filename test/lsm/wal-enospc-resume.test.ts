/**
 * A WAL append or sync that fails (disk full) does not fail the tree for good: once space is
 * free, writes resume without a reopen, on a fresh WAL, after the memtable the failed log held is
 * flushed (src/lsm/write-path.ts, "After a failed WAL write"). Every write acknowledged as synced,
 * before or after the failure, is there after a crash (the crashable in-memory file system).
 */
import { describe, expect, it } from 'vitest';
import { LsmraftError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };
const k = (i: number) => `key-${String(i).padStart(4, '0')}`;

async function expectAllAcked(fs: FailingMemFileSystem, acked: number[]): Promise<void> {
  fs.crash();
  const reopened = await LsmTree.open('/db', { ...base, fs });
  try {
    for (const i of acked) expect(fromUtf8(reopened.getSync(k(i))!), `acknowledged write ${i}`).toBe(`v${i}`);
  } finally {
    await reopened.close();
  }
}

describe('WAL write failure then free space', () => {
  it('an append that hits ENOSPC: later writes resume without reopen, acknowledged ones survive a crash', async () => {
    const fs = new FailingMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    // Acknowledged, not synced: a synced write acknowledged later must imply they are durable.
    const acked = Array.from({ length: 10 }, (_, i) => i);
    for (const i of acked) await tree.put(k(i), `v${i}`);
    fs.injectError('append', { code: 'ENOSPC' });
    const err = await tree.put(k(10), 'v10', { sync: true }).then(() => undefined, (e: unknown) => e);
    expect((err as LsmraftError).code).toBe('LSM_ERR_IO');
    // Space is free again (the fault was one call): writes resume by themselves, on a fresh WAL
    // once the memtable the failed one covered is a table (nothing ever synced that log).
    for (let i = 11; i < 30; i++) {
      await tree.put(k(i), `v${i}`, { sync: true });
      acked.push(i);
    }
    expect(tree.stats().background.state).toBe('ok');
    expect(tree.getSync(k(10))).toBeUndefined();
    await expectAllAcked(fs, acked);
  });

  it('a WAL sync that fails: later writes resume on a fresh WAL, acknowledged ones survive a crash', async () => {
    const fs = new FailingMemFileSystem();
    let failWalSyncs = 0;
    fs.onSync = (path) => (path.endsWith('.log') && failWalSyncs-- > 0 ? 'fail' : 'pass');
    const tree = await LsmTree.open('/db', { ...base, fs });
    // Acknowledged, not synced: only the failed fsync below would have made them durable.
    for (let i = 0; i < 10; i++) await tree.put(k(i), `v${i}`);
    failWalSyncs = 1;
    const err = await tree.put(k(10), 'v10', { sync: true }).then(() => undefined, (e: unknown) => e);
    expect((err as LsmraftError).code).toBe('LSM_ERR_IO');
    expect(tree.stats().background.state).toBe('retrying');
    // flush() alone recovers: it moves to a fresh WAL and installs the memtable as a table.
    await tree.flush();
    expect(tree.stats().background.state).toBe('ok');
    // A synced write acknowledged after the failure implies every earlier acknowledged write is
    // durable (prefix durability), 0..9 included, although their log's fsync failed.
    const acked = Array.from({ length: 10 }, (_, i) => i);
    for (let i = 11; i < 30; i++) {
      await tree.put(k(i), `v${i}`, { sync: i % 2 === 0 });
      if (i % 2 === 0) acked.push(i - 1, i);
    }
    await expectAllAcked(fs, acked);
  });
});
