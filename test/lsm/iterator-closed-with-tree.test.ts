/**
 * close() closes the iterators still open (TreeCore.liveIterators): afterwards an iterator fails
 * with LSM_ERR_CLOSED and opens no table file through the closed tree's table cache (a handle
 * leaked past the release of the directory lock, while another process may compact those files).
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };

describe('iterator open across close()', () => {
  it('is closed with the tree and opens no table afterwards', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    for (let i = 0; i < 10; i++) await tree.put(`k${i}`, 'v');
    await tree.compact(); // the keys now live in one table below L0, read through a LevelIterator
    const it = tree.iterator();
    await tree.close();
    expect(tree.stats().openTables).toBe(0);
    let code: string | undefined;
    let entries = 0;
    try {
      // Bounded: the tree holds 10 keys.
      for (let i = 0; i < 20 && it.next(); i++) entries++;
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    it.close();
    expect({ entries, code, openTables: tree.stats().openTables }).toEqual({ entries: 0, code: 'LSM_ERR_CLOSED', openTables: 0 });
  });
});
