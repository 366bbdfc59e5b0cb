/**
 * Subcompactions (src/lsm/subcompactions.ts): a compaction split by key range writes the same
 * entries as one job over the whole range (tombstones and what a snapshot reads included), and a
 * failed piece fails the whole job: nothing installed, the pieces' tables deleted, the inputs kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HotPaths } from '../../src/engine/types.js';
import { InlineJobRunner } from '../../src/lsm/job-runner.js';
import type { JobRunner } from '../../src/lsm/jobs.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import { LsmTree } from '../../src/lsm/db.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { tableFileName } from '../../src/lsm/filenames.js';
import { runJob } from '../../src/lsm/jobs.js';
import { writeTableFiles } from '../../src/lsm/table-file.js';
import type { FileSystem } from '../../src/lsm/fs.js';
import { KIND_PUT } from '../../src/format/internal-key.js';
import { utf8 } from '../../src/util/bytes.js';
import { type CachedBlock, TableReader } from '../../src/lsm/table-reader.js';
import { hexEntriesOf, runOfTuples } from '../helpers/runs.js';
import { Rng } from '../helpers/rng.js';
import { treeContents } from '../helpers/tree-contents.js';

const KEYS = 4000;
/** No automatic compaction: both trees hold the same L0 tables when compact() starts. */
const OPTIONS = {
  workerPool: false as const, wal: false, memtableBytesMax: 64 * 1024, targetFileSizeBytes: 64 * 1024,
  l0CompactionTrigger: 1000, l0StopWritesTrigger: 2000, blockCompression: 'none' as const, subcompactionBytesMin: 64 * 1024,
};

/** Puts, overwrites and deletes (seeded), a snapshot taken midway and still held. */
async function fill(tree: LsmTree): Promise<ReturnType<LsmTree['snapshot']>> {
  const rng = new Rng(11);
  let snapshot: ReturnType<LsmTree['snapshot']> | undefined;
  for (let round = 0; round < 3; round++) {
    if (round === 2) snapshot = tree.snapshot();
    for (let i = 0; i < KEYS; i++) {
      const key = `key${String(rng.int(KEYS)).padStart(6, '0')}`;
      if (rng.chance(0.2)) await tree.delete(key);
      else await tree.put(key, `${round}:${i}:${'v'.repeat(60)}`);
    }
  }
  await tree.flush();
  return snapshot!;
}

/** Every entry of every table of the tree, in level and key order, as [key hex, value hex]. */
function tableEntries(fs: CrashableMemFileSystem, tree: LsmTree): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const level of tree.describe().levels) {
    for (const f of level.files) {
      const reader = TableReader.open(fs, `/db/${tableFileName(f.number)}`, f.number, jsHotPaths, new BlockCache<CachedBlock>(0), false);
      out.push(...hexEntriesOf(reader.readAll()));
      reader.close();
    }
  }
  return out;
}

