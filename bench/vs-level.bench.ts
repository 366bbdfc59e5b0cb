/**
 * lsmraft against classic-level (LevelDB through N-API), side by side in one run (tinybench), after
 * LevelDB's db_bench workloads: awaited put, batches of 1000, random get (awaited, and 32 in
 * flight), full scan; 16-byte keys, 100-byte values, BENCH_N keys (default 1,000,000). Each store
 * runs through its own API: classic-level's (chained batch, nextv(1000) scan), LsmTree's
 * (batch(array), synchronous iterator), and the same workloads through the LsmLevel adapter, so
 * its overhead over LsmTree shows. The three stores are open together and run each workload back
 * to back, so load from elsewhere on the machine falls on all of them alike. Prints one table
 * (ops/s of each store and the ratios against classic-level), checks the goals listed below (GOALS), and
 * writes bench/results/vs-level.json and an SVG bar chart, bench/results/vs-level.svg.
 *
 *   npm run bench:vs-level                                  # 1M keys, 2 s per task
 *   BENCH_N=20000 BENCH_TIME_MS=200 npm run bench:vs-level  # a quick run
 *   BENCH_OUT_DIR=/tmp/x ...                                # write vs-level.json/.svg elsewhere
 *
 * Every store is opened with its defaults (ours: wasm engine if it loads, else js; printed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Bench } from 'tinybench';
import { LsmLevel } from '../src/level/index.js';
import { LsmTree } from '../src/index.js';
import type { LsmTreeOptions } from '../src/lsm/options.js';
import { indexStream, scanTree } from './common.js';
import { makeProgress } from './progress.js';
import type { Progress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const N = Number(process.env.BENCH_N ?? 1_000_000);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 2000);
const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const BATCH_OPS = 1000;
const CONCURRENT_GETS = 32;
/** Full scans timed per store, at most (each is one sample; at least 2 run). */
const SCANS_MAX = 5;

if (!Number.isInteger(N) || N < 1000) throw new Error(`BENCH_N must be an integer >= 1000, got ${process.env.BENCH_N}`);
if (!Number.isFinite(TIME_MS) || TIME_MS <= 0) throw new Error(`BENCH_TIME_MS must be positive, got ${process.env.BENCH_TIME_MS}`);

