/**
 * repairTree (src/lsm/repair.ts): on damaged copies of a small tree, the repaired tree opens and
 * holds exactly the newest version of every key found in the readable tables and WAL records (read
 * here with the plain readers, apart from repair's own checks), and no original file's bytes are
 * gone: each is in the directory or in lost/.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { CorruptionError } from '../../src/errors.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import { LsmTree } from '../../src/lsm/db.js';
import { KIND_PUT, TRAILER_BYTES, trailerKind, trailerSequence } from '../../src/format/internal-key.js';
import { LogKind, LogReader } from '../../src/lsm/log-format.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { repairTree } from '../../src/lsm/repair.js';
import { TableReader } from '../../src/lsm/table-reader.js';
import { verifyTree } from '../../src/lsm/verify.js';
import { decodeBatch } from '../../src/lsm/write-batch.js';
import { cutManifestBeforeLastTable, flipByte, readAll, SMALL_TREE_OPTIONS, smallTreeFixture } from '../helpers/small-tree.js';

const fixture = smallTreeFixture('lsmraft-repair-');
const copy = fixture.copy;
const flip = flipByte;

const dec = new TextDecoder();

/** Newest version of each key over every readable table and every WAL record before its damage. */
function readableContents(dir: string): Map<string, string> {
  const newest = new Map<string, { seq: number; value: string | undefined }>();
  const note = (key: string, seq: number, value: string | undefined): void => {
    const had = newest.get(key);
    if (had === undefined || had.seq < seq) newest.set(key, { seq, value });
  };
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name.endsWith('.sst')) {
      let reader: TableReader | undefined;
      try {
        reader = TableReader.open(nodeFileSystem, path, 1, jsHotPaths, new BlockCache(0));
        const run = reader.readAll();
        for (let i = 0; i < run.count; i++) {
          const keyEnd = run.offsets[2 * i + 1]!;
          const key = dec.decode(run.data.subarray(run.offsets[2 * i]!, keyEnd - TRAILER_BYTES));
          const put = trailerKind(run.data, keyEnd) === KIND_PUT;
          note(key, trailerSequence(run.data, keyEnd), put ? dec.decode(run.data.subarray(keyEnd, run.offsets[2 * i + 2]!)) : undefined);
        }
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
      } finally {
        reader?.close();
      }
    } else if (name.endsWith('.log')) {
      try {
        const reader = new LogReader(readFileSync(path), name, LogKind.Wal, 'strict');
        for (let r = reader.next(); r !== null; r = reader.next()) {
          decodeBatch(r, name, reader.recordOffset, (seq, kind, key, value) => note(dec.decode(key), seq, kind === KIND_PUT ? dec.decode(value) : undefined));
        }
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
      }
    }
  }
  return new Map([...newest].filter(([, v]) => v.value !== undefined).map(([k, v]) => [k, v.value!]));
}

/**
 * Every original file's bytes are still somewhere: under its name in `dir` or in `dir/lost/`. LOCK
 * aside: a stale one is taken over and released, as an open does.
 */
function expectNothingDeleted(dir: string, before: Map<string, Buffer>): void {
  for (const [name, bytes] of before) {
    if (name === 'LOCK') continue;
    // An earlier repair's file of the same name is kept as lost/<name>.1 and so on.
    const lost = existsSync(join(dir, 'lost')) ? readdirSync(join(dir, 'lost')).filter((n) => n === name || n.startsWith(`${name}.`)) : [];
    const candidates = [join(dir, name), ...lost.map((n) => join(dir, 'lost', n))].filter((p) => existsSync(p));
    expect(candidates.some((p) => readFileSync(p).equals(bytes)), `${name} kept`).toBe(true);
  }
}

async function repairAndCheck(dir: string): Promise<Awaited<ReturnType<typeof repairTree>>> {
  const expected = readableContents(dir);
  const before = new Map(readdirSync(dir).filter((n) => statSync(join(dir, n)).isFile()).map((n) => [n, readFileSync(join(dir, n))]));
  const report = await repairTree(dir);
  expectNothingDeleted(dir, before);
  expect((await verifyTree(dir)).clean).toBe(true);
  const db = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
  try {
    const found = await readAll(db);
    expect(found.size).toBe(expected.size);
    expect(found).toEqual(expected);
  } finally {
    await db.close();
  }
  return report;
}

