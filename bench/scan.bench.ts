/**
 * Full-scan throughput, lsmraft beside lmdb in the same process and the same run: both stores get
 * the same keys (16 ASCII digits, shuffled, batches of 1000) and values (100 random bytes), the
 * LSM tree is compacted into its last level, both stores serve BENCH_GETS synchronous point reads of
 * random keys (as bench:engines does before its scan: they warm the block cache), then each store is
 * scanned `BENCH_REPEATS` times, alternating, every key and value read. The first repeat is what
 * bench:engines measures (one scan per process).
 *
 *   BENCH_KEYS=200000 BENCH_REPEATS=3 BENCH_ENGINE=wasm npm run bench:scan
 *
 * To see where the time goes: node --cpu-prof --import tsx bench/scan.bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { LsmTree } from '../src/lsm.js';
import type { EngineName } from '../src/lsm.js';
import { randomValues, scanTree, shuffledIndexes, writeDigitKey, xorshift32 } from './common.js';

function intFromEnv(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

const KEYS_COUNT = intFromEnv('BENCH_KEYS', 200_000);
const REPEATS_COUNT = intFromEnv('BENCH_REPEATS', 3);
const GETS_COUNT = intFromEnv('BENCH_GETS', KEYS_COUNT);
const BATCH_OPS = 1000;
const engine = (process.env['BENCH_ENGINE'] ?? 'wasm') as EngineName;

const values = randomValues(77, 65536, 100);
const order = shuffledIndexes(22, KEYS_COUNT);
const root = mkdtempSync(join(tmpdir(), 'lsmraft-scan-bench-'));

try {
  const tree = await LsmTree.open(join(root, 'lsm'), { engine });
  const lmdb = open<Buffer, Buffer>(join(root, 'lmdb'), { keyEncoding: 'binary', encoding: 'binary', noSync: true });
  // Bounded by KEYS_COUNT / BATCH_OPS batches.
  for (let start = 0; start < KEYS_COUNT; start += BATCH_OPS) {
    const keys: Buffer[] = [];
    const vals: Uint8Array[] = [];
    for (let i = start; i < Math.min(KEYS_COUNT, start + BATCH_OPS); i++) {
      keys.push(writeDigitKey(order[i]!, Buffer.alloc(16)) as Buffer);
      vals.push(values[i % values.length]!);
    }
    await tree.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: vals[i]! })));
    await lmdb.batch(() => {
      for (let i = 0; i < keys.length; i++) void lmdb.put(keys[i]!, Buffer.from(vals[i]!));
    });
  }
  await tree.compact();
  await lmdb.flushed;
  const next = xorshift32(55);
  // Bounded by GETS_COUNT.
  for (let i = 0; i < GETS_COUNT; i++) {
    const key = writeDigitKey(next() % KEYS_COUNT, Buffer.alloc(16)) as Buffer;
    if (tree.getSync(key) === undefined || lmdb.get(key) === undefined) throw new Error('a loaded key is missing');
  }

  const rate = (f: () => number): number => {
    const t0 = process.hrtime.bigint();
    const n = f();
    if (n !== KEYS_COUNT) throw new Error(`scan saw ${n} entries, expected ${KEYS_COUNT}`);
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const scanLmdb = (): number => {
    let n = 0;
    for (const { key, value } of lmdb.getRange({})) if (key !== undefined && value !== undefined) n++;
    return n;
  };
  const fmt = (r: number): string => `${(r / 1e6).toFixed(2)}M/s`;
  for (let r = 0; r < REPEATS_COUNT; r++) {
    const a = rate(() => scanTree(tree));
    const b = rate(scanLmdb);
    console.log(`repeat ${r + 1}: lsmraft ${engine} ${fmt(a)}  lmdb ${fmt(b)}  ratio ${(a / b).toFixed(2)}`);
  }
  await tree.close();
  await lmdb.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
