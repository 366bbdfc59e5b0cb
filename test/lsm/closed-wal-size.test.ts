/**
 * The final WAL size a clean close records in the manifest (docs/format/manifest.md, tag 9; after
 * RocksDB's track_and_verify_wals_in_manifest). The close synced that WAL, so no crash can shorten
 * it or tear its last record: a WAL shorter or longer than recorded, or with any bad record, is a
 * disk that lost synced bytes, and open refuses it (LSM_ERR_CORRUPTION naming the WAL, deleting
 * nothing) instead of dropping its tail as torn. A crash during the close, and a crash after the
 * next open (whose new WAL has no recorded size), still open with every acknowledged write.
 */
import { appendFileSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../src/errors.js';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { readAll, SMALL_TREE_OPTIONS, flipByte, smallTreeFixture } from '../helpers/small-tree.js';

const fixture = smallTreeFixture('lsmraft-closed-wal-size-');

/** Opens the copy, which must fail with LSM_ERR_CORRUPTION naming `wal`; nothing may be deleted. */
async function expectRefused(dir: string, wal: string): Promise<CorruptionError> {
  // LOCK, left by the fixture as a killed process leaves it, is taken over and released by open.
  const files = (): string[] => readdirSync(dir).filter((n) => n !== 'LOCK').sort();
  const before = files();
  const err: unknown = await LsmTree.open(dir, SMALL_TREE_OPTIONS).then(
    async (tree) => {
      await tree.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptionError);
  const corruption = err as CorruptionError;
  expect(corruption.code).toBe('LSM_ERR_CORRUPTION');
  expect(corruption.file?.endsWith(wal)).toBe(true);
  expect(files()).toEqual(before);
  return corruption;
}

describe('a cleanly closed WAL with its size recorded', () => {
  it('opens exactly when untouched', async () => {
    const dir = fixture.copy();
    const tree = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
    const states = fixture.tree().states;
    expect(await readAll(tree)).toEqual(states[states.length - 1]);
    await tree.close();
  });

  it('is corruption when truncated inside its synced records (not a torn tail: keys would go missing)', async () => {
    const dir = fixture.copy();
    const { tailWal, syncedWalBytes } = fixture.tree();
    const fullSize = statSync(join(dir, tailWal)).size;
    const cut = syncedWalBytes - 100;
    truncateSync(join(dir, tailWal), cut);
    const err = await expectRefused(dir, tailWal);
    expect(err.message).toContain(`recorded at ${fullSize} bytes`);
    expect(err.message).toContain(`has ${cut} bytes`);
  });

  it('is corruption when truncated in the tail written without sync: the clean close synced it', async () => {
    const dir = fixture.copy();
    const { tailWal, syncedWalBytes } = fixture.tree();
    truncateSync(join(dir, tailWal), syncedWalBytes + 10);
    await expectRefused(dir, tailWal);
  });

  it('is corruption when longer than recorded', async () => {
    const dir = fixture.copy();
    const { tailWal } = fixture.tree();
    appendFileSync(join(dir, tailWal), new Uint8Array(7));
    await expectRefused(dir, tailWal);
  });

  it('is read strictly: a bad checksum in its last record is corruption, not a torn tail', async () => {
    const dir = fixture.copy();
    const { tailWal } = fixture.tree();
    const size = statSync(join(dir, tailWal)).size;
    flipByte(join(dir, tailWal), size - 2);
    await expectRefused(dir, tailWal);
  });
});

const memOptions = { engine: 'js' as const, workerPool: false as const };
const KEYS = 40;

async function writeKeys(tree: LsmTree, prefix: string, sync: boolean): Promise<void> {
  for (let i = 0; i < KEYS; i++) await tree.put(`${prefix}-${i}`, `v${i}`, { sync });
}

async function countKeys(tree: LsmTree, prefix: string): Promise<number> {
  let n = 0;
  for (let i = 0; i < KEYS; i++) if (tree.getSync(`${prefix}-${i}`) !== undefined) n++;
  return n;
}

/**
 * A tree closed with an immutable memtable unflushed: keys 'old' in the WAL it was retired with,
 * keys 'new' in the live WAL. The switch creates the next WAL; the flush's table is the next file
 * created, which fails, and the flush is retried in the background until close stops it.
 */
async function closeWithUnflushedMemtable(): Promise<CrashableMemFileSystem> {
  const fs = new CrashableMemFileSystem();
  const tree = await LsmTree.open('/db', { ...memOptions, fs });
  await writeKeys(tree, 'old', true);
  fs.injectError('create', { afterCount: 1 });
  const flushing = tree.flush().then(
    () => 'flushed',
    (err: unknown) => (err as { code?: string }).code,
  );
  await writeKeys(tree, 'new', false);
  await tree.close();
  expect(await flushing).not.toBe('flushed');
  return fs;
}

describe('a crash around the recorded WAL size (crashable in-memory file system)', () => {
  // Each fault stops the close at one step; the crash then keeps only what was synced (or a part
  // of the manifest's unsynced tail: the edit torn, or whole but never synced).
  const faults = [
    { name: 'the WAL fsync of the close fails', op: 'sync' as const, afterCount: 0, partialBytes: 0, keep: 0, walSynced: false },
    { name: 'the manifest edit is torn mid-append', op: 'append' as const, afterCount: 0, partialBytes: 5, keep: 1, walSynced: true },
    { name: 'the manifest fsync fails, half the edit reaches the disk', op: 'sync' as const, afterCount: 1, partialBytes: 0, keep: 0.5, walSynced: true },
    { name: 'the manifest fsync fails, the whole edit reaches the disk', op: 'sync' as const, afterCount: 1, partialBytes: 0, keep: 1, walSynced: true },
  ];
  for (const f of faults) {
    it(`opens with every acknowledged write when ${f.name}`, async () => {
      const fs = new CrashableMemFileSystem();
      const tree = await LsmTree.open('/db', { ...memOptions, fs });
      await writeKeys(tree, 'synced', true);
      await writeKeys(tree, 'unsynced', false);
      fs.injectError(f.op, { afterCount: f.afterCount, partialBytes: f.partialBytes });
      await tree.close();
      expect(tree.closed).toBe(true);
      fs.crash({ keepUnsyncedBytes: (n) => Math.floor(n * f.keep) });
      const reopened = await LsmTree.open('/db', { ...memOptions, fs });
      expect(await countKeys(reopened, 'synced')).toBe(KEYS);
      // Once the close's WAL fsync succeeded, every write is durable, synced or not.
      if (f.walSynced) expect(await countKeys(reopened, 'unsynced')).toBe(KEYS);
      await reopened.close();
    });
  }

  it('does not judge the next WAL by the old record: the reopened tree crashes with a torn tail', async () => {
    const fs = new CrashableMemFileSystem();
    const first = await LsmTree.open('/db', { ...memOptions, fs });
    await writeKeys(first, 'a', false);
    await first.close();
    const second = await LsmTree.open('/db', { ...memOptions, fs });
    await writeKeys(second, 'b', true);
    await writeKeys(second, 'c', false);
    // A kill -9 and power loss with part of the new WAL's unsynced tail on disk: a torn record.
    fs.crash({ keepUnsyncedBytes: (n) => Math.floor(n / 2) + 3 });
    const third = await LsmTree.open('/db', { ...memOptions, fs });
    expect(await countKeys(third, 'a')).toBe(KEYS);
    expect(await countKeys(third, 'b')).toBe(KEYS);
    await third.close();
  });

  it('records the retired WAL of a memtable whose flush kept failing, too', async () => {
    const fs = await closeWithUnflushedMemtable();
    fs.crash();
    expect(fs.list('/db').filter((n) => n.endsWith('.log'))).toHaveLength(2);
    // Untouched, both replay; either WAL cut short is refused.
    const reopened = await LsmTree.open('/db', { ...memOptions, fs });
    expect([await countKeys(reopened, 'old'), await countKeys(reopened, 'new')]).toEqual([KEYS, KEYS]);
    await reopened.close();
  });

  it('refuses the retired WAL of an unflushed memtable cut short after a clean close', async () => {
    const fs = await closeWithUnflushedMemtable();
    const retired = fs.list('/db').filter((n) => n.endsWith('.log')).sort()[0]!;
    const bytes = fs.readFile(`/db/${retired}`);
    const cut = fs.create(`/db/${retired}`);
    cut.append(bytes.subarray(0, bytes.length - 20));
    cut.syncSync();
    cut.close();
    const err: unknown = await LsmTree.open('/db', { ...memOptions, fs }).then(
      (t) => t.close(),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).message).toContain(retired);
  });

  it('a close with { sync: true } rejects on a failed fsync and stays open; a plain close closes anyway', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...memOptions, fs });
    await writeKeys(tree, 'k', false);
    fs.injectError('sync');
    const code = await tree.close({ sync: true }).then(
      () => undefined,
      (err: unknown) => (err as { code?: string }).code,
    );
    expect({ code, closed: tree.closed }).toEqual({ code: 'LSM_ERR_IO', closed: false });
    fs.injectError('sync');
    await tree.close();
    expect(tree.closed).toBe(true);
  });
});
