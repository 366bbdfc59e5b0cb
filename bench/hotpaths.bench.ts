/**
 * Hot-path benchmark (tinybench): the JS twin and the WASM twin side by side on the same inputs,
 * one table with MB/s of input for each and the ratio wasm/js. Inputs are deterministic.
 *
 *   npm run bench:hotpaths                                   # default, well under 2 minutes
 *   BENCH_TIME_MS=300 BENCH_ENTRIES=20000 npm run bench:hotpaths   # a quick run
 *
 * What crosses the WASM boundary per call (asm/README.md) is the whole input: a block, a run, a filter
 * plus one key. The WASM numbers include copying inputs in and outputs out.
 *
 * Two ratios are printed: wall-clock (tinybench's rates) and CPU time per call (process.cpuUsage
 * over a separate bounded loop), the steadier one when other processes share the cores.
 *
 * Then the bloom filter's false-positive rate at the default 10 bits per key, measured on 1,000,000
 * absent keys (BENCH_BLOOM_PROBES) against filters of 100,000 and 1,000,000 keys, next to the
 * theoretical rate (docs/format/sstable.md "Filter block"). The twins write identical filters
 * (test/engine/twins.test.ts), so this is measured once, with the JS twin.
 *
 * Writes bench/results/hotpaths.json and hotpaths.svg (BENCH_OUT_DIR elsewhere).
 */
import { Bench } from 'tinybench';
import type { EntryRun, HotPaths } from '../src/engine/types.js';
import { jsHotPaths } from '../src/engine/js/index.js';
import { bloomFromHashes, bloomHash, bloomMayContain, bloomProbes, bloomTheoreticalFpRate } from '../src/engine/js/bloom.js';
import { loadWasmHotPaths } from '../src/engine/wasm/index.js';
import { makeInternalKey } from '../src/format/internal-key.js';
import { alphabetValue, sortedRun, xorshift32 } from './common.js';
import { makeProgress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 1000);
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 100_000);
const RUNS = 4;
const KEY_BYTES = 16;
const VALUE_BYTES = 100;

/** RUNS runs of ENTRIES/RUNS entries over overlapping keys (about one key in five rewritten). */
function makeRuns(): EntryRun[] {
  const next = xorshift32(42);
  const perRun = Math.floor(ENTRIES / RUNS);
  const keySpace = Math.floor(ENTRIES * 0.8);
  const value = alphabetValue(VALUE_BYTES);
  let seq = 1;
  const runs: EntryRun[] = [];
  for (let r = 0; r < RUNS; r++) {
    const seen = new Set<number>();
    const entries: Array<[Uint8Array, Uint8Array]> = [];
    while (entries.length < perRun) {
      const k = next() % keySpace;
      if (seen.has(k)) continue;
      seen.add(k);
      const user = new TextEncoder().encode(`user${String(k).padStart(KEY_BYTES - 4, '0')}`);
      const del = next() % 10 === 0;
      entries.push([makeInternalKey(user, seq++, del ? 0 : 1), del ? new Uint8Array(0) : value]);
    }
    runs.push(sortedRun(entries));
  }
  return runs;
}

const runBytes = (run: EntryRun): number => run.offsets[2 * run.count]! - run.offsets[0]!;

interface Case {
  name: string;
  inputBytes: number;
  fn: (e: HotPaths) => unknown;
}

const wasm = await loadWasmHotPaths();
const engines: HotPaths[] = [jsHotPaths, wasm];
const runs = makeRuns();
const merged = jsHotPaths.mergeRuns(runs, { snapshots: [], dropTombstones: false });
const tableOptions = { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 2 << 20 };
// One ~4 KiB data block: the entries the table builder would put in it.
let blockEnd = 1;
while (blockEnd < merged.count && merged.offsets[2 * blockEnd]! < 4000) blockEnd++;
const block = jsHotPaths.encodeBlock(merged, 0, blockEnd, 16);
const bloomRun: EntryRun = { data: merged.data, offsets: merged.offsets.subarray(0, 2 * 10_000 + 1), count: Math.min(10_000, merged.count) };
const filter = jsHotPaths.bloomBuild(bloomRun, 10);
const probeKeys = Array.from({ length: 1024 }, (_, i) => new TextEncoder().encode(`user${String(i * 37).padStart(KEY_BYTES - 4, '0')}`));
let probe = 0;
const crcSmall = block.subarray(0, 4096 > block.length ? block.length : 4096);
const crcBig = merged.data.subarray(0, Math.min(merged.data.length, 1 << 20));

