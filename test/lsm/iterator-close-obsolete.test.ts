/**
 * Closing an iterator deletes the files only its version still held, and does nothing more: the
 * directory is listed (to find obsolete files) only when the iterator's version died with it, not
 * on every close. A node opens an iterator per Raft turn and per MVCC read, so a listing per close
 * was a readdir(2) per request.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import type { FileSystem } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { utf8 } from '../../src/util/bytes.js';

/** Counts `list` calls and forwards everything to `inner`. */
function countingLists(inner: FileSystem): { fs: FileSystem; lists: () => number } {
  let lists = 0;
  const fs = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (prop === 'list') lists++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { fs, lists: () => lists };
}

const tableFiles = (mem: CrashableMemFileSystem): string[] => mem.list('/db').filter((n) => n.endsWith('.sst')).sort();

describe('iterator close and obsolete files', () => {
  it('does not list the directory when the iterator\'s version is still the current one', async () => {
    const { fs, lists } = countingLists(new CrashableMemFileSystem());
    const tree = await LsmTree.open('/db', { fs, engine: 'js', workerPool: false });
    try {
      for (let i = 0; i < 10; i++) await tree.put(utf8(`k${i}`), utf8(`v${i}`));
      await tree.flush();
      const before = lists();
      // Bounded: 100 iterators, each read to its end and closed.
      for (let n = 0; n < 100; n++) {
        const it = tree.iterator({ gte: utf8('k') });
        while (it.next());
        it.close();
      }
      expect(lists() - before).toBe(0);
    } finally {
      await tree.close();
    }
  });

  it('deletes the tables a compaction replaced once the last iterator holding them closes', async () => {
    const mem = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { fs: mem, engine: 'js', workerPool: false });
    try {
      await tree.put(utf8('a'), utf8('1'));
      await tree.flush();
      await tree.put(utf8('b'), utf8('2'));
      await tree.flush();
      const old = tableFiles(mem);
      expect(old.length).toBe(2);
      const first = tree.iterator();
      const second = tree.iterator();
      await tree.compact();
      // Both iterators pin the version holding the old tables.
      expect(tableFiles(mem)).toEqual(expect.arrayContaining(old));
      first.close();
      await new Promise((r) => setImmediate(r));
      expect(tableFiles(mem)).toEqual(expect.arrayContaining(old));
      second.close();
      // Unlinks run asynchronously; close() of the tree would wait for them, so poll briefly (bounded).
      for (let n = 0; n < 50 && tableFiles(mem).some((f) => old.includes(f)); n++) await new Promise((r) => setTimeout(r, 10));
      expect(tableFiles(mem).filter((f) => old.includes(f))).toEqual([]);
    } finally {
      await tree.close();
    }
  });
});