/** Key i as 16 ASCII digits, written into a fresh array of the store's native type. */
function makeKey(i: number, alloc: (n: number) => Uint8Array): Uint8Array {
  const k = alloc(KEY_BYTES);
  let v = i;
  for (let p = KEY_BYTES - 1; p >= 0; p--) {
    k[p] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return k;
}

/** One store under test, each operation through the store's own API. */
interface Store {
  name: string;
  alloc(n: number): Uint8Array;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  batch(keys: Uint8Array[], value: Uint8Array): Promise<void>;
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** A full scan reading keys and values; returns the entries seen. */
  scan(): Promise<number>;
  /** Compacts what was loaded, so reads run on a settled tree. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const uint8 = (n: number): Uint8Array => new Uint8Array(n);
const buffer = (n: number): Uint8Array => Buffer.allocUnsafe(n);

/** A full scan through an abstract-level iterator; returns the entries seen. */
async function scanLevelIterator(it: { nextv(size: number): Promise<unknown[]>; close(): Promise<void> }): Promise<number> {
  let n = 0;
  try {
    // Each pass reads up to 1000 entries; the scan ends when one comes back empty.
    for (let got = await it.nextv(1000); got.length > 0; got = await it.nextv(1000)) n += got.length;
  } finally {
    await it.close();
  }
  return n;
}

async function openClassic(dir: string): Promise<Store> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  return {
    name: 'classic-level',
    alloc: buffer,
    put: (k, v) => db.put(k as Buffer, v as Buffer),
    batch: (keys, v) => {
      const b = db.batch();
      for (const k of keys) b.put(k as Buffer, v as Buffer);
      return b.write();
    },
    get: (k) => db.get(k as Buffer),
    scan: () => scanLevelIterator(db.iterator()),
    settle: () => db.compactRange(Buffer.from('0'.repeat(KEY_BYTES)), Buffer.from('9'.repeat(KEY_BYTES))),
    close: () => db.close(),
  };
}

async function openTree(dir: string, options: LsmTreeOptions): Promise<Store> {
  const tree = await LsmTree.open(dir, options);
  return {
    name: 'LsmTree',
    alloc: uint8,
    put: (k, v) => tree.put(k, v),
    batch: (keys, v) => {
      const ops = new Array<{ type: 'put'; key: Uint8Array; value: Uint8Array }>(keys.length);
      for (let i = 0; i < keys.length; i++) ops[i] = { type: 'put', key: keys[i]!, value: v };
      return tree.batch(ops);
    },
    get: (k) => tree.get(k),
    scan: async () => scanTree(tree),
    settle: () => tree.compact(),
    close: () => tree.close(),
  };
}

async function openLsmLevel(dir: string, options: LsmTreeOptions): Promise<Store> {
  const db = new LsmLevel<Uint8Array, Uint8Array>(dir, { ...options, keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  // Compaction is not part of abstract-level's API; a second handle on the closed directory does it.
  const compact = async (): Promise<void> => {
    await db.close();
    const tree = await LsmTree.open(dir, options);
    await tree.compact();
    await tree.close();
    await db.open();
  };
  return {
    name: 'LsmLevel (adapter)',
    alloc: uint8,
    put: (k, v) => db.put(k, v),
    batch: (keys, v) => {
      const b = db.batch();
      for (const k of keys) b.put(k, v);
      return b.write();
    },
    get: (k) => db.get(k),
    scan: () => scanLevelIterator(db.iterator()),
    settle: compact,
    close: () => db.close(),
  };
}

type Workload = 'put (awaited)' | 'batch of 1000' | 'get (awaited)' | `get (${typeof CONCURRENT_GETS} concurrent)` | 'full scan';
const WORKLOADS: Workload[] = ['put (awaited)', 'batch of 1000', 'get (awaited)', `get (${CONCURRENT_GETS} concurrent)`, 'full scan'];

/** Operations per second of a finished tinybench task; a task that threw fails the benchmark. */
function opsPerSec(task: { name: string; result: unknown }, opsPerIteration: number): number {
  const r = task.result as { state: string; error?: unknown; throughput?: { mean: number } };
  if (r.state === 'errored') throw new Error(`benchmark task ${task.name} failed`, { cause: r.error });
  if (r.throughput === undefined) throw new Error(`benchmark task ${task.name} has no statistics (state ${r.state})`);
  return r.throughput.mean * opsPerIteration;
}

type Results = Map<string, Map<Workload, number>>;

function record(results: Results, store: string, workload: Workload, value: number): void {
  let m = results.get(store);
  if (m === undefined) results.set(store, (m = new Map()));
  m.set(workload, value);
}

/**
 * Runs every workload on every store, the stores of one workload back to back (tinybench runs a
 * Bench's tasks in order), so a noisy neighbour on the machine hits all stores alike rather than
 * the one that happened to run at that moment.
 */
async function runAll(stores: Store[], progress: Progress): Promise<Results> {
  const results: Results = new Map();
  const values = stores.map((s) => s.alloc(VALUE_BYTES).fill(0x61));

  const writes = new Bench({ time: TIME_MS, warmup: false, iterations: 1 });
  stores.forEach((store, si) => {
    const writeIndex = indexStream(12345, N);
    writes.add(`${store.name}|put`, async () => {
      await store.put(makeKey(writeIndex(), store.alloc), values[si]!);
    });
  });
  stores.forEach((store, si) => {
    const writeIndex = indexStream(54321, N);
    writes.add(`${store.name}|batch`, async () => {
      const keys = new Array<Uint8Array>(BATCH_OPS);
      for (let i = 0; i < BATCH_OPS; i++) keys[i] = makeKey(writeIndex(), store.alloc);
      await store.batch(keys, values[si]!);
    });
  });
  for (const task of writes.tasks) task.addEventListener('start', () => progress.phase(task.name.replace('|', ': ')));
  await writes.run();
  for (const task of writes.tasks) {
    const [store, kind] = task.name.split('|') as [string, string];
    if (kind === 'put') record(results, store, 'put (awaited)', opsPerSec(task, 1));
    else record(results, store, 'batch of 1000', opsPerSec(task, BATCH_OPS));
  }

  progress.phase(`load ${N.toLocaleString('en-US')} keys into each store`);
  // Load every key once (untimed), then settle, so reads and scans see exactly N keys.
  for (const [si, store] of stores.entries()) {
    for (let start = 0; start < N; start += BATCH_OPS) {
      const keys: Uint8Array[] = [];
      for (let i = start; i < Math.min(N, start + BATCH_OPS); i++) keys.push(makeKey(i, store.alloc));
      await store.batch(keys, values[si]!);
    }
    await store.settle();
  }

  const reads = new Bench({ time: TIME_MS, warmup: true, iterations: 1 });
  for (const store of stores) {
    const readIndex = indexStream(999, N);
    reads.add(`${store.name}|get`, async () => {
      if ((await store.get(makeKey(readIndex(), store.alloc))) === undefined) throw new Error(`${store.name} missed a loaded key`);
    });
  }
  for (const store of stores) {
    const readIndex = indexStream(777, N);
    reads.add(`${store.name}|get32`, async () => {
      const pending = new Array<Promise<Uint8Array | undefined>>(CONCURRENT_GETS);
      for (let i = 0; i < CONCURRENT_GETS; i++) pending[i] = store.get(makeKey(readIndex(), store.alloc));
      for (const v of await Promise.all(pending)) if (v === undefined) throw new Error(`${store.name} missed a loaded key`);
    });
  }
  for (const task of reads.tasks) task.addEventListener('start', () => progress.phase(task.name.replace('|', ': ')));
  await reads.run();
  for (const task of reads.tasks) {
    const [store, kind] = task.name.split('|') as [string, string];
    if (kind === 'get') record(results, store, 'get (awaited)', opsPerSec(task, 1));
    else record(results, store, `get (${CONCURRENT_GETS} concurrent)`, opsPerSec(task, CONCURRENT_GETS));
  }

  progress.phase('full scans');
  // Full scans, each timed whole, the stores in turn each round; the median per store.
  const scanMs = stores.map(() => [] as number[]);
  const deadline = Date.now() + TIME_MS * stores.length;
  for (let round = 0; round < SCANS_MAX && (round < 2 || Date.now() < deadline); round++) {
    for (const [si, store] of stores.entries()) {
      const t0 = performance.now();
      const seen = await store.scan();
      scanMs[si]!.push(performance.now() - t0);
      if (seen !== N) throw new Error(`${store.name} scan saw ${seen} entries, expected ${N}`);
    }
  }
  for (const [si, store] of stores.entries()) {
    const sorted = scanMs[si]!.sort((x, y) => x - y);
    record(results, store.name, 'full scan', (N / sorted[Math.floor(sorted.length / 2)]!) * 1000);
  }
  return results;
}

/** Our tree's defaults, unless the wasm engine cannot load here: then js, and say why. */
async function pickTreeOptions(dir: string): Promise<{ options: LsmTreeOptions; engine: string }> {
  try {
    const probe = await LsmTree.open(dir);
    const engine = probe.engineName;
    await probe.close();
    return { options: {}, engine };
  } catch (err) {
    console.log(`default engine failed to open (${(err as Error).message}); using engine 'js'`);
    return { options: { engine: 'js' }, engine: 'js' };
  }
}

/** Goals: [workload of ours, workload of classic-level to compare with, factor]. */
const GOALS: Array<[Workload, Workload, number]> = [
  ['put (awaited)', 'put (awaited)', 10],
  ['batch of 1000', 'batch of 1000', 1.5],
  ['get (awaited)', `get (${CONCURRENT_GETS} concurrent)`, 1.5],
  ['full scan', 'full scan', 2],
];

const root = mkdtempSync(join(tmpdir(), 'lsmraft-vs-level-'));
try {
  const { options: treeOptions, engine } = await pickTreeOptions(join(root, 'probe'));
  console.log(`lsmraft vs classic-level: ${N.toLocaleString('en-US')} keys, ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, ${TIME_MS} ms per task, node ${process.version}, lsmraft engine ${engine}`);
  const stores = [
    await openClassic(join(root, 'classic-level')),
    await openTree(join(root, 'lsmtree'), treeOptions),
    await openLsmLevel(join(root, 'lsmlevel'), treeOptions),
  ];
  // Phases: 2 write tasks, the load, 2 read tasks per store, the scans.
  const progress = makeProgress(4 * stores.length + 2);
  let byStore: Results;
  try {
    byStore = await runAll(stores, progress);
  } finally {
    progress.stop();
    for (const store of stores) await store.close();
  }
  const classic = byStore.get('classic-level')!;
  const tree = byStore.get('LsmTree')!;
  const level = byStore.get('LsmLevel (adapter)')!;
  const ratio = (a: number, b: number): string => `${formatNumber(a / b, 2)}x`;
  console.log(
    alignedTable(
      ['workload', 'classic-level ops/s', 'LsmTree ops/s', 'LsmTree / classic', 'LsmLevel ops/s', 'LsmLevel / classic', 'LsmLevel / LsmTree'],
      WORKLOADS.map((w) => [w, formatNumber(classic.get(w)!), formatNumber(tree.get(w)!), ratio(tree.get(w)!, classic.get(w)!), formatNumber(level.get(w)!), ratio(level.get(w)!, classic.get(w)!), ratio(level.get(w)!, tree.get(w)!)]),
    ),
  );
  console.log('goals, LsmTree against classic-level:');
  for (const [ours, theirs, factor] of GOALS) {
    const ratio = tree.get(ours)! / classic.get(theirs)!;
    const verdict = ratio >= factor ? 'met' : `MISSED by ${(factor / ratio).toFixed(2)}x`;
    console.log(`  ${ours} vs classic-level ${theirs}: ${ratio.toFixed(2)}x (goal ${factor}x) ${verdict}`);
  }
  const goals = GOALS.map(([ours, theirs, factor]) => ({ ours, theirs, factor, ratio: tree.get(ours)! / classic.get(theirs)! }));
  const stores3 = ['classic-level', 'LsmTree', 'LsmLevel (adapter)'];
  writeResults(
    'vs-level',
    { keys: N, timeMs: TIME_MS, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, batchOps: BATCH_OPS, concurrentGets: CONCURRENT_GETS, engine },
    { opsPerSec: Object.fromEntries(stores3.map((st) => [st, Object.fromEntries(byStore.get(st)!)])), goals },
    {
      title: 'lsmraft vs classic-level 3.0.0',
      subtitle: `${N.toLocaleString('en-US')} keys, ${KEY_BYTES} B keys, ${VALUE_BYTES} B values, node ${process.version}, engine ${engine}; bar length: ops/s relative to classic-level (1.0), longer is better; label: the ratio and ops/s (entries/s for scans)`,
      unit: 'ops/s relative to classic-level (classic-level = 1.0)',
      series: stores3,
      groups: WORKLOADS.map((w) => {
        const raw = [classic.get(w)!, tree.get(w)!, level.get(w)!];
        return { label: w, values: raw.map((v) => v / raw[0]!), barLabels: raw.map((v) => `${formatNumber(v / raw[0]!, 2)}x (${formatNumber(v)}/s)`) };
      }),
      scale: 'linear',
    },
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
