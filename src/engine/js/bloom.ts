/**
 * Bloom filter over the distinct user keys of a table, as docs/format/sstable.md "Filter block"
 * writes it down (variant 2): MurmurHash3 x86_32 of the key (Austin Appleby), a second probe hash
 * from murmur3's fmix32 finalizer, and enhanced double hashing (Dillinger & Manolios, "Bloom filters
 * in probabilistic verification", 2004: the Kirsch-Mitzenmacher scheme with a growing stride):
 * probe i is bit (a + i*b + (i^3 - i)/6) mod m. Twin of asm/bloom.ts: both must produce the same
 * filter bytes for the same keys.
 *
 * Why not leveldb's scheme (util/bloom.cc and util/hash.cc, stride = rotr(h, 17)): with one filter
 * per table the bit array has 2^18..2^24 bits, and there its probe sequences correlate (the stride
 * is h rotated): 1.5% false positives at 10 bits/key against 0.84% in theory; and its hash collides
 * on structured keys (10% of 2M keys "user000000000000".. share a hash). Here each position is
 * reduced mod m exactly and the stride is separately mixed; measured rates sit within a few percent
 * of (1 - e^(-kn/m))^k (test/engine/bloom.test.ts, npm run bench:hotpaths). One 32-bit hash per
 * key adds a floor of about n / 2^32 (an absent key whose hash equals a present key's).
 *
 * Keys are hashed in place (buffer, start, end): building a filter allocates only the filter and
 * one Uint32Array of key hashes, never a key.
 */
import type { EntryRun } from '../types.js';
import { TRAILER_BYTES } from '../../format/internal-key.js';
import { compareRange } from '../../util/bytes.js';

/** Seed of the key hash (leveldb's bloom seed, kept as a constant we already documented). */
export const BLOOM_HASH_SEED = 0xbc9f1d34;
/** Second-to-last byte of the filter: which encoding the bit array uses. 1 was leveldb's scheme. */
export const BLOOM_VARIANT = 2;
/** Filter bytes after the bit array: the variant byte, then k. */
export const BLOOM_TRAILER_BYTES = 2;
/** k is stored in one byte; a filter claiming more probes is "some other encoding": matches all. */
export const BLOOM_PROBES_MAX = 30;
/** At least 64 bits (so m > k + 1 and the stride update below stays in range). */
const BLOOM_BITS_MIN = 64;
/** The bit count m = 8 * arrayBytes must stay below 2^32 so positions are u32 in both twins. */
export const BLOOM_ARRAY_BYTES_MAX = 0x1fff_ffff;
/** The stride is fmix32(h XOR H2_SALT): a second bijection of h, so it does not track the start h mod m. */
const H2_SALT = 0x9e3779b9;

/** murmur3's fmix32: a bijection of u32 in which each input bit flips each output bit about half the time. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 (Austin Appleby, public domain) of buf[start..end), all arithmetic mod 2^32. */
export function murmur3x86_32(buf: Uint8Array, start: number, end: number, seed: number): number {
  const n = end - start;
  let h = seed | 0;
  let i = start;
  const whole = start + (n - (n & 3));
  while (i < whole) {
    let w = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    w = Math.imul(w, 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    h ^= Math.imul(w, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    i += 4;
  }
  const rest = end - i;
  if (rest > 0) {
    let w = 0;
    if (rest === 3) w ^= buf[i + 2]! << 16;
    if (rest >= 2) w ^= buf[i + 1]! << 8;
    w ^= buf[i]!;
    w = Math.imul(w, 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    h ^= Math.imul(w, 0x1b873593);
  }
  return fmix32(h ^ n);
}

/** The filter's 32-bit key hash: murmur3x86_32(key, BLOOM_HASH_SEED). */
export function bloomHash(buf: Uint8Array, start: number, end: number): number {
  return murmur3x86_32(buf, start, end, BLOOM_HASH_SEED);
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

/** Sets the k bits of key hash `h` in the first `bits` bits of `filter`. */
function setProbes(filter: Uint8Array, bits: number, k: number, h: number): void {
  let a = h % bits;
  let b = fmix32((h ^ H2_SALT) >>> 0) % bits;
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
 * False only if the key is certainly absent. True for a filter we cannot read as variant 2 (room for
 * other encodings): shorter than 2 bytes, another variant byte, k outside 1..30, or a bit array
 * outside 8..BLOOM_ARRAY_BYTES_MAX bytes.
 */
export function bloomMayContainRange(filter: Uint8Array, key: Uint8Array, keyStart: number, keyEnd: number): boolean {
  const len = filter.length;
  if (len < BLOOM_TRAILER_BYTES) return true;
  const arrayBytes = len - BLOOM_TRAILER_BYTES;
  const k = filter[len - 1]!;
  if (filter[len - 2] !== BLOOM_VARIANT || k < 1 || k > BLOOM_PROBES_MAX) return true;
  if (arrayBytes < BLOOM_BITS_MIN / 8 || arrayBytes > BLOOM_ARRAY_BYTES_MAX) return true;
  const bits = arrayBytes * 8;
  const h = bloomHash(key, keyStart, keyEnd);
  let a = h % bits;
  let b = fmix32((h ^ H2_SALT) >>> 0) % bits;
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
