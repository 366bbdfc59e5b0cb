/**
 * LZ4 codec benchmark (tinybench), in the manner of bench/hotpaths.bench.ts: the JS twin
 * (src/engine/js/lz4.ts) and the WASM twin (asm/lz4.ts) side by side on the same inputs, with MB/s
 * of raw bytes and the ratio wasm/js, by wall clock and by CPU time per call (the steadier one on
 * a shared machine). Inputs: a 4 KiB data block of the benchmark's alphabet values (compressible),
 * one of random values (incompressible: the compressor gives up at the 1/8 rule's limit, as the
 * table writer does), and 64 KiB of text-like words. Also the read path's decodeBlock of the same
 * block stored compressed and raw, and buildTables with and without compression.
 *
 *   npm run bench:lz4                      # BENCH_TIME_MS=300 for a quick run
 *
 * Writes bench/results/lz4.json (BENCH_OUT_DIR elsewhere).
 */
import { Bench } from 'tinybench';
import type { EntryRun, HotPaths } from '../src/engine/types.js';
import { jsHotPaths } from '../src/engine/js/index.js';
import { loadWasmHotPaths } from '../src/engine/wasm/index.js';
import { makeInternalKey } from '../src/format/internal-key.js';
import { putFixed32, putVarint } from '../src/util/bytes.js';
import { crc32c, maskCrc } from '../src/format/crc32c.js';
import { alphabetValue, randomValues, sortedRun, xorshift32 } from './common.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 1000);
const ENTRIES = 20_000;

function runOf(values: (i: number) => Uint8Array): EntryRun {
  return sortedRun(Array.from({ length: ENTRIES }, (_, i) =>
    [makeInternalKey(new TextEncoder().encode(`user${String(i).padStart(12, '0')}`), i + 1, 1), values(i)] as [Uint8Array, Uint8Array]));
}

/** The raw contents of the run's first ~4 KiB data block, as the table writer would cut it. */
function firstBlockContents(run: EntryRun): Uint8Array {
  let end = 1;
  while (end < run.count && run.offsets[2 * end]! < 4000) end++;
  const block = jsHotPaths.encodeBlock(run, 0, end, 16);
  return block.subarray(0, block.length - 5);
}

/** `raw` stored as a type-1 block (varint raw size ++ LZ4 block, trailer). */
function compressedBlock(raw: Uint8Array): Uint8Array {
  const lz4 = jsHotPaths.lz4Compress(raw)!;
  const contents = new Uint8Array(5 + lz4.length);
  const at = putVarint(contents, 0, raw.length);
  contents.set(lz4, at);
  const block = new Uint8Array(at + lz4.length + 5);
  block.set(contents.subarray(0, at + lz4.length));
  block[at + lz4.length] = 1;
  putFixed32(block, at + lz4.length + 1, maskCrc(crc32c(block.subarray(0, at + lz4.length + 1))));
  return block;
}

function words(bytes: number): Uint8Array {
  const next = xorshift32(5);
  const vocabulary = Array.from({ length: 500 }, () => new TextEncoder().encode(`${'w'.repeat(1 + (next() % 9))}${next() % 1000} `));
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes;) {
    const w = vocabulary[next() % vocabulary.length]!;
    for (let i = 0; i < w.length && at < bytes; i++) out[at++] = w[i]!;
  }
  return out;
}

const alphabet = alphabetValue(100);
const random = randomValues(77, ENTRIES, 100);
const alphabetRun = runOf(() => alphabet);
const randomRun = runOf((i) => random[i]!);
const alphabetBlock = firstBlockContents(alphabetRun);
const randomBlock = firstBlockContents(randomRun);
const text = words(64 * 1024);
const limit = (raw: Uint8Array): number => raw.length - (raw.length >>> 3) - 3;
const plainBlock = jsHotPaths.encodeBlock(alphabetRun, 0, 40, 16);
const packedBlock = compressedBlock(plainBlock.subarray(0, plainBlock.length - 5));
const tableOptions = { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 64 << 20 };

