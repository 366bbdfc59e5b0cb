/**
 * Engine benchmark (tinybench), after leveldb's db_bench: fillseq, fillrandom (awaited put, and
 * batches of 1000), readrandom on a compacted tree, readseq (full scan), on BENCH_N entries
 * (default 1,000,000) of 16-byte keys and 100-byte values. Prints one table (ops/s and MB/s) and
 * writes bench/results/engine.json and engine.svg (BENCH_OUT_DIR elsewhere).
 *
 *   npm run bench:engine                         # both engines, 1M entries
 *   BENCH_N=20000 BENCH_TIME_MS=200 BENCH_ENGINES=js npm run bench:engine   # a quick run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { LsmTree } from '../src/index.js';
import type { EngineName } from '../src/engine/types.js';
import { alphabetValue, indexStream } from './common.js';
import { makeProgress } from './progress.js';
import type { Progress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const N = Number(process.env.BENCH_N ?? 1_000_000);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 3000);
const ENGINES = (process.env.BENCH_ENGINES ?? 'wasm,js').split(',') as EngineName[];
const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const ENTRY_BYTES = KEY_BYTES + VALUE_BYTES;

function key(i: number): Uint8Array {
  return new TextEncoder().encode(String(i).padStart(KEY_BYTES, '0'));
}

const value = alphabetValue(VALUE_BYTES);

/** A finished task's statistics; a task that threw fails the whole benchmark. */
function statsOf(task: { name: string; result: unknown }): { throughput: { mean: number }; latency: { p50: number; p99: number } } {
  const r = task.result as { state: string; error?: unknown; throughput?: { mean: number }; latency?: { p50: number; p99: number } };
  if (r.state === 'errored') throw new Error(`benchmark task ${task.name} failed`, { cause: r.error });
  if (r.throughput === undefined || r.latency === undefined) throw new Error(`benchmark task ${task.name} has no statistics (state ${r.state})`);
  return { throughput: r.throughput, latency: r.latency };
}

interface Row {
  engine: EngineName;
  name: string;
  opsPerSec: number;
  p50us: number;
  p99us: number;
}

async function benchEngine(engine: EngineName, progress: Progress): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), `lsmraft-bench-${engine}-`));
  const tree = await LsmTree.open(dir, { engine });
  try {
    let seq = 0;
    const rnd = indexStream(12345, N);
    const fill = new Bench({ time: TIME_MS, warmup: false, iterations: 1 });
    fill.add('fillseq (awaited put)', async () => {
      await tree.put(key(seq++ % N), value);
    });
    fill.add('fillrandom (awaited put)', async () => {
      await tree.put(key(rnd()), value);
    });
    fill.add('fillrandom (batch of 1000)', async () => {
      const ops = new Array(1000);
      for (let i = 0; i < 1000; i++) ops[i] = { type: 'put', key: key(rnd()), value };
      await tree.batch(ops);
    });
    progress.phase(`${engine}: fill`);
    await fill.run();
    for (const task of fill.tasks) {
      const r = statsOf(task);
      const perOp = task.name.includes('1000') ? 1000 : 1;
      rows.push({ engine, name: task.name, opsPerSec: r.throughput.mean * perOp, p50us: (r.latency.p50 * 1000) / perOp, p99us: (r.latency.p99 * 1000) / perOp });
    }

    progress.phase(`${engine}: load ${N.toLocaleString('en-US')} keys and compact`);
    // Load every key once, then compact, so reads run on a settled N-key tree.
    for (let i = 0; i < N; i += 1000) {
      const ops = [];
      for (let j = i; j < Math.min(N, i + 1000); j++) ops.push({ type: 'put' as const, key: key(j), value });
      await tree.batch(ops);
    }
    await tree.compact();

    const read = new Bench({ time: TIME_MS, warmup: true, iterations: 1 });
    const rndRead = indexStream(999, N);
    read.add('readrandom (awaited get)', async () => {
      const v = await tree.get(key(rndRead()));
      if (v === undefined) throw new Error('readrandom missed a key that was loaded');
    });
    read.add('readrandom (sync getSync)', () => {
      if (tree.getSync(key(rndRead())) === undefined) throw new Error('readrandom missed a key that was loaded');
    });
    progress.phase(`${engine}: read`);
    await read.run();
    for (const task of read.tasks) {
      const r = statsOf(task);
      rows.push({ engine, name: task.name, opsPerSec: r.throughput.mean, p50us: r.latency.p50 * 1000, p99us: r.latency.p99 * 1000 });
    }

    progress.phase(`${engine}: full scans`);
    // readseq: full scans, timed whole (a scan of N entries is one measurement).
    const scans: number[] = [];
    const deadline = Date.now() + TIME_MS;
    for (let i = 0; i < 20 && (i < 2 || Date.now() < deadline); i++) {
      const t0 = performance.now();
      let n = 0;
      const it = tree.iterator();
      while (it.next()) n++;
      it.close();
      if (n !== N) throw new Error(`readseq saw ${n} entries, expected ${N}`);
      scans.push(performance.now() - t0);
    }
    scans.sort((a, b) => a - b);
    const medianMs = scans[Math.floor(scans.length / 2)]!;
    rows.push({ engine, name: 'readseq (iterator, full scan)', opsPerSec: (N / medianMs) * 1000, p50us: (medianMs * 1000) / N, p99us: NaN });
    return rows;
  } finally {
    await tree.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const all: Row[] = [];
const progress = makeProgress(ENGINES.length * 4);
try {
  for (const engine of ENGINES) all.push(...(await benchEngine(engine, progress)));
} finally {
  progress.stop();
}
console.log(`\nlsmraft engine benchmark: ${N.toLocaleString('en-US')} entries, ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, node ${process.version}\n`);
console.log(
  alignedTable(
    ['engine | benchmark', 'ops/s', 'MB/s', 'p50 us/op', 'p99 us/op'],
    all.map((r) => [`${r.engine} | ${r.name}`, formatNumber(r.opsPerSec), formatNumber((r.opsPerSec * ENTRY_BYTES) / 1e6, 1), formatNumber(r.p50us, 2), formatNumber(r.p99us, 2)]),
  ),
);
const names = [...new Set(all.map((r) => r.name))];
writeResults('engine', { entries: N, timeMs: TIME_MS, engines: ENGINES, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES }, all, {
  title: 'lsmraft engine benchmark: ops/s per workload, wasm and js twins',
  subtitle: `${N.toLocaleString('en-US')} entries, ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, node ${process.version}. Batched rows count each put of the batch.`,
  unit: 'operations per second',
  series: ENGINES,
  groups: names.map((name) => ({ label: name, values: ENGINES.map((e) => all.find((r) => r.engine === e && r.name === name)?.opsPerSec ?? NaN) })),
});
