/**
 * Byte helpers shared by every format: comparison, varints (LEB128, as leveldb's coding.h),
 * fixed-width little-endian integers. Numbers here are JS numbers: varint64 values must stay below
 * 2^53 (Number.MAX_SAFE_INTEGER), which every offset, size and sequence number in lsmraft does.
 */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

export function utf8(s: string): Uint8Array {
  return textEncoder.encode(s);
}

export function fromUtf8(b: Uint8Array): string {
  return textDecoder.decode(b);
}

/** Unsigned lexicographic comparison of a[aStart..aEnd) and b[bStart..bEnd). */
export function compareRange(
  a: Uint8Array, aStart: number, aEnd: number,
  b: Uint8Array, bStart: number, bEnd: number,
): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return compareRange(a, 0, a.length, b, 0, b.length);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Bytes a varint of `v` takes (v is a non-negative safe integer). */
export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes `v` as a varint at buf[pos]; returns the position after it. */
export function putVarint(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * Result of a varint read: value and the position after it. A reader returns `pos = -1` when the
 * varint runs past `end` or is longer than 8 bytes (values are < 2^53), so callers can report
 * corruption with the offset.
 */
export interface VarintRead {
  value: number;
  pos: number;
}

export function getVarint(buf: Uint8Array, pos: number, end: number, out: VarintRead): VarintRead {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= end) break;
    const byte = buf[pos++]!;
    result += (byte & 0x7f) * mul;
    if (byte < 0x80) {
      out.value = result;
      out.pos = pos;
      return out;
    }
    mul *= 128;
  }
  out.value = 0;
  out.pos = -1;
  return out;
}

export function putFixed32(buf: Uint8Array, pos: number, v: number): number {
  buf[pos] = v & 0xff;
  buf[pos + 1] = (v >>> 8) & 0xff;
  buf[pos + 2] = (v >>> 16) & 0xff;
  buf[pos + 3] = (v >>> 24) & 0xff;
  return pos + 4;
}

export function getFixed32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
}

/** Fixed 64-bit little-endian of a safe integer. */
export function putFixed64(buf: Uint8Array, pos: number, v: number): number {
  putFixed32(buf, pos, v >>> 0);
  putFixed32(buf, pos + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
  return pos + 8;
}

export function getFixed64(buf: Uint8Array, pos: number): number {
  return getFixed32(buf, pos) + getFixed32(buf, pos + 4) * 0x1_0000_0000;
}

/**
 * Longest copy done by a byte loop: below it the loop beats set() with its subarray object, above
 * it set()'s memcpy wins (100-byte values: a loop ~190 ns, set() ~55-75 ns; 16 bytes: a loop
 * ~30 ns, set() ~50 ns; node 20 on x86-64).
 */
const COPY_LOOP_BYTES_MAX = 32;

/** Copies src[srcStart..srcStart+n) to dst[dstStart..): for the short copies of hot paths. */
export function copyRange(src: Uint8Array, srcStart: number, dst: Uint8Array, dstStart: number, n: number): void {
  if (n <= COPY_LOOP_BYTES_MAX) {
    for (let k = 0; k < n; k++) dst[dstStart + k] = src[srcStart + k]!;
  } else {
    dst.set(srcStart === 0 && n === src.length ? src : src.subarray(srcStart, srcStart + n), dstStart);
  }
}
