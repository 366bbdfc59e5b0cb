/**
 * Block compression in a whole tree: for compressible values (the alphabet pattern of the other
 * benchmarks) and random ones, with blockCompression 'none' and 'lz4', one after another in this
 * process (same machine state, side by side): write rate (batches of 1,000, then flush and a full
 * compact()), bytes of the tables on disk, and read rates after a reopen (empty block cache; the OS
 * page cache holds the files): random gets 32 in flight, random getSync, one full scan. Each rate
 * comes with the process's CPU time per operation (all its threads: the job pool's workers too),
 * the steadier figure when other processes share the cores.
 *
 *   BENCH_KEYS=200000 npm run bench:compression        # default 200,000 keys; engine by BENCH_ENGINE
 *
 * Writes bench/results/compression.json (BENCH_OUT_DIR elsewhere).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LsmTree, type EngineName } from '../src/index.js';
import { alphabetValue, randomValues, scanTree, shuffledIndexes, writeDigitKey } from './common.js';
import { writeResults } from './results.js';
import { alignedTable, formatNumber } from './table.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 200_000);
const ENGINE = (process.env.BENCH_ENGINE ?? 'wasm') as EngineName;
const VALUE_BYTES = 100;
const BATCH_ENTRIES = 1000;
const GETS = Math.min(KEYS, 100_000);
const GETS_IN_FLIGHT = 32;
const KEY_BYTES = 16;

const alphabet = alphabetValue(VALUE_BYTES);
const random = randomValues(77, 65_536, VALUE_BYTES);
const valueSets = { alphabet: (_i: number): Uint8Array => alphabet, random: (i: number): Uint8Array => random[i & 65_535]! };

const key = (i: number): Uint8Array => writeDigitKey(i, new Uint8Array(KEY_BYTES));
const tableBytes = (dir: string): number =>
  readdirSync(dir).filter((n) => n.endsWith('.sst')).reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);

/** Runs `fn`, returning wall milliseconds and CPU microseconds (this process, all threads). */
async function timed(fn: () => unknown): Promise<{ ms: number; cpuMicros: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await fn();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - t, cpuMicros: used.user + used.system };
}

const rows = [];
for (const [values, valueOf] of Object.entries(valueSets)) {
  for (const blockCompression of ['none', 'lz4'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'lsmraft-compression-'));
    try {
      const order = shuffledIndexes(1, KEYS);
      let tree = await LsmTree.open(dir, { engine: ENGINE, blockCompression });
      const write = await timed(async () => {
        for (let start = 0; start < KEYS; start += BATCH_ENTRIES) {
          const ops = [];
          for (let i = start; i < Math.min(KEYS, start + BATCH_ENTRIES); i++) ops.push({ type: 'put' as const, key: key(order[i]!), value: valueOf(i) });
          await tree.batch(ops);
        }
        await tree.compact();
      });
      await tree.close();
      const bytes = tableBytes(dir);

      tree = await LsmTree.open(dir, { engine: ENGINE, blockCompression });
      const gets = shuffledIndexes(2, KEYS).subarray(0, GETS);
      const get = await timed(async () => {
        for (let i = 0; i < GETS; i += GETS_IN_FLIGHT) {
          const batch = [];
          for (let j = i; j < Math.min(GETS, i + GETS_IN_FLIGHT); j++) batch.push(tree.get(key(gets[j]!)));
          await Promise.all(batch);
        }
      });
      const getSync = await timed(() => {
        for (let i = 0; i < GETS; i++) tree.getSync(key(gets[(i * 7) % GETS]!));
      });
      let scanned = 0;
      const scan = await timed(() => {
        scanned = scanTree(tree);
      });
      await tree.close();
      if (scanned !== KEYS) throw new Error(`scan saw ${scanned} of ${KEYS} entries`);
      const perSec = (n: number, r: { ms: number }): number => n / (r.ms / 1000);
      rows.push({
        values, blockCompression, tableBytes: bytes,
        writePerSec: perSec(KEYS, write), writeCpuMicros: write.cpuMicros / KEYS,
        getPerSec: perSec(GETS, get), getCpuMicros: get.cpuMicros / GETS,
        getSyncPerSec: perSec(GETS, getSync), getSyncCpuMicros: getSync.cpuMicros / GETS,
        scanPerSec: perSec(KEYS, scan), scanCpuMicros: scan.cpuMicros / KEYS,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

console.log(`\nblock compression, ${KEYS.toLocaleString('en-US')} keys of ${KEY_BYTES} B, ${VALUE_BYTES}-byte values, engine ${ENGINE}, ` +
  `node ${process.version}; writes: batches of ${BATCH_ENTRIES} then compact()\n`);
console.log(alignedTable(
  ['values', 'compression', 'table MB', 'write/s', 'cpu us', `get x${GETS_IN_FLIGHT}/s`, 'cpu us', 'getSync/s', 'cpu us', 'scan/s', 'cpu us'],
  rows.map((r) => [
    r.values, r.blockCompression, formatNumber(r.tableBytes / 1e6, 2),
    formatNumber(r.writePerSec), formatNumber(r.writeCpuMicros, 2), formatNumber(r.getPerSec), formatNumber(r.getCpuMicros, 2),
    formatNumber(r.getSyncPerSec), formatNumber(r.getSyncCpuMicros, 2), formatNumber(r.scanPerSec), formatNumber(r.scanCpuMicros, 2),
  ]),
));
writeResults('compression', { keys: KEYS, engine: ENGINE, valueBytes: VALUE_BYTES }, rows);
