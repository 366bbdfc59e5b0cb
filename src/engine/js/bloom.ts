/**
 * Bloom filter over the distinct user keys of a table: leveldb's variant (util/bloom.cc, the
 * Kirsch-Mitzenmacher double hashing with a rotated delta) over leveldb's 32-bit multiplicative hash
 * (util/hash.cc), as docs/format/sstable.md "Filter block" writes them down. Twin of asm/bloom.ts:
 * both must produce the same filter bytes for the same keys.
 *
 * Keys are hashed in place (buffer, start, end): building a filter allocates only the filter and
 * one Uint32Array of hashes, never a key.
 */
import type { EntryRun } from '../types.js';
import { TRAILER_BYTES } from '../../lsm/internal-key.js';
import { compareRange } from '../../util/bytes.js';

const HASH_SEED = 0xbc9f1d34;
const HASH_M = 0xc6a4a793;
/** k is stored in one byte; a filter claiming more probes is "some other encoding": matches all. */
export const BLOOM_PROBES_MAX = 30;
const BLOOM_BITS_MIN = 64;

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

/** Probes per key for `bitsPerKey` (ln 2 ~ 0.69 minimises the false-positive rate). */
export function bloomProbes(bitsPerKey: number): number {
  const k = Math.floor(bitsPerKey * 0.69);
  return k < 1 ? 1 : k > BLOOM_PROBES_MAX ? BLOOM_PROBES_MAX : k;
}

/** Filter contents for `hashCount` key hashes: bit array then one byte k. */
export function bloomFromHashes(hashes: Uint32Array, hashCount: number, bitsPerKey: number): Uint8Array {
  const k = bloomProbes(bitsPerKey);
  let bits = hashCount * bitsPerKey;
  if (bits < BLOOM_BITS_MIN) bits = BLOOM_BITS_MIN;
  const bytes = Math.ceil(bits / 8);
  bits = bytes * 8;
  const filter = new Uint8Array(bytes + 1);
  filter[bytes] = k;
  for (let i = 0; i < hashCount; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const bit = h % bits;
      filter[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
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

/** False only if the key is certainly absent; true for filters of an encoding we do not know. */
export function bloomMayContainRange(filter: Uint8Array, key: Uint8Array, keyStart: number, keyEnd: number): boolean {
  const len = filter.length;
  if (len < 2) return true;
  const k = filter[len - 1]!;
  if (k > BLOOM_PROBES_MAX) return true;
  const bits = (len - 1) * 8;
  let h = bloomHash(key, keyStart, keyEnd);
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < k; j++) {
    const bit = h % bits;
    if ((filter[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}

export function bloomMayContain(filter: Uint8Array, userKey: Uint8Array): boolean {
  return bloomMayContainRange(filter, userKey, 0, userKey.length);
}
