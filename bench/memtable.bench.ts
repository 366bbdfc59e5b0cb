/**
 * Memtable benchmark (tinybench): inserts, point reads, a full scan and the flush packing of the
 * arena skiplist (src/lsm/memtable.ts), reported per entry. Inputs are deterministic.
 *
 *   npm run bench:memtable
 *   BENCH_TIME_MS=300 BENCH_ENTRIES=100000 npm run bench:memtable   # a quick run
 *
 * Keys are random 16-byte user keys, values 100 bytes (the sizes of the other engine benchmarks).
 * Writes bench/results/memtable.json and memtable.svg (BENCH_OUT_DIR elsewhere).
 */
import { Bench } from 'tinybench';
import { KIND_PUT } from '../src/format/internal-key.js';
import { MemTable } from '../src/lsm/memtable.js';
import { compareRange } from '../src/util/bytes.js';
import { alphabetValue, xorshift32 } from './common.js';
import { makeProgress } from './progress.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 2000);
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 1_000_000);
const GETS_PER_TASK = 100_000;
const KEY_BYTES = 16;
const VALUE_BYTES = 100;

const next = xorshift32(42);
const keyBytes = new Uint8Array(ENTRIES * KEY_BYTES);
for (let i = 0; i < keyBytes.length; i++) keyBytes[i] = next() & 0xff;
const keys = Array.from({ length: ENTRIES }, (_, i) => keyBytes.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES));
const value = alphabetValue(VALUE_BYTES);
const lookupOrder = Array.from({ length: GETS_PER_TASK }, () => next() % ENTRIES);

function fill(): MemTable {
  const mem = new MemTable();
  for (let i = 0; i < ENTRIES; i++) mem.add(i + 1, KIND_PUT, keys[i]!, value);
  return mem;
}

/**
 * The same inserts in batches of BATCH_OPS, each batch's keys sorted first, so each insert starts
 * from the splice the previous one left (MemTable.findFromSplice) rather than from the top, as the
 * write path does (src/lsm/batch-insert.ts): the shorter searches must pay for the sort.
 */
const BATCH_OPS = 1000;
function fillSortedBatches(): MemTable {
  const mem = new MemTable();
  const order = new Uint32Array(BATCH_OPS);
  for (let start = 0; start < ENTRIES; start += BATCH_OPS) {
    const n = Math.min(BATCH_OPS, ENTRIES - start);
    const batch = order.subarray(0, n);
    for (let j = 0; j < n; j++) batch[j] = start + j;
    batch.sort((a, b) => compareRange(keyBytes, a * KEY_BYTES, (a + 1) * KEY_BYTES, keyBytes, b * KEY_BYTES, (b + 1) * KEY_BYTES));
    for (const i of batch) mem.addFrom(i + 1, KIND_PUT, keyBytes, i * KEY_BYTES, (i + 1) * KEY_BYTES, value, 0, value.length);
  }
  return mem;
}

const full = fill();
let sink = 0;

const cases: Array<{ name: string; entriesPerOp: number; fn: () => void }> = [
  { name: `insert ${ENTRIES} entries into a new memtable`, entriesPerOp: ENTRIES, fn: () => { sink += fill().entryCount; } },
  {
    name: `insert ${ENTRIES} entries, batches of ${BATCH_OPS} sorted first`,
    entriesPerOp: ENTRIES,
    fn: () => { sink += fillSortedBatches().entryCount; },
  },
  {
    name: `get ${GETS_PER_TASK} random keys of ${ENTRIES}`,
    entriesPerOp: GETS_PER_TASK,
    fn: () => {
      for (const i of lookupOrder) if (full.get(keys[i]!, ENTRIES) !== undefined) sink++;
    },
  },
  {
    name: `scan ${ENTRIES} entries`,
    entriesPerOp: ENTRIES,
    fn: () => {
      const it = full.iterator();
      for (it.seekToFirst(); it.valid(); it.next()) sink += it.key().length;
    },
  },
  { name: `toRun of ${ENTRIES} entries`, entriesPerOp: ENTRIES, fn: () => { sink += full.toRun().count; } },
];

const bench = new Bench({ time: TIME_MS, warmupTime: Math.min(500, TIME_MS), iterations: 2 });
for (const c of cases) bench.add(c.name, c.fn);
const progress = makeProgress(bench.tasks.length);
for (const task of bench.tasks) task.addEventListener('start', () => progress.phase(task.name));
await bench.run();
progress.stop();

function opsPerSec(name: string): number {
  const task = bench.tasks.find((t) => t.name === name)!;
  const r = task.result as { state: string; error?: unknown; latency?: { mean: number } };
  if (r.state === 'errored') throw new Error(`benchmark task ${name} failed`, { cause: r.error });
  if (r.latency === undefined) throw new Error(`benchmark task ${name} has no statistics (state ${r.state})`);
  return 1000 / r.latency.mean;
}

console.log(`\nlsmraft memtable: ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, arena ${full.approximateBytes} bytes, node ${process.version}\n`);
const rows = cases.map((c) => {
  const ops = opsPerSec(c.name);
  return { benchmark: c.name, entriesPerSec: ops * c.entriesPerOp, msPerOp: 1000 / ops };
});
console.log(alignedTable(['benchmark', 'entries/s', 'ms/op'], rows.map((r) => [r.benchmark, formatNumber(r.entriesPerSec), formatNumber(r.msPerOp, 1)])));
writeResults('memtable', { timeMs: TIME_MS, entries: ENTRIES, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, arenaBytes: full.approximateBytes }, rows, {
  title: 'Memtable (arena skiplist): entries per second',
  subtitle: `${formatNumber(ENTRIES)} entries, random ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, arena ${formatNumber(full.approximateBytes)} bytes; node ${process.version}. Longer is better.`,
  unit: 'entries per second',
  series: ['memtable'],
  groups: rows.map((r) => ({ label: r.benchmark, values: [r.entriesPerSec], barLabels: [`${formatNumber(r.entriesPerSec)}/s`] })),
});
if (sink < 0) console.log(sink);