describe('repairTree', () => {
  it('on a clean tree keeps everything and reports nothing lost', async () => {
    const dir = copy();
    const report = await repairAndCheck(dir);
    expect(report.complete).toBe(true);
    expect(report.lost.files).toBe(0);
    const db = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
    try {
      expect(await readAll(db)).toEqual(fixture.tree().states.at(-1));
      // Sequence numbers are kept: new writes still win over salvaged ones.
      await db.put('key-00000', 'after-repair');
      expect(dec.decode(db.getSync('key-00000')!)).toBe('after-repair');
    } finally {
      await db.close();
    }
  });

  it('moves a damaged table to lost/ and salvages every other table and the WAL', async () => {
    const dir = copy();
    const table = readdirSync(dir).filter((n) => n.endsWith('.sst')).sort()[0]!;
    flip(join(dir, table), 20);
    const report = await repairAndCheck(dir);
    expect(report.complete).toBe(false);
    expect(report.lost.damaged).toEqual([expect.objectContaining({ file: table, kind: 'table', movedTo: `lost/${table}`, offset: 0 })]);
    expect(report.lost.bytes).toBe(statSync(join(dir, 'lost', table)).size);
    expect(report.salvaged.wals).toBe(1);
  });

  it('reports the key range of a damaged table, which covers every key whose newest version it held', async () => {
    const dir = copy();
    const tables = readdirSync(dir).filter((n) => n.endsWith('.sst')).sort();
    const table = tables.at(-1)!; // the newest: its keys have older versions below
    const reader = TableReader.open(nodeFileSystem, join(dir, table), 1, jsHotPaths, new BlockCache(0));
    const run = reader.readAll();
    reader.close();
    const keys = Array.from({ length: run.count }, (_, i) => dec.decode(run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]! - TRAILER_BYTES)));
    flip(join(dir, table), 20); // its first data block: the first key comes from the manifest
    const report = await repairTree(dir);
    expect(report.lostRanges).toEqual([{ file: table, smallest: expect.any(Uint8Array), largest: expect.any(Uint8Array) }]);
    const [range] = report.lostRanges;
    expect(dec.decode(range!.smallest as Uint8Array)).toBe(keys[0]);
    expect(dec.decode(range!.largest as Uint8Array)).toBe(keys.at(-1));
  });

  it('reports no lost range when nothing was lost, and an unknown one for a damaged WAL', async () => {
    expect((await repairTree(copy())).lostRanges).toEqual([]);
    const dir = copy();
    flip(join(dir, fixture.tree().tailWal), Math.floor(fixture.tree().syncedWalBytes / 2));
    expect((await repairTree(dir)).lostRanges).toEqual([{ file: fixture.tree().tailWal, smallest: 'unknown', largest: 'unknown' }]);
  });

  it('rebuilds from the tables when the manifest tail is damaged (no rollback)', async () => {
    const dir = copy();
    const manifest = readdirSync(dir).find((n) => n.startsWith('MANIFEST-'))!;
    flip(join(dir, manifest), statSync(join(dir, manifest)).size - 4);
    const report = await repairAndCheck(dir);
    expect(report.complete).toBe(true);
    expect(report.moved.find((m) => m.file === manifest)?.reason).toMatch(/^damaged/);
    // Every table was readable, so everything written is back.
    const db = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
    try {
      expect(await readAll(db)).toEqual(fixture.tree().states.at(-1));
    } finally {
      await db.close();
    }
  });

  it('keeps the WAL records before a damaged one', async () => {
    const dir = copy();
    flip(join(dir, fixture.tree().tailWal), Math.floor(fixture.tree().syncedWalBytes / 2));
    const report = await repairAndCheck(dir);
    expect(report.complete).toBe(false);
    expect(report.lost.damaged.map((d) => d.file)).toEqual([fixture.tree().tailWal]);
  });

  it('salvages a cleanly closed WAL cut inside its synced records, and reports it damaged, not torn', async () => {
    const dir = copy();
    const wal = fixture.tree().tailWal;
    truncateSync(join(dir, wal), fixture.tree().syncedWalBytes - 100);
    await expect(LsmTree.open(dir, SMALL_TREE_OPTIONS)).rejects.toMatchObject({ code: 'LSM_ERR_CORRUPTION' });
    const report = await repairAndCheck(dir);
    expect(report.complete).toBe(false);
    expect(report.lost.damaged).toEqual([expect.objectContaining({ file: wal, kind: 'wal' })]);
  });

  it('salvages a table whose edit the manifest lost (open refuses it), so no older version shows', async () => {
    const dir = copy();
    cutManifestBeforeLastTable(dir);
    await expect(LsmTree.open(dir, SMALL_TREE_OPTIONS)).rejects.toMatchObject({ code: 'LSM_ERR_CORRUPTION' });
    await repairTree(dir);
    const db = await LsmTree.open(dir, SMALL_TREE_OPTIONS);
    try {
      expect(await readAll(db)).toEqual(fixture.tree().states.at(-1));
    } finally {
      await db.close();
    }
  });

  it('takes over an unreadable LOCK into lost/ and says so, but refuses one naming a live process', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'LOCK'), 'pid 1x\n');
    await expect(LsmTree.open(dir, SMALL_TREE_OPTIONS)).rejects.toMatchObject({ code: 'LSM_ERR_LOCKED' });
    const report = await repairAndCheck(dir);
    expect(report.moved).toContainEqual(expect.objectContaining({ file: 'LOCK', kind: 'lock', movedTo: 'lost/LOCK' }));
    expect(readFileSync(join(dir, 'lost', 'LOCK'), 'utf8')).toBe('pid 1x\n');
    // A live holder (pid 1, init, is always alive) is still refused.
    const live = copy();
    writeFileSync(join(live, 'LOCK'), 'pid 1\n');
    await expect(repairTree(live)).rejects.toMatchObject({ code: 'LSM_ERR_LOCKED' });
    expect(readFileSync(join(live, 'LOCK'), 'utf8')).toBe('pid 1\n');
  });

  it('repairs a tree whose CURRENT is garbage', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'CURRENT'), 'garbage');
    await expect(LsmTree.open(dir, SMALL_TREE_OPTIONS)).rejects.toMatchObject({ code: 'LSM_ERR_CORRUPTION' });
    const report = await repairAndCheck(dir);
    expect(report.complete).toBe(true);
    expect(readFileSync(join(dir, 'lost', 'CURRENT'), 'utf8')).toBe('garbage');
  });

  it('a second repair keeps the first one\'s lost files', async () => {
    const dir = copy();
    flip(join(dir, readdirSync(dir).filter((n) => n.endsWith('.sst')).sort()[0]!), 20);
    await repairAndCheck(dir);
    const lostBefore = readdirSync(join(dir, 'lost')).length;
    await repairAndCheck(dir);
    expect(readdirSync(join(dir, 'lost')).length).toBeGreaterThan(lostBefore);
  });

  it('refuses a tree over salvageBytesMax before changing anything', async () => {
    const dir = copy();
    const before = readdirSync(dir).sort();
    await expect(repairTree(dir, { salvageBytesMax: 10_000 })).rejects.toMatchObject({ code: 'LSM_ERR_INVALID_ARGUMENT' });
    expect(readdirSync(dir).filter((n) => n !== 'LOCK').sort()).toEqual(before.filter((n) => n !== 'LOCK'));
  });

  it('refuses a directory that holds no tree (and writes nothing there)', async () => {
    const dir = join(copy(), 'lost-and-found');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await expect(repairTree(dir)).rejects.toMatchObject({ code: 'LSM_ERR_INVALID_ARGUMENT' });
    await expect(verifyTree(dir)).rejects.toMatchObject({ code: 'LSM_ERR_INVALID_ARGUMENT' });
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('merges tables holding the same entries (a compaction output beside its inputs) into one version each', async () => {
    const dir = copy();
    const table = readdirSync(dir).filter((n) => n.endsWith('.sst')).sort()[0]!;
    copyFileSync(join(dir, table), join(dir, '000999.sst'));
    writeFileSync(join(dir, 'CURRENT'), 'garbage'); // no manifest to say which copy is live
    const report = await repairAndCheck(dir);
    expect(report.salvaged.tables).toBe(readdirSync(join(dir, 'lost')).filter((n) => n.endsWith('.sst')).length);
  });
});
