/**
 * Where a compact() spends its time, per engine: the workload of bench:engines' compact row (fill
 * then overwrite BENCH_KEYS random 16-byte keys with 100-byte values in batches of 1000, default
 * options), then compact(), timed end to end in the worker pool with subcompactions (the default)
 * and without (subcompactionsMax 1), and once inline through a file system that times its calls,
 * which splits the time into: the memtable flush, table reads, the merge kernel (the rest of a
 * job), table writes, fsyncs of tables and directory, and the manifest edit (install).
 *
 *   node --import tsx bench/compact-time.bench.ts
 *   BENCH_KEYS=200000 BENCH_ENGINES=wasm,js BENCH_MODES=pool,pool-1,inline node --import tsx bench/compact-time.bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LsmTree } from '../src/lsm/db.js';
import type { LsmTreeOptions } from '../src/lsm/options.js';
import type { FileSystem, RandomAccessFile, WritableFile } from '../src/lsm/fs.js';
import { nodeFileSystem } from '../src/lsm/node-fs.js';
import { sharedJobPool } from '../src/pool/job-pool.js';
import type { EngineName } from '../src/engine/types.js';
import { randomValues, shuffledIndexes, writeDigitKey } from './common.js';
import { alignedTable, formatNumber } from './table.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 200_000);
const ENGINES = (process.env.BENCH_ENGINES ?? 'wasm,js').split(',') as EngineName[];
const MODES = (process.env.BENCH_MODES ?? 'pool,pool-1,inline').split(',');
const BATCH = 1000;
const values = randomValues(7, 65536, 100);

/** Milliseconds spent in file calls, by what they do. */
interface IoTimes {
  tableRead: number;
  tableWrite: number;
  /** fsyncs of tables and of the directory, blocking ones (a job's). */
  fsync: number;
  /** Manifest and CURRENT writes and syncs (the install). */
  manifest: number;
  /** WAL writes and syncs, and asynchronous directory syncs: not part of a job (they overlap it). */
  other: number;
}

const now = (): number => performance.now();

/** nodeFileSystem with its table, fsync and manifest calls timed (only reachable inline). */
function timedFs(times: IoTimes): FileSystem {
  const isTable = (path: string): boolean => path.endsWith('.sst');
  const fileBucket = (path: string): keyof IoTimes => (/MANIFEST|CURRENT/.test(path) ? 'manifest' : 'other');
  const timed = <T>(bucket: keyof IoTimes, f: () => T): T => {
    const t0 = now();
    try {
      return f();
    } finally {
      times[bucket] += now() - t0;
    }
  };
  const writable = (path: string, file: WritableFile): WritableFile => ({
    path: file.path,
    append: (data) => timed(isTable(path) ? 'tableWrite' : fileBucket(path), () => file.append(data)),
    sync: async () => {
      const t0 = now();
      await file.sync();
      times[isTable(path) ? 'fsync' : fileBucket(path)] += now() - t0;
    },
    syncSync: () => timed(isTable(path) ? 'fsync' : fileBucket(path), () => file.syncSync()),
    size: () => file.size(),
    close: () => file.close(),
  });
  const readable = (path: string, file: RandomAccessFile): RandomAccessFile => ({
    path: file.path,
    read: (position, length) => (isTable(path) ? timed('tableRead', () => file.read(position, length)) : file.read(position, length)),
    size: () => file.size(),
    close: () => file.close(),
  });
  const fs = nodeFileSystem;
  return {
    lock: (dir) => fs.lock(dir),
    reachableFromWorkers: false,
    create: (path) => writable(path, fs.create(path)),
    openAppend: (path) => writable(path, fs.openAppend(path)),
    openRead: (path) => readable(path, fs.openRead(path)),
    readFile: (path) => fs.readFile(path),
    exists: (path) => fs.exists(path),
    fileSize: (path) => fs.fileSize(path),
    rename: (from, to) => fs.rename(from, to),
    remove: (path) => fs.remove(path),
    removeAsync: (path) => fs.removeAsync(path),
    removeDir: (dir) => fs.removeDir(dir),
    link: (a, b) => fs.link(a, b),
    mkdirp: (dir) => fs.mkdirp(dir),
    list: (dir) => fs.list(dir),
    syncDir: async (dir) => {
      const t0 = now();
      await fs.syncDir(dir);
      times.other += now() - t0;
    },
    syncDirSync: (dir) => timed('fsync', () => fs.syncDirSync(dir)),
  };
}

