/**
 * TreeIterator.nextv(n): the same entries as next() one at a time, in chunks of at most n, for any
 * range, direction, limit and snapshot, over a memtable and tables; a bad count or a closed
 * iterator is a typed error.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { NEXTV_COUNT_MAX, type TreeIterator } from '../../src/lsm/tree-iterator.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { errorCodeOf } from '../helpers/expect.js';

const base = { engine: 'js' as const, workerPool: false as const };
const KEYS_COUNT = 500;
const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

/** Every entry left, one next() at a time. */
function oneByOne(it: TreeIterator): string[] {
  const out: string[] = [];
  // Bounded by the tree's KEYS_COUNT keys.
  while (it.next()) out.push(`${fromUtf8(it.key())}=${fromUtf8(it.value())}`);
  it.close();
  return out;
}

/** Every entry left by nextv(chunk); each chunk full but the last. */
function inChunks(it: TreeIterator, chunk: number): string[] {
  const out: string[] = [];
  // Bounded by the tree's KEYS_COUNT keys: each round takes at least one, or ends.
  for (let got = it.nextv(chunk); got.length > 0; got = it.nextv(chunk)) {
    for (const [k, v] of got) out.push(`${fromUtf8(k)}=${fromUtf8(v)}`);
    if (got.length < chunk) expect(it.nextv(chunk)).toEqual([]);
  }
  it.close();
  return out;
}

describe('TreeIterator.nextv', () => {
  it('yields what next() yields, in chunks, for ranges, reverse, limits and snapshots', async () => {
    const tree = await LsmTree.open('/db', { ...base, fs: new CrashableMemFileSystem() });
    for (let i = 0; i < KEYS_COUNT; i++) await tree.put(key(i), `v${i}`);
    await tree.flush();
    const snap = tree.snapshot();
    // Later writes, in the memtable: overwrites and deletes the snapshot does not see.
    for (let i = 0; i < KEYS_COUNT; i += 3) await tree.put(key(i), `w${i}`);
    for (let i = 1; i < KEYS_COUNT; i += 7) await tree.delete(key(i));
    const cases = [
      {},
      { reverse: true },
      { gte: key(100), lt: key(350) },
      { gt: key(10), lte: key(499), reverse: true, limit: 77 },
      { limit: 1 },
      { snapshot: snap },
      { snapshot: snap, reverse: true, gte: key(42) },
    ];
    for (const options of cases) {
      const expected = oneByOne(tree.iterator(options));
      expect(expected.length).toBeGreaterThan(0);
      for (const chunk of [1, 13, 1000]) expect(inChunks(tree.iterator(options), chunk)).toEqual(expected);
    }
    // nextv() and next() interleave on one cursor.
    const it = tree.iterator();
    const firstTwo = it.nextv(2).map(([k]) => fromUtf8(k));
    expect(it.next()).toBe(true);
    expect([...firstTwo, fromUtf8(it.key())]).toEqual(oneByOne(tree.iterator({ limit: 3 })).map((e) => e.split('=')[0]));
    // After nextv() there is no current entry.
    it.nextv(5);
    expect(errorCodeOf(() => it.key())).toBe('LSM_ERR_ITERATOR_NOT_POSITIONED');
    it.close();
    snap.release();
    await tree.close();
  });

  it('refuses a count outside [1, NEXTV_COUNT_MAX] and a closed iterator, with typed errors', async () => {
    const tree = await LsmTree.open('/db', { ...base, fs: new CrashableMemFileSystem() });
    await tree.put('a', '1');
    const it = tree.iterator();
    for (const bad of [0, -1, 1.5, NaN, NEXTV_COUNT_MAX + 1, '3' as unknown as number]) {
      expect(errorCodeOf(() => it.nextv(bad))).toBe('LSM_ERR_INVALID_ARGUMENT');
    }
    expect(it.nextv(NEXTV_COUNT_MAX)).toHaveLength(1);
    it.close();
    expect(errorCodeOf(() => it.nextv(1))).toBe('LSM_ERR_CLOSED');
    await tree.close();
  });
});
