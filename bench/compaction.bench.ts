/**
 * Compaction off the main thread, measured: fills BENCH_N keys (default 1,000,000; 16-byte random
 * keys, 100-byte values, batches of 100) while flushes and compactions run, and reports the main
 * thread's event-loop delay (perf_hooks.monitorEventLoopDelay) p50/p99/max during the fill, once
 * with the worker pool and once with jobs inline on the main thread, side by side.
 *
 * Writes bench/results/compaction.json and compaction.svg (BENCH_OUT_DIR elsewhere).
 *
 *   npm run bench:compaction
 *   BENCH_N=50000 npm run bench:compaction      # a quick run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LsmTree } from '../src/lsm/db.js';
import { sharedJobPool } from '../src/pool/job-pool.js';
import type { EngineName } from '../src/engine/types.js';
import { xorshift32 } from './common.js';
import { makeProgress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const N = Number(process.env.BENCH_N ?? 1_000_000);
const ENGINE = (process.env.BENCH_ENGINE ?? 'wasm') as EngineName;
const BATCH = 100;

interface Result {
  mode: string;
  seconds: number;
  putsPerSec: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  flushes: number;
  compactions: number;
  compactedMB: number;
}

async function fill(pool: boolean): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'lsmraft-compaction-bench-'));
  // Smaller memtables and tables than the defaults, so a run of this size compacts many times.
  const tree = await LsmTree.open(dir, { engine: ENGINE, workerPool: pool, jobPool: sharedJobPool, memtableBytesMax: 4 << 20, targetFileSizeBytes: 2 << 20, l1MaxBytes: 16 << 20 });
  const value = new Uint8Array(100).fill(120);
  const nextKey = xorshift32(2463534242);
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const started = performance.now();
  histogram.enable();
  try {
    for (let i = 0; i < N; i += BATCH) {
      const ops = [];
      for (let j = 0; j < BATCH; j++) {
        ops.push({ type: 'put' as const, key: nextKey().toString(16).padStart(16, '0'), value });
      }
      await tree.batch(ops);
      // Give timers a turn between batches, as a server's request handlers would.
      if ((i / BATCH) % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await tree.flush();
    // Wait (bounded) for the compactions the fill triggered to finish.
    for (let i = 0; i < 6000 && tree.stats().compactions.running; i++) await new Promise((r) => setTimeout(r, 10));
    histogram.disable();
    const seconds = (performance.now() - started) / 1000;
    const stats = tree.stats();
    return {
      mode: pool ? 'worker pool' : 'inline (no pool)',
      seconds,
      putsPerSec: N / seconds,
      p50ms: histogram.percentile(50) / 1e6,
      p99ms: histogram.percentile(99) / 1e6,
      maxMs: histogram.max / 1e6,
      flushes: stats.flushes.count,
      compactions: stats.compactions.count,
      compactedMB: stats.compactions.inputBytes / 1e6,
    };
  } finally {
    histogram.disable();
    await tree.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const progress = makeProgress(2);
const results: Result[] = [];
try {
  for (const pool of [true, false]) {
    progress.phase(`fill ${N.toLocaleString('en-US')} keys, ${pool ? 'worker pool' : 'inline (no pool)'}`);
    results.push(await fill(pool));
  }
} finally {
  progress.stop();
}
console.log(`\nlsmraft compaction benchmark: ${N.toLocaleString('en-US')} random puts in batches of ${BATCH}, engine ${ENGINE}, node ${process.version}\n`);
console.log(
  alignedTable(
    ['mode', 'puts/s', 'loop delay p50 ms', 'loop delay p99 ms', 'loop delay max ms', 'flushes', 'compactions', 'compacted MB', 'seconds'],
    results.map((r) => [
      r.mode,
      formatNumber(r.putsPerSec),
      formatNumber(r.p50ms, 2),
      formatNumber(r.p99ms, 2),
      formatNumber(r.maxMs, 1),
      formatNumber(r.flushes),
      formatNumber(r.compactions),
      formatNumber(r.compactedMB, 1),
      formatNumber(r.seconds, 1),
    ]),
  ),
);
writeResults('compaction', { puts: N, batchOps: BATCH, engine: ENGINE }, results, {
  title: 'Main-thread event-loop delay during a fill, with and without the worker pool',
  subtitle: `${N.toLocaleString('en-US')} random puts (16-byte keys, 100-byte values) in batches of ${BATCH}, engine ${ENGINE}, node ${process.version}. Shorter is better.`,
  unit: 'event-loop delay, ms',
  series: results.map((r) => r.mode),
  groups: (['p50ms', 'p99ms', 'maxMs'] as const).map((k) => ({ label: `loop delay ${k.replace('ms', '').replace('Ms', '')}`, values: results.map((r) => r[k]), barLabels: results.map((r) => `${formatNumber(r[k], 2)} ms`) })),
  scale: 'linear',
});
