// Bloom filter over the distinct user keys of a table, variant 2 of docs/format/sstable.md "Filter
// block": MurmurHash3 x86_32 of the key (Austin Appleby), a second probe hash from murmur3's fmix32,
// and enhanced double hashing (Dillinger & Manolios 2004): probe i is bit (a + i*b + (i^3-i)/6) mod m.
// Twin of src/engine/js/bloom.ts: same bytes. Every position stays a u32: sums are written as
// "x >= m - y ? x - (m - y) : x + y" so none reaches 2^32 (m < 2^32).

import { compareBytes } from './coding';

const HASH_SEED: u32 = 0xbc9f1d34;
const H2_SALT: u32 = 0x9e3779b9;
const VARIANT: u8 = 2;
const TRAILER_BYTES: usize = 2;
const PROBES_MAX: u32 = 30;
const BITS_MIN: u64 = 64;
const ARRAY_BYTES_MAX: u64 = 0x1fffffff;

/** murmur3's fmix32 finalizer (a bijection of u32). */
// @ts-ignore: decorator
@inline function fmix32(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}

/** MurmurHash3 x86_32 of [p, p+n) with seed 0xbc9f1d34. */
export function bloomHash(p: usize, n: usize): u32 {
  let h: u32 = HASH_SEED;
  const whole = p + (n & ~(<usize>3));
  while (p < whole) {
    let w = load<u32>(p);
    w *= 0xcc9e2d51;
    w = rotl<u32>(w, 15);
    h ^= w * 0x1b873593;
    h = rotl<u32>(h, 13);
    h = h * 5 + 0xe6546b64;
    p += 4;
  }
  const rest = n & 3;
  if (rest != 0) {
    let w: u32 = 0;
    if (rest == 3) w ^= <u32>load<u8>(p + 2) << 16;
    if (rest >= 2) w ^= <u32>load<u8>(p + 1) << 8;
    w ^= <u32>load<u8>(p);
    w *= 0xcc9e2d51;
    w = rotl<u32>(w, 15);
    h ^= w * 0x1b873593;
  }
  return fmix32(h ^ <u32>n);
}

/** k for `bitsPerKey`: clamp(floor(bitsPerKey * ln 2 + 0.5), 1, 30), in f64 like the JS twin. */
export function bloomProbes(bitsPerKey: u32): u32 {
  const k = <u32>Math.floor(<f64>bitsPerKey * Math.LN2 + 0.5);
  return k < 1 ? 1 : k > PROBES_MAX ? PROBES_MAX : k;
}

/** Bytes of the bit array for `distinct` keys: ceil(max(n * bitsPerKey, 64) / 8), at most 2^29 - 1. */
function arrayBytes(distinct: u32, bitsPerKey: u32): usize {
  let bits = <u64>distinct * <u64>bitsPerKey;
  if (bits < BITS_MIN) bits = BITS_MIN;
  const bytes = (bits + 7) >>> 3;
  return <usize>(bytes > ARRAY_BYTES_MAX ? ARRAY_BYTES_MAX : bytes);
}

/** Size in bytes of the filter contents (bit array, variant byte, k byte) for `distinct` keys. */
export function bloomContentsBytes(distinct: u32, bitsPerKey: u32): usize {
  return arrayBytes(distinct, bitsPerKey) + TRAILER_BYTES;
}

/** Number of distinct user keys among run entries [0, count) (equal ones are adjacent). */
export function distinctUserKeys(dataBias: usize, offsets: usize, count: u32): u32 {
  let distinct: u32 = 0;
  let prev: usize = 0;
  let prevLen: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    const o = offsets + (<usize>i << 3);
    const key = dataBias + load<u32>(o);
    const userLen = dataBias + load<u32>(o, 4) - 8 - key;
    if (i == 0 || compareBytes(prev, prevLen, key, userLen) != 0) distinct++;
    prev = key;
    prevLen = userLen;
  }
  return distinct;
}

/** Sets the k bits of key hash `h` in the bit array at `out` of `bits` bits. */
// @ts-ignore: decorator
@inline function setProbes(out: usize, bits: u32, k: u32, h: u32): void {
  let a = h % bits;
  let b = fmix32(h ^ H2_SALT) % bits;
  for (let j: u32 = 0; j < k; j++) {
    const byte = out + <usize>(a >>> 3);
    store<u8>(byte, load<u8>(byte) | <u8>(<u32>1 << (a & 7)));
    a = a >= bits - b ? a - (bits - b) : a + b;
    b = b >= bits - (j + 1) ? b - (bits - (j + 1)) : b + j + 1;
  }
}

/**
 * Starts a filter for `distinct` keys at `out` (bloomContentsBytes bytes, addressable): a zeroed
 * bit array and the variant and k bytes. Returns the bit count; add keys with bloomAddHash.
 */
export function bloomStart(out: usize, distinct: u32, bitsPerKey: u32): u32 {
  const bytes = arrayBytes(distinct, bitsPerKey);
  memory.fill(out, 0, bytes);
  store<u8>(out + bytes, VARIANT);
  store<u8>(out + bytes + 1, <u8>bloomProbes(bitsPerKey));
  return <u32>(bytes << 3);
}

/** Sets the bits of key hash `h` (bloomHash) in the filter bloomStart wrote at `out`. */
export function bloomAddHash(out: usize, bits: u32, k: u32, h: u32): void {
  setProbes(out, bits, k, h);
}

/**
 * Writes the filter contents for run entries [0, count), which hold `distinct` distinct user keys,
 * at `out` (bloomContentsBytes(distinct, bitsPerKey) bytes, addressable). Returns the end pointer.
 */
export function bloomWrite(out: usize, dataBias: usize, offsets: usize, count: u32, distinct: u32, bitsPerKey: u32): usize {
  const bits = bloomStart(out, distinct, bitsPerKey);
  const k = bloomProbes(bitsPerKey);
  let prev: usize = 0;
  let prevLen: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    const o = offsets + (<usize>i << 3);
    const key = dataBias + load<u32>(o);
    const userLen = dataBias + load<u32>(o, 4) - 8 - key;
    if (i == 0 || compareBytes(prev, prevLen, key, userLen) != 0) setProbes(out, bits, k, bloomHash(key, userLen));
    prev = key;
    prevLen = userLen;
  }
  return out + (<usize>bits >>> 3) + TRAILER_BYTES;
}

/**
 * False only if the key [key, key+keyLen) is certainly absent from the filter [filter, +len). True
 * for a filter that is not variant 2 as written: shorter than 2 bytes, another variant byte, k
 * outside 1..30, or a bit array outside 8..2^29-1 bytes.
 */
export function bloomMayContain(filter: usize, len: usize, key: usize, keyLen: usize): bool {
  if (len < TRAILER_BYTES) return true;
  const bytes = len - TRAILER_BYTES;
  const k = <u32>load<u8>(filter + len - 1);
  if (load<u8>(filter + len - 2) != VARIANT || k < 1 || k > PROBES_MAX) return true;
  if (<u64>bytes < (BITS_MIN >>> 3) || <u64>bytes > ARRAY_BYTES_MAX) return true;
  const bits = <u32>(bytes << 3);
  const h = bloomHash(key, keyLen);
  let a = h % bits;
  let b = fmix32(h ^ H2_SALT) % bits;
  for (let j: u32 = 0; j < k; j++) {
    if ((load<u8>(filter + <usize>(a >>> 3)) & (1 << (a & 7))) == 0) return false;
    a = a >= bits - b ? a - (bits - b) : a + b;
    b = b >= bits - (j + 1) ? b - (bits - (j + 1)) : b + j + 1;
  }
  return true;
}
