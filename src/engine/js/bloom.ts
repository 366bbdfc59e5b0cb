/**
 * Bloom filter over the distinct user keys of a table, as docs/format/sstable.md "Filter block"
 * writes it down (variant 2): leveldb's 32-bit multiplicative hash (util/hash.cc) of the key, two
 * probe hashes derived from it by murmur3's fmix32 finalizer, and enhanced double hashing
 * (Dillinger & Manolios, "Bloom filters in probabilistic verification", 2004; the Kirsch-Mitzenmacher
 * scheme with a growing stride): probe positions a, a + b, a + 2b + 1, ... mod m. Twin of
 * asm/bloom.ts: both must produce the same filter bytes for the same keys.
 *
 * Why not leveldb's own scheme (util/bloom.cc, stride = rotr(h, 17)): with one filter per table the
 * bit array has 2^18..2^24 bits, and there its probe sequences correlate (the stride is h rotated),
 * so it measured 1.5% false positives at 10 bits/key against 0.82% in theory. Here every position is
 * reduced mod m exactly and the two hashes are separately mixed; measured rates sit within a few
 * percent of (1 - e^(-kn/m))^k (test/engine/bloom.test.ts, npm run bench:hotpaths).
 *
 * Keys are hashed in place (buffer, start, end): building a filter allocates only the filter and
 * one Uint32Array of key hashes, never a key.
 */
import type { EntryRun } from '../types.js';
import { TRAILER_BYTES } from '../../lsm/internal-key.js';
import { compareRange } from '../../util/bytes.js';

const HASH_SEED = 0xbc9f1d34;
const HASH_M = 0xc6a4a793;
/** Second-to-last byte of the filter: which encoding the bit array uses. 1 was leveldb's scheme. */
export const BLOOM_VARIANT = 2;
/** Filter bytes after the bit array: the variant byte, then k. */
export const BLOOM_TRAILER_BYTES = 2;
/** k is stored in one byte; a filter claiming more probes is "some other encoding": matches all. */
export const BLOOM_PROBES_MAX = 30;
const BLOOM_BITS_MIN = 64;
/** The bit count m = 8 * arrayBytes must stay below 2^32 so positions are u32 in both twins. */
export const BLOOM_ARRAY_BYTES_MAX = 0x1fff_ffff;
/** Mixes h before h2 is taken, so h1 and h2 are two different bijections of h. */
const H2_SALT = 0x9e3779b9;

/** leveldb's Hash(data, n, seed) over buf[start..end), all arithmetic mod 2^32. */
export function bloomHash(buf: Uint8Array, start: number, end: number): number {
  const n = end - start;
  let h = (HASH_SEED ^ Math.imul(n, HASH_M)) >>> 0;
  let i = start;
  const whole = start + (n - (n & 3));
  while (i < whole) {
    const w = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    h = (h + w) | 0;
    h = Math.imul(h, HASH_M);
    h ^= h >>> 16;
    i += 4;
  }
  const rest = end - i;
  if (rest > 0) {
    if (rest === 3) h = (h + (buf[i + 2]! << 16)) | 0;
    if (rest >= 2) h = (h + (buf[i + 1]! << 8)) | 0;
    h = (h + buf[i]!) | 0;
    h = Math.imul(h, HASH_M);
    h ^= h >>> 24;
  }
  return h >>> 0;
}

/** murmur3's fmix32: a bijection of u32 in which every input bit flips each output bit ~half the time. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Probes per key for `bitsPerKey`: round(bitsPerKey * ln 2) (it minimises the false-positive rate). */
export function bloomProbes(bitsPerKey: number): number {
  const k = Math.floor(bitsPerKey * Math.LN2 + 0.5);
  return k < 1 ? 1 : k > BLOOM_PROBES_MAX ? BLOOM_PROBES_MAX : k;
}

/** Bytes of the bit array for `keyCount` distinct keys (the filter is this plus the trailer). */
export function bloomArrayBytes(keyCount: number, bitsPerKey: number): number {
  let bits = keyCount * bitsPerKey;
  if (bits < BLOOM_BITS_MIN) bits = BLOOM_BITS_MIN;
  const bytes = Math.ceil(bits / 8);
  return bytes > BLOOM_ARRAY_BYTES_MAX ? BLOOM_ARRAY_BYTES_MAX : bytes;
}

/**
 * The false-positive rate theory predicts for the filter of `keyCount` keys at `bitsPerKey`,
 * (1 - e^(-k n / m))^k with the filter's real m (rounded up to whole bytes, at least 64 bits).
 */
export function bloomTheoreticalFpRate(keyCount: number, bitsPerKey: number): number {
  const k = bloomProbes(bitsPerKey);
  const bits = bloomArrayBytes(keyCount, bitsPerKey) * 8;
  return (1 - Math.exp((-k * keyCount) / bits)) ** k;
}

