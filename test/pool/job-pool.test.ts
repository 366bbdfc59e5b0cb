/**
 * The job pool and failed jobs: a worker writes the same bytes as an inline run; a job over a
 * corrupt input or in a killed worker fails with a typed error and the pool keeps working; a flush
 * that fails (disk full) leaves the tree as it was, is reported through stats(), and is retried.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadEngine } from '../../src/engine/index.js';
import type { EntryRun } from '../../src/engine/types.js';
import { LsmTree } from '../../src/lsm/db.js';
import { tableFileName } from '../../src/lsm/filenames.js';
import { KIND_DELETE, KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { MemTable } from '../../src/lsm/memtable.js';
import { runJob, type Job } from '../../src/lsm/jobs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { JobPool } from '../../src/pool/job-pool.js';
import { fromUtf8, utf8 } from '../../src/util/bytes.js';
import { packRun } from '../helpers/runs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-pool-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A sorted run of `count` puts with sequence numbers from `firstSeq`. */
function makeRun(count: number, firstSeq: number, valueBytes = 100): EntryRun {
  const pairs: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < count; i++) {
    pairs.push([makeInternalKey(utf8(`key-${String(i).padStart(8, '0')}`), firstSeq + i, KIND_PUT), new Uint8Array(valueBytes).fill(97 + (i % 26))]);
  }
  return packRun(pairs);
}

const table = { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 20 };