const cases: Case[] = [
  { name: `crc32c ${crcSmall.length} B`, inputBytes: crcSmall.length, fn: (e) => e.crc32c(crcSmall) },
  { name: `crc32c ${crcBig.length} B`, inputBytes: crcBig.length, fn: (e) => e.crc32c(crcBig) },
  { name: `encodeBlock ${blockEnd} entries`, inputBytes: merged.offsets[2 * blockEnd]!, fn: (e) => e.encodeBlock(merged, 0, blockEnd, 16) },
  { name: `decodeBlock ${block.length} B`, inputBytes: block.length, fn: (e) => e.decodeBlock(block) },
  { name: `bloomBuild ${bloomRun.count} keys`, inputBytes: runBytes(bloomRun), fn: (e) => e.bloomBuild(bloomRun, 10) },
  { name: `bloomMayContain (${filter.length} B filter)`, inputBytes: KEY_BYTES, fn: (e) => e.bloomMayContain(filter, probeKeys[probe++ & 1023]!) },
  { name: `mergeRuns ${RUNS} x ${runs[0]!.count}`, inputBytes: runs.reduce((n, r) => n + runBytes(r), 0), fn: (e) => e.mergeRuns(runs, { snapshots: [], dropTombstones: true }) },
  { name: `buildTables ${merged.count} entries`, inputBytes: runBytes(merged), fn: (e) => e.buildTables(merged, tableOptions) },
];

// The twins must agree on what is measured, or the comparison means nothing.
for (const c of cases) {
  const a = JSON.stringify(c.fn(jsHotPaths), (_k, v: unknown) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : v));
  const b = JSON.stringify(c.fn(wasm), (_k, v: unknown) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : v));
  if (a !== b && !c.name.startsWith('bloomMayContain')) {
    throw new Error(`twins disagree on ${c.name}`);
  }
}

const bench = new Bench({ time: TIME_MS, warmupTime: Math.min(200, TIME_MS) });
for (const c of cases) for (const e of engines) bench.add(`${e.name}: ${c.name}`, () => c.fn(e));
const progress = makeProgress(bench.tasks.length + 1);
for (const task of bench.tasks) task.addEventListener('start', () => progress.phase(`wall clock, ${task.name}`));
await bench.run();

function opsPerSec(name: string): number {
  const task = bench.tasks.find((t) => t.name === name)!;
  const r = task.result as { state: string; error?: unknown; throughput?: { mean: number }; latency?: { mean: number } };
  if (r.state === 'errored') throw new Error(`benchmark task ${name} failed`, { cause: r.error });
  if (r.latency === undefined) throw new Error(`benchmark task ${name} has no statistics (state ${r.state})`);
  return 1000 / r.latency.mean;
}

/**
 * CPU microseconds per op of `fn`, over a bounded loop (at most 100,000 calls or CPU_TIME_MS of
 * wall time). On a shared, loaded machine wall-clock rates swing with other processes; the CPU
 * time this process spent per call is the steadier basis for the ratio.
 */