/**
 * First probe position and stride of key hash `h` in a filter of `bits` bits (64 <= bits < 2^32):
 * a = fmix32(h) mod m, b = fmix32(h XOR H2_SALT) mod m, packed as a * 2^32 + b is not needed: they
 * are returned through `probe`, a two-slot scratch, to allocate nothing per key.
 */
const probe = new Float64Array(2);

function firstProbe(h: number, bits: number): void {
  probe[0] = fmix32(h) % bits;
  probe[1] = fmix32((h ^ H2_SALT) >>> 0) % bits;
}

/** Sets the k bits of key hash `h` in the first `bits` bits of `filter`. */
function setProbes(filter: Uint8Array, bits: number, k: number, h: number): void {
  firstProbe(h, bits);
  let a = probe[0]!;
  let b = probe[1]!;
  for (let j = 0; j < k; j++) {
    filter[a >>> 3]! |= 1 << (a & 7);
    // a = (a + b) mod m; b = (b + j + 1) mod m, written so no sum reaches 2^32 (the u32 twin).
    a = a >= bits - b ? a - (bits - b) : a + b;
    b = b >= bits - (j + 1) ? b - (bits - (j + 1)) : b + j + 1;
  }
}

/** Filter contents for `hashCount` key hashes (bloomHash): bit array, variant byte, k. */
export function bloomFromHashes(hashes: Uint32Array, hashCount: number, bitsPerKey: number): Uint8Array {
  const k = bloomProbes(bitsPerKey);
  const arrayBytes = bloomArrayBytes(hashCount, bitsPerKey);
  const bits = arrayBytes * 8;
  const filter = new Uint8Array(arrayBytes + BLOOM_TRAILER_BYTES);
  filter[arrayBytes] = BLOOM_VARIANT;
  filter[arrayBytes + 1] = k;
  for (let i = 0; i < hashCount; i++) setProbes(filter, bits, k, hashes[i]!);
  return filter;
}

/**
 * Hashes of the distinct user keys of run entries [start, end) into `out` (grown if short).
 * Consecutive entries with equal user keys count once (a run is sorted, so equal ones are adjacent).
 */
export function distinctUserKeyHashes(
  run: EntryRun, start: number, end: number, out: Uint32Array,
): { hashes: Uint32Array; count: number } {
  const { data, offsets } = run;
  const hashes = out.length >= end - start ? out : new Uint32Array(end - start);
  let count = 0;
  let prevStart = 0;
  let prevEnd = -1;
  for (let i = start; i < end; i++) {
    const keyStart = offsets[2 * i]!;
    const userEnd = offsets[2 * i + 1]! - TRAILER_BYTES;
    if (prevEnd < 0 || compareRange(data, prevStart, prevEnd, data, keyStart, userEnd) !== 0) {
      hashes[count++] = bloomHash(data, keyStart, userEnd);
      prevStart = keyStart;
      prevEnd = userEnd;
    }
  }
  return { hashes, count };
}

export function bloomBuild(run: EntryRun, bitsPerKey: number): Uint8Array {
  const { hashes, count } = distinctUserKeyHashes(run, 0, run.count, new Uint32Array(run.count));
  return bloomFromHashes(hashes, count, bitsPerKey);
}

/**
 * False only if the key is certainly absent. True for a filter we cannot read as variant 2: shorter
 * than the trailer plus one byte, another variant byte, k outside 1..30, or an oversized array.
 */
export function bloomMayContainRange(filter: Uint8Array, key: Uint8Array, keyStart: number, keyEnd: number): boolean {
  const len = filter.length;
  if (len <= BLOOM_TRAILER_BYTES) return true;
  const arrayBytes = len - BLOOM_TRAILER_BYTES;
  const k = filter[len - 1]!;
  if (filter[len - 2] !== BLOOM_VARIANT || k < 1 || k > BLOOM_PROBES_MAX || arrayBytes > BLOOM_ARRAY_BYTES_MAX) return true;
  const bits = arrayBytes * 8;
  firstProbe(bloomHash(key, keyStart, keyEnd), bits);
  let a = probe[0]!;
  let b = probe[1]!;
  for (let j = 0; j < k; j++) {
    if ((filter[a >>> 3]! & (1 << (a & 7))) === 0) return false;
    a = a >= bits - b ? a - (bits - b) : a + b;
    b = b >= bits - (j + 1) ? b - (bits - (j + 1)) : b + j + 1;
  }
  return true;
}

export function bloomMayContain(filter: Uint8Array, userKey: Uint8Array): boolean {
  return bloomMayContainRange(filter, userKey, 0, userKey.length);
}
