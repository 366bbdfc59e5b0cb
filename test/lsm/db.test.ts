/**
 * LsmTree's public API: argument validation (by error code), group commit, snapshots, describe(),
 * stats(), the directory lock, and recovery after a crash of the crashable file system.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { fromUtf8 } from '../../src/util/bytes.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../../src/lsm/options.js';
import { ProcessFileSystem } from '../helpers/fs-process.js';

const base = { engine: 'js' as const, workerPool: false as const };

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (err) {
    return (err as { code?: string }).code ?? `not a coded error: ${String(err)}`;
  }
  return undefined;
}

describe('LsmTree API', () => {
  it('rejects bad arguments with LSM_ERR_INVALID_ARGUMENT and changes nothing', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      await tree.put('a', '1');
      expect(await codeOf(tree.put('', 'x'))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await codeOf(tree.put(new Uint8Array(KEY_BYTES_MAX + 1), 'x'))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await codeOf(tree.put('k', new Uint8Array(VALUE_BYTES_MAX + 1)))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await codeOf(tree.put(42 as unknown as string, 'x'))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await codeOf(tree.put('k', null as unknown as string))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await codeOf(tree.get(''))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await codeOf(tree.put('k', 'v', { sync: 'yes' as unknown as boolean }))).toBe('LSM_ERR_INVALID_ARGUMENT');
      // A batch with one bad operation writes none of them.
      expect(await codeOf(tree.batch([{ type: 'put', key: 'b', value: '2' }, { type: 'put', key: '', value: '3' }]))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await codeOf(tree.batch([{ type: 'nope', key: 'b' } as never]))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(await tree.get('b')).toBeUndefined();
      expect(await codeOf(() => tree.iterator({ limit: -5 }))).toBe('LSM_ERR_INVALID_ARGUMENT');
      expect(fromUtf8((await tree.get('a'))!)).toBe('1');
    } finally {
      await tree.close();
    }
    expect(await codeOf(LsmTree.open('/db2', { ...base, fs, memtableBytesMax: 5 }))).toBe('LSM_ERR_INVALID_ARGUMENT');
    expect(await codeOf(LsmTree.open('/db2', { ...base, fs, engine: 'rust' as never }))).toBe('LSM_ERR_INVALID_ARGUMENT');
    expect(await codeOf(LsmTree.open('/nowhere', { ...base, fs, createIfMissing: false }))).toBe('LSM_ERR_INVALID_ARGUMENT');
  });

  it('fails every call after close with LSM_ERR_CLOSED', async () => {
    const tree = await LsmTree.open('/db', { ...base, fs: new CrashableMemFileSystem() });
    await tree.close();
    expect(await codeOf(tree.put('a', 'b'))).toBe('LSM_ERR_CLOSED');
    expect(await codeOf(tree.get('a'))).toBe('LSM_ERR_CLOSED');
    expect(await codeOf(() => tree.iterator())).toBe('LSM_ERR_CLOSED');
    expect(await codeOf(tree.flush())).toBe('LSM_ERR_CLOSED');
  });

  it('gives LSM_ERR_LOCKED to a second open of the same directory', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    expect(await codeOf(LsmTree.open('/db', { ...base, fs }))).toBe('LSM_ERR_LOCKED');
    await tree.close();
    const again = await LsmTree.open('/db', { ...base, fs });
    await again.close();
  });

  it('group-commits concurrent synced writes into one log write and one fsync', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs });
    try {
      const before = { ...fs.counts };
      await Promise.all(Array.from({ length: 100 }, (_, i) => tree.put(`k${i}`, `v${i}`, { sync: true })));
      const after = { ...fs.counts };
      expect(after.syncs - before.syncs).toBe(1);
      expect(after.appends - before.appends).toBe(1);
      expect(tree.stats().writes.groups).toBe(1);
    } finally {
      await tree.close();
    }
  });

  it('keeps acknowledged synced writes and drops unsynced ones across a crash', async () => {
    const memfs = new CrashableMemFileSystem();
    const pfs = new ProcessFileSystem(memfs);
    const tree = await LsmTree.open('/db', { ...base, fs: pfs, memtableBytesMax: 64 * 1024 });
    for (let i = 0; i < 3000; i++) await tree.put(`k${String(i).padStart(5, '0')}`, `v${i}`, { sync: i % 100 === 99 });
    // Unsynced tail: k3000.. are written to the OS but never synced.
    for (let i = 3000; i < 3050; i++) await tree.put(`k${String(i).padStart(5, '0')}`, `v${i}`);
    pfs.kill();
    memfs.crash();
    const reopened = await LsmTree.open('/db', { ...base, fs: new ProcessFileSystem(memfs) });
    try {
      for (let i = 0; i < 3000; i++) expect(fromUtf8((await reopened.get(`k${String(i).padStart(5, '0')}`))!)).toBe(`v${i}`);
      for (let i = 3000; i < 3050; i++) expect(await reopened.get(`k${String(i).padStart(5, '0')}`)).toBeUndefined();
    } finally {
      await reopened.close();
    }
  });

  it('gives snapshots a stable view for gets and iterators', async () => {
    const tree = await LsmTree.open('/db', { ...base, fs: new CrashableMemFileSystem() });
    try {
      await tree.put('a', '1');
      await tree.put('b', '1');
      const snap = tree.snapshot();
      await tree.put('a', '2');
      await tree.delete('b');
      await tree.put('c', '2');
      await tree.flush();
      await tree.compact();
      expect(fromUtf8((await tree.get('a', { snapshot: snap }))!)).toBe('1');
      expect(fromUtf8((await tree.get('b', { snapshot: snap }))!)).toBe('1');
      expect(await tree.get('c', { snapshot: snap })).toBeUndefined();
      const seen: string[] = [];
      for await (const [k, v] of tree.scan({ snapshot: snap })) seen.push(`${fromUtf8(k)}=${fromUtf8(v)}`);
      expect(seen).toEqual(['a=1', 'b=1']);
      snap.release();
      expect(await codeOf(tree.get('a', { snapshot: snap }))).toBe('LSM_ERR_INVALID_ARGUMENT');
      const now: string[] = [];
      for await (const [k, v] of tree.scan({ reverse: true })) now.push(`${fromUtf8(k)}=${fromUtf8(v)}`);
      expect(now).toEqual(['c=2', 'a=2']);
    } finally {
      await tree.close();
    }
  });

  it('describes its structure as data and as a printable tree', async () => {
    const tree = await LsmTree.open('/db', { ...base, fs: new CrashableMemFileSystem() });
    try {
      for (let i = 0; i < 100; i++) await tree.put(`key${String(i).padStart(3, '0')}`, 'v');
      await tree.flush();
      await tree.put('zz', 'in memtable');
      const d = tree.describe();
      expect(d.memtable.entries).toBe(1);
      const l0 = d.levels[0]!;
      expect(l0.files).toHaveLength(1);
      expect(l0.files[0]!.entries).toBe(100);
      expect(l0.files[0]!.smallestKey).toBe('key000');
      expect(l0.files[0]!.largestKey).toBe('key099');
      const text = d.toString();
      expect(text).toContain('L0: 1 file');
      expect(text).toContain('[key000 .. key099]');
      expect(text).toContain('memtable: 1 entries');
      const stats = tree.stats();
      expect(stats.flushes.count).toBe(1);
      expect(stats.levels[0]!.files).toBe(1);
      expect(stats.writes.puts).toBe(101);
    } finally {
      await tree.close();
    }
  });

  it('records write metadata with the flush that makes it durable (a tree without a WAL)', async () => {
    const memfs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...base, fs: memfs, wal: false });
    await tree.put('a', '1', { meta: new Uint8Array([7]) });
    expect(tree.userMeta).toBeUndefined();
    await tree.flush();
    expect([...tree.userMeta!]).toEqual([7]);
    await tree.put('b', '2', { meta: new Uint8Array([8]) });
    await tree.close(); // without a WAL, close flushes
    const reopened = await LsmTree.open('/db', { ...base, fs: memfs, wal: false });
    expect([...reopened.userMeta!]).toEqual([8]);
    expect(fromUtf8((await reopened.get('b'))!)).toBe('2');
    await reopened.close();
  });
});
