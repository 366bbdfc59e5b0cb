/**
 * Block compression in a whole tree: for compressible values (the alphabet pattern of the other
 * benchmarks) and random ones, with blockCompression 'none' and 'lz4', one after another in this
 * process (same machine state, side by side): write rate (batches of 1,000, then flush and a full
 * compact()), bytes of the tables on disk, and read rates after a reopen (empty block cache; the OS
 * page cache holds the files): random gets 32 in flight, random getSync, one full scan.
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

const rows = [];
for (const [values, valueOf] of Object.entries(valueSets)) {
  for (const blockCompression of ['none', 'lz4'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'lsmraft-compression-'));
    try {
      const order = shuffledIndexes(1, KEYS);
      let tree = await LsmTree.open(dir, { engine: ENGINE, blockCompression });
      let t = performance.now();
      for (let start = 0; start < KEYS; start += BATCH_ENTRIES) {
        const ops = [];
        for (let i = start; i < Math.min(KEYS, start + BATCH_ENTRIES); i++) ops.push({ type: 'put' as const, key: key(order[i]!), value: valueOf(i) });
        await tree.batch(ops);
      }
      const batchMs = performance.now() - t;
      t = performance.now();
      await tree.compact();
      const compactMs = performance.now() - t;
      await tree.close();
      const bytes = tableBytes(dir);

      tree = await LsmTree.open(dir, { engine: ENGINE, blockCompression });
      const gets = shuffledIndexes(2, KEYS).subarray(0, GETS);
      t = performance.now();
      for (let i = 0; i < GETS; i += GETS_IN_FLIGHT) {
        const batch = [];
        for (let j = i; j < Math.min(GETS, i + GETS_IN_FLIGHT); j++) batch.push(tree.get(key(gets[j]!)));
        await Promise.all(batch);
      }
      const getMs = performance.now() - t;
      t = performance.now();
      for (let i = 0; i < GETS; i++) tree.getSync(key(gets[(i * 7) % GETS]!));
      const getSyncMs = performance.now() - t;
      t = performance.now();
      const scanned = scanTree(tree);
      const scanMs = performance.now() - t;
      await tree.close();
      if (scanned !== KEYS) throw new Error(`scan saw ${scanned} of ${KEYS} entries`);
      rows.push({
        values, blockCompression, tableBytes: bytes,
        batchPerSec: KEYS / (batchMs / 1000), compactMs, getPerSec: GETS / (getMs / 1000),
        getSyncPerSec: GETS / (getSyncMs / 1000), scanPerSec: KEYS / (scanMs / 1000),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

console.log(`\nblock compression, ${KEYS.toLocaleString('en-US')} keys of ${KEY_BYTES} B, ${VALUE_BYTES}-byte values, engine ${ENGINE}, node ${process.version}\n`);
console.log(alignedTable(
  ['values', 'compression', 'table MB', 'batch1000 puts/s', 'compact() ms', `get ${GETS_IN_FLIGHT} in flight/s`, 'getSync/s', 'scan entries/s'],
  rows.map((r) => [
    r.values, r.blockCompression, formatNumber(r.tableBytes / 1e6, 2), formatNumber(r.batchPerSec), formatNumber(r.compactMs),
    formatNumber(r.getPerSec), formatNumber(r.getSyncPerSec), formatNumber(r.scanPerSec),
  ]),
));
writeResults('compression', { keys: KEYS, engine: ENGINE, valueBytes: VALUE_BYTES }, rows);
