/**
 * A TreeIterator read while it has no current entry (before next(), after the end of its range,
 * after close()) is a caller's mistake, not a bug of the tree: key() and value() fail with a typed
 * error (LSM_ERR_ITERATOR_NOT_POSITIONED, or LSM_ERR_CLOSED once closed), never an assertion failure.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';

const base = { engine: 'js' as const, workerPool: false as const };

function codeOf(read: () => unknown): string | undefined {
  try {
    read();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('TreeIterator without a current entry', () => {
  it('fails key() and value() with a typed error before next(), after the end and after close()', async () => {
    const tree = await LsmTree.open('/db', { ...base, fs: new CrashableMemFileSystem() });
    await tree.put('a', '1');
    const it = tree.iterator();
    const before = [codeOf(() => it.key()), codeOf(() => it.value())];
    expect(it.next()).toBe(true);
    const positioned = [codeOf(() => it.key()), codeOf(() => it.value())];
    expect(it.next()).toBe(false);
    const exhausted = [codeOf(() => it.key()), codeOf(() => it.value())];
    it.seek('a');
    const afterSeek = codeOf(() => it.key());
    it.close();
    const closed = [codeOf(() => it.key()), codeOf(() => it.value())];
    await tree.close();
    const nop = 'LSM_ERR_ITERATOR_NOT_POSITIONED';
    expect({ before, positioned, exhausted, afterSeek, closed }).toEqual({
      before: [nop, nop],
      positioned: [undefined, undefined],
      exhausted: [nop, nop],
      afterSeek: nop,
      closed: ['LSM_ERR_CLOSED', 'LSM_ERR_CLOSED'],
    });
  });
});
