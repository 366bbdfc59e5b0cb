/**
 * A full compact(), measured per engine: seconds and peak RSS. Fills one tree with BENCH_KEYS keys
 * (default 1,000,000; 16-byte random keys, 100-byte random values) in a child process, then copies it and
 * runs compact() on each copy in a fresh child process per engine (jobs inline on the main thread;
 * with BENCH_POOL=1 in the worker pool, split into subcompactions), which reports
 * process.resourceUsage().maxRSS: the peak of opening the tree plus its compaction (the workers'
 * memory included: they are threads of the same process).
 *
 * Writes bench/results/compact-memory.json and compact-memory.svg (BENCH_OUT_DIR elsewhere).
 *
 *   npm run bench:compact-memory
 *   BENCH_KEYS=4000000 npm run bench:compact-memory
 *   BENCH_POOL=1 BENCH_KEYS=2000000 npm run bench:compact-memory
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LsmTree } from '../src/lsm/db.js';
import type { EngineName } from '../src/engine/types.js';
import { sharedJobPool } from '../src/pool/job-pool.js';
import { randomValues, xorshift32 } from './common.js';
import { makeProgress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const BATCH = 1000;
const POOL = process.env.BENCH_POOL === '1';
/** With the pool: LsmTreeOptions.subcompactionsMax (default: the pool's worker count). */
const SUBCOMPACTIONS = process.env.BENCH_SUBCOMPACTIONS === undefined ? undefined : Number(process.env.BENCH_SUBCOMPACTIONS);
const script = new URL(import.meta.url).pathname;

interface ChildReport {
  seconds: number;
  /** Table bytes compact() read (its jobs' inputs). */
  readMiB: number;
  /** Pieces of split compactions (0: none was split). */
  pieces: number;
  maxRssMiB: number;
  treeMiB: number;
  tables: number;
}

function treeBytes(dir: string): { bytes: number; tables: number } {
  let bytes = 0;
  let tables = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.sst')) continue;
    bytes += statSync(join(dir, name)).size;
    tables++;
  }
  return { bytes, tables };
}

async function fillChild(dir: string): Promise<void> {
  const tree = await LsmTree.open(dir, { engine: 'js', workerPool: false, wal: false });
  // Random values, as bench:engines writes: they do not compress, so the tree is as large as the
  // keys and values written (a constant value would shrink it tenfold under LZ4).
  const values = randomValues(7, 65536, 100);
  const nextKey = xorshift32(2463534242);
  for (let i = 0; i < KEYS; i += BATCH) {
    const ops = [];
    for (let j = 0; j < BATCH && i + j < KEYS; j++) {
      ops.push({ type: 'put' as const, key: nextKey().toString(16).padStart(8, '0') + (i + j).toString(16).padStart(8, '0'), value: values[(i + j) & 65535]! });
    }
    await tree.batch(ops);
  }
  await tree.close();
}

async function compactChild(dir: string, engine: EngineName): Promise<ChildReport> {
  const tree = await LsmTree.open(dir, { engine, wal: false, ...(POOL ? { jobPool: sharedJobPool, subcompactionsMax: SUBCOMPACTIONS } : { workerPool: false }) });
  const started = performance.now();
  await tree.compact();
  const seconds = (performance.now() - started) / 1000;
  const readMiB = tree.stats().compactions.inputBytes / (1 << 20);
  const pieces = tree.stats().compactions.subcompactions;
  await tree.close();
  const { bytes, tables } = treeBytes(dir);
  return { seconds, readMiB, pieces, maxRssMiB: process.resourceUsage().maxRSS / 1024, treeMiB: bytes / (1 << 20), tables };
}

function child(args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
}

const [mode, dir, engine] = process.argv.slice(2);
if (mode === '--fill') {
  await fillChild(dir!);
} else if (mode === '--compact') {
  console.log(JSON.stringify(await compactChild(dir!, engine as EngineName)));
} else {
  const root = mkdtempSync(join(tmpdir(), 'lsmraft-compact-memory-'));
  try {
    const filled = join(root, 'filled');
    const progress = makeProgress(3);
    progress.phase(`fill ${KEYS.toLocaleString('en-US')} keys`);
    const fillStarted = performance.now();
    child(['--fill', filled]);
    const before = treeBytes(filled);
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const rows: Record<string, ChildReport> = {};
    const failures: Record<string, string> = {};
    for (const e of ['js', 'wasm'] as const) {
      const copy = join(root, e);
      progress.phase(`compact() with the ${e} engine`);
      cpSync(filled, copy, { recursive: true });
      try {
        const out = child(['--compact', copy, e]).trim().split('\n');
        rows[e] = JSON.parse(out[out.length - 1]!) as ChildReport;
      } catch (err) {
        // A compaction that runs out of memory is a result too: report it and go on.
        const stderr = String((err as { stderr?: unknown }).stderr ?? err);
        failures[e] = stderr.split('\n').find((line) => /^\w*Error\b/.test(line)) ?? 'failed';
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    }
    progress.stop();
    console.log(`\nlsmraft compact() benchmark: ${KEYS.toLocaleString('en-US')} keys (16-byte keys, 100-byte values), tree ${(before.bytes / (1 << 20)).toFixed(0)} MiB ` +
      `in ${before.tables} tables before compact(), filled in ${fillSeconds.toFixed(1)} s; node ${process.version}\n`);
    console.log(
      alignedTable(
        ['engine', 'jobs', 'compact() s', 'peak RSS MiB', 'read MiB', 'tree after MiB', 'tables after', 'pieces'],
        Object.entries(rows).map(([name, r]) => [name, POOL ? 'pool' : 'inline', formatNumber(r.seconds, 2), formatNumber(r.maxRssMiB), formatNumber(r.readMiB),
          formatNumber(r.treeMiB), formatNumber(r.tables), formatNumber(r.pieces)]),
      ),
    );
    for (const [name, message] of Object.entries(failures)) console.log(`${name}: compact() failed: ${message}`);
    if (rows.wasm !== undefined && rows.js !== undefined) {
      console.log(`wasm/js compact() time ratio: ${(rows.wasm.seconds / rows.js.seconds).toFixed(2)}`);
    }
    const engines = Object.keys(rows);
    writeResults('compact-memory', { keys: KEYS, batchOps: BATCH, pool: POOL }, { treeMiBBefore: before.bytes / (1 << 20), tablesBefore: before.tables, fillSeconds, engines: rows, failures }, {
      title: 'compact() of one filled tree: seconds and peak RSS per engine',
      subtitle: `${KEYS.toLocaleString('en-US')} keys (16-byte keys, 100-byte values), ${formatNumber(before.bytes / (1 << 20))} MiB in ${before.tables} tables before compact(); one child process per engine; node ${process.version}. Shorter is better.`,
      unit: 'seconds, MiB',
      series: engines,
      groups: [
        { label: 'compact() seconds', values: engines.map((e) => rows[e]!.seconds), barLabels: engines.map((e) => `${formatNumber(rows[e]!.seconds, 2)} s`) },
        { label: 'peak RSS MiB', values: engines.map((e) => rows[e]!.maxRssMiB), barLabels: engines.map((e) => `${formatNumber(rows[e]!.maxRssMiB)} MiB`) },
      ],
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