describe('job pool', () => {
  for (const engineName of ['wasm', 'js'] as const) {
    it(`writes in a worker the same bytes as inline (${engineName})`, async () => {
      const engine = await loadEngine(engineName);
      const pool = new JobPool(engine, { maxThreads: 2, maxQueue: 8 });
      try {
        const inlineDir = join(dir, 'inline');
        const poolDir = join(dir, 'pool');
        nodeFileSystem.mkdirp(inlineDir);
        nodeFileSystem.mkdirp(poolDir);
        // Small tables: the repetitive values compress about 15-fold, and the job should write several.
        const small = { ...table, targetFileSizeBytes: 96 * 1024 };
        const job = (d: string): Job => ({ kind: 'flush', dir: d, run: makeRun(30_000, 1), snapshots: [], table: small, fileNumbers: [10, 11, 12, 13, 14, 15] });
        const inline = runJob(nodeFileSystem, engine, job(inlineDir));
        const pooled = await pool.run(job(poolDir));
        expect(pooled.outputs.map((o) => o.number)).toEqual(inline.outputs.map((o) => o.number));
        expect(pooled.outputs.length).toBeGreaterThan(1);
        for (const o of inline.outputs) {
          const a = readFileSync(join(inlineDir, tableFileName(o.number)));
          const b = readFileSync(join(poolDir, tableFileName(o.number)));
          expect(Buffer.compare(a, b)).toBe(0);
        }
        // A compaction of those tables in the worker merges them back into the same entries.
        const merged = await pool.run({
          kind: 'compaction', dir: poolDir, inputs: inline.outputs.map((o) => o.number), snapshots: [], dropTombstones: true, table: small, fileNumbers: [20, 21, 22, 23, 24, 25],
        });
        expect(merged.outputEntries).toBe(30_000);
      } finally {
        await pool.close();
      }
    });
  }

  it('flushes a memtable image in a worker, read in place, to the bytes of its packed run (both engines)', async () => {
    const mem = new MemTable({ arenaChunkBytes: 1 << 16 });
    for (let seq = 1; seq <= 20_000; seq++) {
      const key = utf8(`key-${String((seq * 7919) % 15_000).padStart(8, '0')}`);
      if (seq % 50 === 0) mem.add(seq, KIND_DELETE, key, new Uint8Array(0));
      else mem.add(seq, KIND_PUT, key, new Uint8Array(seq % 97 === 0 ? 40_000 : 100).fill(seq & 0xff));
    }
    const small = { ...table, targetFileSizeBytes: 64 * 1024 };
    const fileNumbers = Array.from({ length: 64 }, (_, i) => 10 + i);
    const expectedDir = join(dir, 'expected');
    nodeFileSystem.mkdirp(expectedDir);
    const jsEngine = await loadEngine('js');
    const expected = runJob(nodeFileSystem, jsEngine, { kind: 'flush', dir: expectedDir, run: mem.toRun(), snapshots: [5000], table: small, fileNumbers });
    expect(expected.outputs.length).toBeGreaterThan(1);
    for (const engineName of ['wasm', 'js'] as const) {
      const pool = new JobPool(await loadEngine(engineName), { maxThreads: 1, maxQueue: 2 });
      try {
        const poolDir = join(dir, engineName);
        nodeFileSystem.mkdirp(poolDir);
        const pooled = await pool.run({ kind: 'flush', dir: poolDir, image: mem.image(), snapshots: [5000], table: small, fileNumbers });
        expect(pooled.inputEntries, engineName).toBe(20_000);
        expect(pooled.outputs.map((o) => o.number)).toEqual(expected.outputs.map((o) => o.number));
        for (const o of expected.outputs) {
          const a = readFileSync(join(expectedDir, tableFileName(o.number)));
          const b = readFileSync(join(poolDir, tableFileName(o.number)));
          expect(Buffer.compare(a, b), `${engineName} table ${o.number}`).toBe(0);
        }
      } finally {
        await pool.close();
      }
    }
  });

  it('fails a job over a corrupt input with LSM_ERR_CORRUPTION and keeps working', async () => {
    const engine = await loadEngine('js');
    const pool = new JobPool(engine, { maxThreads: 1, maxQueue: 8 });
    try {
      const written = runJob(nodeFileSystem, engine, { kind: 'flush', dir, run: makeRun(5000, 1), snapshots: [], table, fileNumbers: [1, 2, 3] });
      const path = join(dir, tableFileName(written.outputs[0]!.number));
      const bytes = readFileSync(path);
      bytes[100] = bytes[100]! ^ 0xff;
      writeFileSync(path, bytes);
      const err = await pool.run({ kind: 'compaction', dir, inputs: [1], snapshots: [], dropTombstones: false, table, fileNumbers: [7, 8] }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('LSM_ERR_CORRUPTION');
      expect(readdirSync(dir).filter((n) => n.startsWith('00000') && n !== '000001.sst')).toEqual([]);
      const ok = await pool.run({ kind: 'flush', dir, run: makeRun(10, 100), snapshots: [], table, fileNumbers: [9] });
      expect(ok.outputs).toHaveLength(1);
    } finally {
      await pool.close();
    }
  });

  it('starts no worker thread before its first job', async () => {
    const engine = await loadEngine('js');
    const pool = new JobPool(engine, { maxThreads: 1, maxQueue: 8 });
    try {
      // A thread starting at open would compete with the first writes for the CPU for nothing.
      await new Promise((r) => setTimeout(r, 50));
      expect(pool.liveWorkers).toBe(0);
      const ok = await pool.run({ kind: 'flush', dir, run: makeRun(10, 1), snapshots: [], table, fileNumbers: [9] });
      expect(ok.outputs).toHaveLength(1);
      expect(pool.liveWorkers).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('fails a job whose worker is killed with LSM_ERR_JOB_FAILED and keeps working', async () => {
    const engine = await loadEngine('js');
    const pool = new JobPool(engine, { maxThreads: 1, maxQueue: 8 });
    try {
      const big = { kind: 'flush' as const, dir, run: makeRun(400_000, 1), snapshots: [], table, fileNumbers: Array.from({ length: 200 }, (_, i) => 100 + i) };
      const running = pool.run(big).catch((e: unknown) => e);
      // Kill the worker thread while it works (bounded wait for it to exist).
      for (let i = 0; i < 200 && pool.workers.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      await pool.workers[0]!.terminate();
      const err = await running;
      expect((err as { code?: string }).code).toBe('LSM_ERR_JOB_FAILED');
      const ok = await pool.run({ kind: 'flush', dir, run: makeRun(10, 1), snapshots: [], table, fileNumbers: [9] });
      expect(ok.outputs).toHaveLength(1);
    } finally {
      await pool.close();
    }
  });
});

describe('a failed flush', () => {
  it('leaves the tree as it was, reports the error, and is retried', async () => {
    const fs = new CrashableMemFileSystem();
    const tree = await LsmTree.open('/db', { engine: 'js', workerPool: false, fs });
    try {
      for (let i = 0; i < 500; i++) await tree.put(`k${i}`, `v${i}`);
      // The first create is the new WAL; the second, the flush's table, fails.
      fs.injectError('create', { code: 'ENOSPC', afterCount: 1 });
      const err = await tree.flush().catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('LSM_ERR_JOB_FAILED');
      const stats = tree.stats();
      expect(stats.flushes.failures).toBe(1);
      expect(stats.lastBackgroundError?.code).toBe('LSM_ERR_IO');
      expect(tree.describe().levels[0]!.files).toHaveLength(0);
      for (let i = 0; i < 500; i += 50) expect(fromUtf8((await tree.get(`k${i}`))!)).toBe(`v${i}`);
      // The disk has room again: the retry timer flushes without being asked.
      fs.clearErrors();
      for (let i = 0; i < 200 && tree.describe().levels[0]!.files.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(tree.describe().levels[0]!.files).toHaveLength(1);
      expect(fs.list('/db').filter((n) => n.endsWith('.sst'))).toHaveLength(1);
      for (let i = 0; i < 500; i += 50) expect(fromUtf8((await tree.get(`k${i}`))!)).toBe(`v${i}`);
    } finally {
      await tree.close();
    }
  });
});
