/**
 * The blockCompression option end to end (docs/format/sstable.md "Compressed blocks"): a tree
 * writes version-1 tables with 'none' and version-2 tables with LZ4 data blocks by default; a tree
 * of old tables reopened with compression on reads them, and its compactions rewrite them smaller.
 * Both engines.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8, getFixed32 } from '../../src/util/bytes.js';
import { errorCodeOf } from '../helpers/expect.js';

const KEYS = 2000;

/** Footer format version of each table file of the tree, and their total bytes. */
function tables(fs: CrashableMemFileSystem): { versions: Set<number>; bytes: number } {
  const versions = new Set<number>();
  let bytes = 0;
  for (const name of fs.list('/db').filter((n) => n.endsWith('.sst'))) {
    const file = fs.readFile(`/db/${name}`);
    versions.add(getFixed32(file, file.length - 16));
    bytes += file.length;
  }
  return { versions, bytes };
}

const value = (i: number): string => `value-${i % 7}-${'abcdefgh'.repeat(8)}`;

async function expectAll(tree: LsmTree): Promise<void> {
  let n = 0;
  for await (const [k, v] of tree.scan({})) {
    const i = Number(fromUtf8(k).slice(3));
    expect(fromUtf8(v)).toBe(value(i));
    n++;
  }
  expect(n).toBe(KEYS);
}

describe('blockCompression', () => {
  for (const engine of ['js', 'wasm'] as const) {
    it(`${engine}: 'none' writes v1 tables; reopened with the default, they read and compact into smaller v2 tables`, async () => {
      const fs = new CrashableMemFileSystem();
      // L0 files pile up uncompacted until compact() merges them all.
      const options = {
        fs, engine, workerPool: false as const, wal: false, memtableBytesMax: 64 * 1024, l0CompactionTrigger: 50, l0StopWritesTrigger: 100,
      };
      const plain = await LsmTree.open('/db', { ...options, blockCompression: 'none' });
      // Keys in a scattered order: every table spans the key range, so compact() rewrites them all.
      for (let j = 0; j < KEYS; j++) {
        const i = (j * 7919) % KEYS;
        await plain.put(`key${String(i).padStart(6, '0')}`, value(i));
      }
      await plain.flush();
      await plain.close();
      const before = tables(fs);
      expect(before.versions).toEqual(new Set([1]));
      expect(fs.list('/db').filter((n) => n.endsWith('.sst')).length).toBeGreaterThan(1);

      const tree = await LsmTree.open('/db', options);
      try {
        await expectAll(tree);
        expect(fromUtf8((await tree.get('key000123'))!)).toBe(value(123));
        await tree.compact();
        const after = tables(fs);
        expect(after.versions).toEqual(new Set([2]));
        // Repetitive values: LZ4 takes well over 1/8 off.
        expect(after.bytes).toBeLessThan(before.bytes / 2);
        await expectAll(tree);
      } finally {
        await tree.close();
      }
    });
  }

  it('is checked at the edge', async () => {
    const fs = new CrashableMemFileSystem();
    const code = await LsmTree.open('/db', { fs, workerPool: false, blockCompression: 'gzip' as 'lz4' }).then(
      () => undefined, (err: unknown) => errorCodeOf(() => { throw err; }));
    expect(code).toBe('LSM_ERR_INVALID_ARGUMENT');
  });
});