describe('subcompactions', () => {
  for (const engine of ['js', 'wasm'] as const) {
    it(`${engine}: a compact() split into pieces writes the entries one job writes`, async () => {
      const results = [];
      for (const subcompactionsMax of [1, 4]) {
        const fs = new CrashableMemFileSystem();
        const tree = await LsmTree.open('/db', { ...OPTIONS, fs, engine, subcompactionsMax });
        try {
          const snapshot = await fill(tree);
          const atSnapshot = await treeContents(tree, snapshot);
          const now = await treeContents(tree);
          await tree.compact();
          expect(await treeContents(tree, snapshot)).toEqual(atSnapshot);
          expect(await treeContents(tree)).toEqual(now);
          const stats = tree.stats();
          const files = tree.describe().levels.flatMap((l) => l.files);
          results.push({ entries: tableEntries(fs, tree), pieces: stats.compactions.subcompactions, files });
          snapshot.release();
        } finally {
          await tree.close();
        }
      }
      const [one, split] = results;
      expect(one!.pieces).toBe(0);
      expect(split!.pieces).toBe(4);
      // What the test means to cover: tombstones the snapshot needs, and keys with two versions kept.
      expect(split!.files.reduce((n, f) => n + f.deletions, 0)).toBeGreaterThan(0);
      expect(split!.entries.length).toBeGreaterThan(new Set(split!.files.map((f) => f.number)).size);
      expect(split!.entries).toEqual(one!.entries);
    });
  }

  it('a failed piece fails the job: no edit, the pieces\' tables deleted, the inputs kept, compact() works after', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { ...OPTIONS, fs, engine: 'js', subcompactionsMax: 3 });
    try {
      const snapshot = await fill(tree);
      snapshot.release();
      const before = await treeContents(tree);
      const filesBefore = fs.list('/db').sort();
      const levelsBefore = tree.describe().levels;
      // The first pieces create their tables; a later one fails to create its first.
      fs.injectError('create', { afterCount: 2 });
      let code: string | undefined;
      try {
        await tree.compact();
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code).toBe('LSM_ERR_IO');
      expect(tree.stats().compactions.failures).toBe(1);
      expect(tree.describe().levels).toEqual(levelsBefore);
      expect(fs.list('/db').sort()).toEqual(filesBefore);
      expect(await treeContents(tree)).toEqual(before);
      // The fault fired once; the retry after the error handler's backoff (or this call) succeeds.
      await tree.compact();
      expect(tree.stats().compactions.subcompactions).toBe(3);
      expect(await treeContents(tree)).toEqual(before);
    } finally {
      await tree.close();
    }
  });

  it('a piece opens only the input tables its range overlaps, and merges only its keys', () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/db');
    const key = (i: number): string => `k${String(i).padStart(5, '0')}`;
    const table = { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30 };
    // Six tables of disjoint keys, as one level holds them.
    const tables = Array.from({ length: 6 }, (_, t) => {
      const [built] = jsHotPaths.buildTables(runOfTuples(Array.from({ length: 1000 }, (_, i) => [key(1000 * t + i), 1 + i, KIND_PUT, 'v'] as const)), table);
      writeTableFiles(fs, '/db', [built!], [t + 1]);
      return built!;
    });
    const opened: string[] = [];
    const counting = new Proxy(fs, {
      get(target, name) {
        if (name === 'openRead') return (path: string) => (opened.push(path), target.openRead(path));
        const v = Reflect.get(target, name) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as FileSystem;
    const result = runJob(counting, jsHotPaths, {
      kind: 'compaction', dir: '/db', inputs: [1, 2, 3, 4, 5, 6], snapshots: [], dropTombstones: true, table, fileNumbers: [7, 8],
      lowerUserKey: utf8(key(2500)), upperUserKey: utf8(key(3500)),
      inputBounds: tables.map((t) => ({ smallest: t.smallestKey, largest: t.largestKey })),
    });
    expect(result.outputEntries).toBe(1000);
    expect(new Set(opened)).toEqual(new Set([`/db/${tableFileName(3)}`, `/db/${tableFileName(4)}`]));
  });

  it('splits, by default, into as many pieces as the pool has started workers, at most maxThreads', async () => {
    const pieces: number[] = [];
    for (const liveWorkers of [1, 2, 5]) {
      const dir = mkdtempSync(join(tmpdir(), 'lsmraft-subcompactions-'));
      // A pool that runs its jobs inline on the real disk and reports `liveWorkers` started workers.
      const jobPool = (engine: HotPaths): JobRunner => {
        const inline = new InlineJobRunner(nodeFileSystem, engine);
        return { kind: 'pool', liveWorkers, run: (job) => inline.run(job), close: () => inline.close() };
      };
      const tree = await LsmTree.open(dir, { ...OPTIONS, engine: 'js', workerPool: { maxThreads: 3 }, jobPool });
      try {
        (await fill(tree)).release();
        await tree.compact();
        pieces.push(tree.stats().compactions.subcompactions);
      } finally {
        await tree.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    expect(pieces).toEqual([0, 2, 3]);
  });
});