const CPU_TIME_MS = Math.max(50, TIME_MS / 4);
function cpuMicrosPerOp(fn: () => unknown): number {
  const deadline = performance.now() + CPU_TIME_MS;
  const start = process.cpuUsage();
  let calls = 0;
  while (calls < 100_000 && (calls < 3 || performance.now() < deadline)) {
    fn();
    calls++;
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}
const cpuMicros = new Map<string, number>();
progress.phase('CPU time per call');
for (const c of cases) for (const e of engines) cpuMicros.set(`${e.name}: ${c.name}`, cpuMicrosPerOp(() => c.fn(e)));
progress.stop();

console.log(`\nlsmraft hot paths: js vs wasm, ${ENTRIES.toLocaleString('en-US')} entries (${KEY_BYTES}-byte user keys, ${VALUE_BYTES}-byte values), node ${process.version}\n`);
const hotRows = cases.map((c) => {
  const js = opsPerSec(`js: ${c.name}`);
  const w = opsPerSec(`wasm: ${c.name}`);
  const jsCpu = cpuMicros.get(`js: ${c.name}`)!;
  const wasmCpu = cpuMicros.get(`wasm: ${c.name}`)!;
  return { benchmark: c.name, inputBytes: c.inputBytes, jsOpsPerSec: js, wasmOpsPerSec: w, jsCpuMicrosPerOp: jsCpu, wasmCpuMicrosPerOp: wasmCpu };
});
console.log(
  alignedTable(
    ['benchmark', 'js ops/s', 'wasm ops/s', 'js MB/s', 'wasm MB/s', 'wasm/js', 'js cpu us/op', 'wasm cpu us/op', 'wasm/js (cpu)'],
    hotRows.map((r) => [
      r.benchmark,
      formatNumber(r.jsOpsPerSec),
      formatNumber(r.wasmOpsPerSec),
      formatNumber((r.jsOpsPerSec * r.inputBytes) / 1e6, 1),
      formatNumber((r.wasmOpsPerSec * r.inputBytes) / 1e6, 1),
      formatNumber(r.wasmOpsPerSec / r.jsOpsPerSec, 2),
      formatNumber(r.jsCpuMicrosPerOp, 2),
      formatNumber(r.wasmCpuMicrosPerOp, 2),
      formatNumber(r.jsCpuMicrosPerOp / r.wasmCpuMicrosPerOp, 2),
    ]),
  ),
);

const BLOOM_BITS_PER_KEY = 10;
const BLOOM_PROBES = Number(process.env.BENCH_BLOOM_PROBES ?? 1_000_000);

/** Key i of a shape, written into `key` (reused: no allocation per key); returns its length. */
type KeyShape = (i: number, key: Uint8Array) => number;
const textEncoder = new TextEncoder();
/** The benchmark's own keys: `user` + 12 decimal digits; absent keys are indices past the present ones. */
const decimalKey: KeyShape = (i, key) => textEncoder.encodeInto(`user${String(i).padStart(KEY_BYTES - 4, '0')}`, key).written;
/** Random 16-byte keys from a counter-seeded xorshift; present and absent ones differ in the first byte's low bit. */
const randomKey = (presentCount: number): KeyShape => (i, key) => {
  const next = xorshift32(0x9e3779b9 ^ Math.imul(i + 1, 0x85ebca6b));
  for (let j = 0; j < KEY_BYTES; j += 4) {
    const r = next();
    key[j] = r;
    key[j + 1] = r >>> 8;
    key[j + 2] = r >>> 16;
    key[j + 3] = r >>> 24;
  }
  key[0] = (key[0]! & 0xfe) | (i < presentCount ? 0 : 1);
  return KEY_BYTES;
};

interface BloomRow {
  keys: number;
  keyShape: string;
  filterBytes: number;
  absentProbes: number;
  falsePositives: number;
  measuredRate: number;
  theoryRate: number;
}

function measureBloom(keyCount: number, shapeName: string, shape: KeyShape): BloomRow {
  const key = new Uint8Array(64);
  const hashes = new Uint32Array(keyCount);
  for (let i = 0; i < keyCount; i++) hashes[i] = bloomHash(key, 0, shape(i, key));
  const filter = bloomFromHashes(hashes, keyCount, BLOOM_BITS_PER_KEY);
  let falsePositives = 0;
  for (let i = 0; i < BLOOM_PROBES; i++) {
    const n = shape(keyCount + i, key);
    if (bloomMayContain(filter, key.subarray(0, n))) falsePositives++;
  }
  const rate = falsePositives / BLOOM_PROBES;
  const theory = bloomTheoreticalFpRate(keyCount, BLOOM_BITS_PER_KEY);
  return { keys: keyCount, keyShape: shapeName, filterBytes: filter.length, absentProbes: BLOOM_PROBES, falsePositives, measuredRate: rate, theoryRate: theory };
}

console.log(`\nbloom filter false-positive rate: ${BLOOM_BITS_PER_KEY} bits/key, k = ${bloomProbes(BLOOM_BITS_PER_KEY)}, ` +
  'theory (1 - e^(-kn/m))^k; the goal is measured/theory within [0.8, 1.2]\n');
const bloomRows: BloomRow[] = [];
for (const keyCount of [100_000, 1_000_000]) {
  bloomRows.push(measureBloom(keyCount, 'random 16 B', randomKey(keyCount)));
  bloomRows.push(measureBloom(keyCount, 'user + 12 digits', decimalKey));
}
console.log(
  alignedTable(
    ['key shape', 'keys', 'filter bytes', 'absent probes', 'false positives', 'measured %', 'theory %', 'measured/theory'],
    bloomRows.map((r) => [
      r.keyShape,
      formatNumber(r.keys),
      formatNumber(r.filterBytes),
      formatNumber(r.absentProbes),
      formatNumber(r.falsePositives),
      formatNumber(100 * r.measuredRate, 4),
      formatNumber(100 * r.theoryRate, 4),
      formatNumber(r.measuredRate / r.theoryRate, 3),
    ]),
  ),
);
writeResults('hotpaths', { timeMs: TIME_MS, entries: ENTRIES, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, bloomBitsPerKey: BLOOM_BITS_PER_KEY, bloomProbes: BLOOM_PROBES }, { hotPaths: hotRows, bloom: bloomRows }, {
  title: 'Hot paths: the WASM twin against the JS twin (wasm/js, above 1 = WASM faster)',
  subtitle: `${ENTRIES.toLocaleString('en-US')} entries, ${KEY_BYTES}-byte user keys, ${VALUE_BYTES}-byte values, node ${process.version}. Wall clock: tinybench rates; CPU: process.cpuUsage per call over a bounded loop.`,
  unit: 'speed of wasm over js (1.00 = equal)',
  series: ['wall clock', 'CPU time'],
  groups: hotRows.map((r) => {
    const ratios = [r.wasmOpsPerSec / r.jsOpsPerSec, r.jsCpuMicrosPerOp / r.wasmCpuMicrosPerOp];
    return { label: r.benchmark, values: ratios, barLabels: ratios.map((v) => `${formatNumber(v, 2)}x`) };
  }),
  scale: 'linear',
});