interface Case {
  name: string;
  rawBytes: number;
  fn: (e: HotPaths) => unknown;
}
const cases: Case[] = [];
for (const [name, raw] of [['4 KiB block, alphabet values', alphabetBlock], ['4 KiB block, random values', randomBlock], ['64 KiB words', text]] as const) {
  const lz4 = jsHotPaths.lz4Compress(raw)!;
  cases.push({ name: `compress ${name} (to ${formatNumber((100 * lz4.length) / raw.length, 1)}%)`, rawBytes: raw.length, fn: (e) => e.lz4Compress(raw, limit(raw)) });
  cases.push({ name: `decompress ${name}`, rawBytes: raw.length, fn: (e) => e.lz4Decompress(lz4, raw.length) });
}
cases.push({ name: `decodeBlock ${plainBlock.length} B raw`, rawBytes: plainBlock.length, fn: (e) => e.decodeBlock(plainBlock) });
cases.push({ name: `decodeBlock same, LZ4 (${packedBlock.length} B)`, rawBytes: plainBlock.length, fn: (e) => e.decodeBlock(packedBlock) });
for (const [name, run] of [['alphabet', alphabetRun], ['random', randomRun]] as const) {
  const bytes = run.offsets[2 * run.count]!;
  for (const blockCompression of ['none', 'lz4'] as const) {
    const size = jsHotPaths.buildTables(run, { ...tableOptions, blockCompression })[0]!.bytes.length;
    cases.push({
      name: `buildTables ${ENTRIES} ${name}, ${blockCompression} (${formatNumber(size / 1024)} KiB)`, rawBytes: bytes,
      fn: (e) => e.buildTables(run, { ...tableOptions, blockCompression }),
    });
  }
}

const wasm = await loadWasmHotPaths();
const engines: HotPaths[] = [jsHotPaths, wasm];
for (const c of cases) {
  const a = JSON.stringify(c.fn(jsHotPaths), (_k, v: unknown) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : v));
  const b = JSON.stringify(c.fn(wasm), (_k, v: unknown) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : v));
  if (a !== b) throw new Error(`twins disagree on ${c.name}`);
}

const bench = new Bench({ time: TIME_MS, warmupTime: Math.min(200, TIME_MS) });
for (const c of cases) for (const e of engines) bench.add(`${e.name}: ${c.name}`, () => c.fn(e));
await bench.run();
const rate = (name: string): number => {
  const r = bench.tasks.find((t) => t.name === name)!.result as { latency?: { mean: number } };
  if (r.latency === undefined) throw new Error(`benchmark task ${name} has no statistics`);
  return 1000 / r.latency.mean;
};
/** CPU microseconds per call over a bounded loop (at most 20,000 calls or TIME_MS / 4 of wall time). */
function cpuMicros(fn: () => unknown): number {
  const deadline = performance.now() + Math.max(50, TIME_MS / 4);
  const start = process.cpuUsage();
  let calls = 0;
  for (; calls < 20_000 && (calls < 3 || performance.now() < deadline); calls++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

const rows = cases.map((c) => ({
  benchmark: c.name,
  rawBytes: c.rawBytes,
  jsOpsPerSec: rate(`js: ${c.name}`),
  wasmOpsPerSec: rate(`wasm: ${c.name}`),
  jsCpuMicros: cpuMicros(() => c.fn(jsHotPaths)),
  wasmCpuMicros: cpuMicros(() => c.fn(wasm)),
}));
console.log(`\nLZ4 codec, js vs wasm (MB/s of raw bytes), node ${process.version}\n`);
console.log(alignedTable(
  ['benchmark', 'js MB/s', 'wasm MB/s', 'wasm/js', 'js cpu us', 'wasm cpu us', 'wasm/js (cpu)'],
  rows.map((r) => [
    r.benchmark,
    formatNumber((r.jsOpsPerSec * r.rawBytes) / 1e6, 1),
    formatNumber((r.wasmOpsPerSec * r.rawBytes) / 1e6, 1),
    formatNumber(r.wasmOpsPerSec / r.jsOpsPerSec, 2),
    formatNumber(r.jsCpuMicros, 2),
    formatNumber(r.wasmCpuMicros, 2),
    formatNumber(r.jsCpuMicros / r.wasmCpuMicros, 2),
  ]),
));
writeResults('lz4', { timeMs: TIME_MS, entries: ENTRIES }, rows);