async function load(tree: LsmTree): Promise<void> {
  for (const [seed, offset] of [[1, 0], [2, KEYS]] as const) {
    const order = shuffledIndexes(seed, KEYS);
    for (let start = 0; start < KEYS; start += BATCH) {
      const ops = [];
      for (let i = start; i < Math.min(KEYS, start + BATCH); i++) {
        ops.push({ type: 'put' as const, key: writeDigitKey(order[i]!, new Uint8Array(16)), value: values[(offset + i) % values.length]! });
      }
      await tree.batch(ops);
    }
  }
}

interface Row {
  engine: EngineName;
  mode: string;
  compactS: number;
  /** Inline: the split of the memtable flush and of the rest (the merges), each with its file times. */
  phases?: Array<{ name: string; seconds: number; times: IoTimes }>;
  pieces: number;
}

async function measure(engine: EngineName, mode: 'pool' | 'pool, 1 piece' | 'inline, timed'): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'lsmraft-compact-time-'));
  const times: IoTimes = { tableRead: 0, tableWrite: 0, fsync: 0, manifest: 0, other: 0 };
  const options: LsmTreeOptions = mode === 'inline, timed'
    ? { engine, fs: timedFs(times), workerPool: false }
    : { engine, jobPool: sharedJobPool, ...(mode === 'pool, 1 piece' && { subcompactionsMax: 1 }) };
  const tree = await LsmTree.open(dir, options);
  try {
    await load(tree);
    // Background compactions of the load end first, as in bench:engines they mostly have.
    for (let i = 0; i < 6000 && tree.stats().compactions.running; i++) await new Promise((r) => setTimeout(r, 10));
    const phases: Row['phases'] = [];
    const t0 = now();
    if (mode === 'inline, timed') {
      for (const k of Object.keys(times) as (keyof IoTimes)[]) times[k] = 0;
      await tree.flush();
      phases.push({ name: 'flush', seconds: (now() - t0) / 1000, times: { ...times } });
      for (const k of Object.keys(times) as (keyof IoTimes)[]) times[k] = 0;
    }
    const t1 = now();
    await tree.compact();
    const compactS = (now() - t0) / 1000;
    if (mode === 'inline, timed') phases.push({ name: 'merge', seconds: (now() - t1) / 1000, times: { ...times } });
    return { engine, mode, compactS, phases, pieces: tree.stats().compactions.subcompactions };
  } finally {
    await tree.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
for (const engine of ENGINES) {
  if (MODES.includes('pool')) rows.push(await measure(engine, 'pool'));
  if (MODES.includes('pool-1')) rows.push(await measure(engine, 'pool, 1 piece'));
  if (MODES.includes('inline')) rows.push(await measure(engine, 'inline, timed'));
}
console.log(`\ncompact() after fill + overwrite of ${KEYS.toLocaleString('en-US')} keys, node ${process.version}\n`);
const ms = (v: number): string => formatNumber(v, 0);
console.log(alignedTable(
  ['engine', 'mode', 'compact() s', 'pieces', 'phase', 'phase s', 'read ms', 'kernel ms', 'write ms', 'fsync ms', 'install ms', 'WAL, async ms (overlapping)'],
  rows.flatMap((r) => {
    const head = [r.engine, r.mode, formatNumber(r.compactS, 3), String(r.pieces)];
    if (r.phases === undefined || r.phases.length === 0) return [[...head, '', '', '', '', '', '', '', '']];
    return r.phases.map(({ name, seconds, times: t }) => {
      // The rest of the phase: the merge and table building (for the flush, also packing the memtable).
      // WAL and asynchronous syncs overlap the rest: shown, not subtracted.
      const kernel = seconds * 1000 - t.tableRead - t.tableWrite - t.fsync - t.manifest;
      return [...head, name, formatNumber(seconds, 3), ms(t.tableRead), ms(kernel), ms(t.tableWrite), ms(t.fsync), ms(t.manifest), ms(t.other)];
    });
  }),
));
