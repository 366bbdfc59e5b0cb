// Byte-level coding shared by the asm/ modules: LEB128 varints, byte comparison and copying.
// The twin of src/util/bytes.ts (leveldb's util/coding.h) over raw linear-memory pointers.

/** Writes `v` as a varint at `p`; returns the pointer after it. */
@inline
export function putVarint32(p: usize, v: u32): usize {
  while (v >= 0x80) {
    store<u8>(p++, <u8>(v | 0x80));
    v >>>= 7;
  }
  store<u8>(p++, <u8>v);
  return p;
}

/** Writes a 64-bit varint (values < 2^53 in lsmraft: at most 8 bytes). */
export function putVarint64(p: usize, v: u64): usize {
  while (v >= 0x80) {
    store<u8>(p++, <u8>(v | 0x80));
    v >>>= 7;
  }
  store<u8>(p++, <u8>v);
  return p;
}

/**
 * Result of the last getVarint: value and the pointer after it. Globals, not an object: asm/ makes
 * no managed allocations (asm/memory.ts).
 */
export let varintValue: u64 = 0;

/**
 * Reads a varint at `p`, never past `end` and at most 8 bytes (src/util/bytes.ts getVarint does the
 * same). Returns the pointer after it, or 0 when it runs past `end` or is too long.
 */
export function getVarint(p: usize, end: usize): usize {
  let result: u64 = 0;
  let shift: u64 = 0;
  for (let i = 0; i < 8; i++) {
    if (p >= end) break;
    const b = <u64>load<u8>(p++);
    result |= (b & 0x7f) << shift;
    if (b < 0x80) {
      varintValue = result;
      return p;
    }
    shift += 7;
  }
  varintValue = 0;
  return 0;
}

/** Unsigned lexicographic comparison of [a, a+aLen) and [b, b+bLen): <0, 0, >0. */
export function compareBytes(a: usize, aLen: usize, b: usize, bLen: usize): i32 {
  const n = aLen < bLen ? aLen : bLen;
  let i: usize = 0;
  // 8 bytes at a time: the first differing word decides, compared big-endian.
  while (i + 8 <= n) {
    const x = load<u64>(a + i);
    const y = load<u64>(b + i);
    if (x != y) return bswap<u64>(x) < bswap<u64>(y) ? -1 : 1;
    i += 8;
  }
  while (i < n) {
    const x = load<u8>(a + i);
    const y = load<u8>(b + i);
    if (x != y) return x < y ? -1 : 1;
    i++;
  }
  return aLen < bLen ? -1 : aLen > bLen ? 1 : 0;
}

/** Length of the common prefix of [a, a+aLen) and [b, b+bLen). */
export function sharedPrefix(a: usize, aLen: usize, b: usize, bLen: usize): usize {
  const n = aLen < bLen ? aLen : bLen;
  let i: usize = 0;
  while (i + 8 <= n) {
    const x = load<u64>(a + i) ^ load<u64>(b + i);
    if (x != 0) return i + <usize>(ctz<u64>(x) >>> 3);
    i += 8;
  }
  while (i < n && load<u8>(a + i) == load<u8>(b + i)) i++;
  return i;
}

/** Below this size a word loop beats memory.copy (a call into the engine in V8). */
const COPY_LOOP_BYTES_MAX: usize = 64;

/** Copies n bytes from src to dst; the ranges do not overlap. */
@inline
export function copyBytes(dst: usize, src: usize, n: usize): void {
  if (n > COPY_LOOP_BYTES_MAX) {
    memory.copy(dst, src, n);
    return;
  }
  let i: usize = 0;
  while (i + 8 <= n) {
    store<u64>(dst + i, load<u64>(src + i));
    i += 8;
  }
  while (i < n) {
    store<u8>(dst + i, load<u8>(src + i));
    i++;
  }
}

/** Internal-key order (src/lsm/internal-key.ts): user key ascending, then trailer descending. */
export function compareInternal(a: usize, aLen: usize, b: usize, bLen: usize): i32 {
  const c = compareBytes(a, aLen - 8, b, bLen - 8);
  if (c != 0) return c;
  const ta = load<u64>(a + aLen - 8);
  const tb = load<u64>(b + bLen - 8);
  return ta > tb ? -1 : ta < tb ? 1 : 0;
}
