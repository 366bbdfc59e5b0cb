// Bloom filter over the distinct user keys of a table: leveldb's util/bloom.cc (double hashing with
// a rotated delta) over leveldb's util/hash.cc 32-bit multiplicative hash, exactly as
// docs/format/sstable.md "Filter block" specifies. Twin of src/engine/js/bloom.ts: same bytes.

import { compareBytes } from './coding';

const HASH_SEED: u32 = 0xbc9f1d34;
const HASH_M: u32 = 0xc6a4a793;
const PROBES_MAX: u32 = 30;
const BITS_MIN: u64 = 64;

/** leveldb's Hash(data, n, seed = 0xbc9f1d34), arithmetic mod 2^32. */
export function bloomHash(p: usize, n: usize): u32 {
  let h: u32 = HASH_SEED ^ (<u32>n * HASH_M);
  const whole = p + (n & ~(<usize>3));
  while (p < whole) {
    h += load<u32>(p);
    h *= HASH_M;
    h ^= h >>> 16;
    p += 4;
  }
  const rest = n & 3;
  if (rest != 0) {
    if (rest == 3) h += <u32>load<u8>(p + 2) << 16;
    if (rest >= 2) h += <u32>load<u8>(p + 1) << 8;
    h += <u32>load<u8>(p);
    h *= HASH_M;
    h ^= h >>> 24;
  }
  return h;
}

/** k for `bitsPerKey`: clamp(floor(bitsPerKey * 0.69), 1, 30), computed in f64 like the JS twin. */
export function bloomProbes(bitsPerKey: u32): u32 {
  const k = <u32>Math.floor(<f64>bitsPerKey * 0.69);
  return k < 1 ? 1 : k > PROBES_MAX ? PROBES_MAX : k;
}

/** Size in bytes of the filter contents (bit array plus the k byte) for `distinct` keys. */
export function bloomContentsBytes(distinct: u32, bitsPerKey: u32): usize {
  let bits = <u64>distinct * <u64>bitsPerKey;
  if (bits < BITS_MIN) bits = BITS_MIN;
  return <usize>((bits + 7) >>> 3) + 1;
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

/**
 * Writes the filter contents for run entries [0, count), which hold `distinct` distinct user keys,
 * at `out` (bloomContentsBytes(distinct, bitsPerKey) bytes, addressable). Returns the end pointer.
 */
export function bloomWrite(out: usize, dataBias: usize, offsets: usize, count: u32, distinct: u32, bitsPerKey: u32): usize {
  const contentsBytes = bloomContentsBytes(distinct, bitsPerKey);
  const arrayBytes = contentsBytes - 1;
  const bits = <u32>(arrayBytes << 3);
  const k = bloomProbes(bitsPerKey);
  memory.fill(out, 0, arrayBytes);
  store<u8>(out + arrayBytes, <u8>k);
  let prev: usize = 0;
  let prevLen: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    const o = offsets + (<usize>i << 3);
    const key = dataBias + load<u32>(o);
    const userLen = dataBias + load<u32>(o, 4) - 8 - key;
    if (i == 0 || compareBytes(prev, prevLen, key, userLen) != 0) {
      let h = bloomHash(key, userLen);
      const delta = rotr<u32>(h, 17);
      for (let j: u32 = 0; j < k; j++) {
        const bit = h % bits;
        const byte = out + <usize>(bit >>> 3);
        store<u8>(byte, load<u8>(byte) | <u8>(<u32>1 << (bit & 7)));
        h += delta;
      }
    }
    prev = key;
    prevLen = userLen;
  }
  return out + contentsBytes;
}

/** False only if the key [key, key+keyLen) is certainly absent from the filter [filter, +len). */
export function bloomMayContain(filter: usize, len: usize, key: usize, keyLen: usize): bool {
  if (len < 2) return true;
  const k = <u32>load<u8>(filter + len - 1);
  if (k > PROBES_MAX) return true;
  const bits = <u32>((len - 1) << 3);
  let h = bloomHash(key, keyLen);
  const delta = rotr<u32>(h, 17);
  for (let j: u32 = 0; j < k; j++) {
    const bit = h % bits;
    if ((load<u8>(filter + <usize>(bit >>> 3)) & (1 << (bit & 7))) == 0) return false;
    h += delta;
  }
  return true;
}
