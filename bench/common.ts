/**
 * What the benchmarks share: deterministic inputs, so two runs (or two stores in one run) measure
 * the same work. The generators and the run packer are the tests' own (test/helpers), one copy each.
 */
import type { LsmTree } from '../src/lsm.js';
import { xorshift32 } from '../test/helpers/rng.js';

export { xorshift32 } from '../test/helpers/rng.js';
export { sortedRun } from '../test/helpers/runs.js';

/** xorshift32 over [0, n): the same index sequence for every run and every store given the seed. */
export function indexStream(seed: number, n: number): () => number {
  const next = xorshift32(seed);
  return () => next() % n;
}

/** A value of `bytes` bytes, "abc…z" repeated: the same bytes in every run. */
export function alphabetValue(bytes: number): Uint8Array {
  return new Uint8Array(bytes).map((_, i) => 97 + (i % 26));
}

/** The number `i` as `bytes` ASCII digits, zero-padded, written into `out` (key order = number order). */
export function writeDigitKey(i: number, out: Uint8Array): Uint8Array {
  let v = i;
  for (let p = out.length - 1; p >= 0; p--) {
    out[p] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return out;
}

/** 0..n-1 in a seeded random order (Fisher-Yates over xorshift32): every index exactly once. */
export function shuffledIndexes(seed: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const next = xorshift32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/**
 * `count` values of `bytes` seeded random bytes each, from one backing buffer. Random bytes do not
 * compress, so stores that compress blocks by default (LevelDB's and RocksDB's Snappy) write as
 * many bytes as those that do not.
 */
export function randomValues(seed: number, count: number, bytes: number): Uint8Array[] {
  const next = xorshift32(seed);
  const backing = new Uint8Array(count * bytes);
  for (let i = 0; i < backing.length; i += 4) {
    const w = next();
    backing[i] = w & 0xff;
    if (i + 1 < backing.length) backing[i + 1] = (w >>> 8) & 0xff;
    if (i + 2 < backing.length) backing[i + 2] = (w >>> 16) & 0xff;
    if (i + 3 < backing.length) backing[i + 3] = w >>> 24;
  }
  return Array.from({ length: count }, (_, i) => backing.subarray(i * bytes, (i + 1) * bytes));
}

/** Entries per nextv() call of scanTree(): the chunk classic-level's scan reads (bench/engines/classic-level.ts). */
export const SCAN_CHUNK_ENTRIES = 1000;

/**
 * A full forward scan of `tree` with its synchronous iterator, by nextv(SCAN_CHUNK_ENTRIES), reading
 * every key and value; returns the entries seen.
 */
export function scanTree(tree: LsmTree): number {
  const it = tree.iterator();
  let n = 0;
  try {
    // Each round takes at least one entry of the finite tree, or ends.
    for (let got = it.nextv(SCAN_CHUNK_ENTRIES); got.length > 0; got = it.nextv(SCAN_CHUNK_ENTRIES)) {
      for (const [key, value] of got) if (key !== undefined && value !== undefined) n++;
    }
  } finally {
    it.close();
  }
  return n;
}
