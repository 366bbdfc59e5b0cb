// LZ4 block format codec (Yann Collet's lz4, doc/lz4_Block_format.md) over linear-memory pointers:
// the compressor and decompressor of compressed SSTable data blocks (docs/format/sstable.md
// "Compressed blocks"). Twin of src/engine/js/lz4.ts, whose header describes the algorithm: the
// same input gives the same bytes (same hash, same match finder, same choices).
//
// Compressor: greedy, one 4096-entry hash table of positions (hash = (read32 * 2654435761) >> 20),
// candidates checked for 4 equal bytes within 65535 bytes back, extended backwards over pending
// literals and forwards; the position 2 bytes before a match's end is hashed too; misses step by
// (misses >> 6), misses counted from 64. End conditions: input below 13 bytes is all literals, a
// match starts >= 12 bytes before the end and ends >= 5 bytes before it.
// Decompressor: every read bounded by the block, every write by the output; an offset must point
// into the output written so far; the block ends with a literal-only sequence filling the output.

import { copyBytes } from './coding';

const MIN_INPUT_BYTES: usize = 13;
const MATCH_START_END_BYTES: usize = 12;
const LAST_LITERALS_BYTES: usize = 5;
const MIN_MATCH_BYTES: usize = 4;
const OFFSET_MAX: usize = 65535;
const HASH_LOG: u32 = 12;
const SKIP_TRIGGER: u32 = 6;

/** The hash table: 4096 u32 positions relative to the input's start (static, below the arena). */
const TABLE: usize = memory.data(4 << HASH_LOG, 16);

@inline function hash4(v: u32): usize {
  return <usize>((v * 0x9e3779b1) >>> (32 - HASH_LOG));
}

@inline function extraLengthBytes(n: usize): usize {
  return n < 15 ? 0 : (n - 15) / 255 + 1;
}

function putExtraLength(op: usize, n: usize): usize {
  let rest = n - 15;
  while (rest >= 255) {
    store<u8>(op++, 255);
    rest -= 255;
  }
  store<u8>(op++, <u8>rest);
  return op;
}

/** Length of the common run of [a, ...) and [b, ...) from b up to (not including) bEnd; a < b. */
@inline function matchLength(a: usize, b: usize, bEnd: usize): usize {
  const start = b;
  while (b + 8 <= bEnd) {
    const x = load<u64>(a) ^ load<u64>(b);
    if (x != 0) return b - start + <usize>(ctz<u64>(x) >>> 3);
    a += 8;
    b += 8;
  }
  while (b < bEnd && load<u8>(a) == load<u8>(b)) {
    a++;
    b++;
  }
  return b - start;
}

/**
 * Compresses [src, src+n) as one LZ4 block at `dst`. Returns the end of the output, or 0 as soon as
 * it is clear the block would end past `dstLimit` (nothing is written at or past dstLimit).
 */
export function lz4CompressInto(src: usize, n: usize, dst: usize, dstLimit: usize): usize {
  const srcEnd = src + n;
  let op = dst;
  let anchor = src;
  if (n >= MIN_INPUT_BYTES) {
    memory.fill(TABLE, 0, 4 << HASH_LOG);
    const matchStartMax = srcEnd - MATCH_START_END_BYTES;
    const matchEndMax = srcEnd - LAST_LITERALS_BYTES;
    let ip = src;
    let misses: u32 = 1 << SKIP_TRIGGER;
    // Bounded: ip grows by at least 1 each pass.
    while (ip <= matchStartMax) {
      const seq = load<u32>(ip);
      const slot = TABLE + (hash4(seq) << 2);
      let ref = src + <usize>load<u32>(slot);
      store<u32>(slot, <u32>(ip - src));
      if (ref >= ip || ip - ref > OFFSET_MAX || load<u32>(ref) != seq) {
        ip += <usize>(misses++ >> SKIP_TRIGGER);
        continue;
      }
      while (ip > anchor && ref > src && load<u8>(ip - 1) == load<u8>(ref - 1)) {
        ip--;
        ref--;
      }
      const end = ip + MIN_MATCH_BYTES + matchLength(ref + MIN_MATCH_BYTES, ip + MIN_MATCH_BYTES, matchEndMax);
      const literals = ip - anchor;
      const matchExtra = end - ip - MIN_MATCH_BYTES;
      const seqBytes: usize = 1 + extraLengthBytes(literals) + literals + 2 + extraLengthBytes(matchExtra);
      if (op + seqBytes > dstLimit) return 0;
      store<u8>(op++, <u8>(((literals < 15 ? literals : 15) << 4) | (matchExtra < 15 ? matchExtra : 15)));
      if (literals >= 15) op = putExtraLength(op, literals);
      copyBytes(op, anchor, literals);
      op += literals;
      store<u16>(op, <u16>(ip - ref));
      op += 2;
      if (matchExtra >= 15) op = putExtraLength(op, matchExtra);
      ip = end;
      anchor = ip;
      if (ip > matchStartMax) break;
      store<u32>(TABLE + (hash4(load<u32>(ip - 2)) << 2), <u32>(ip - 2 - src));
      misses = 1 << SKIP_TRIGGER;
    }
  }
  const literals = srcEnd - anchor;
  if (op + 1 + extraLengthBytes(literals) + literals > dstLimit) return 0;
  store<u8>(op++, <u8>((literals < 15 ? literals : 15) << 4));
  if (literals >= 15) op = putExtraLength(op, literals);
  copyBytes(op, anchor, literals);
  return op + literals;
}

/**
 * Decompresses the LZ4 block [src, src+n) into exactly [dst, dst+rawBytes). Returns -1 on success,
 * else the position in the block (from src) of the sequence found invalid (as the JS twin).
 */
export function lz4DecompressInto(src: usize, n: usize, dst: usize, rawBytes: usize): i32 {
  const srcEnd = src + n;
  const dstEnd = dst + rawBytes;
  let ip = src;
  let op = dst;
  // Bounded: each pass consumes at least one input byte (the token) or returns.
  for (;;) {
    const tokenPos = <i32>(ip - src);
    if (ip >= srcEnd) return tokenPos;
    const token = <usize>load<u8>(ip++);
    let literals = token >>> 4;
    if (literals == 15) {
      let b: usize = 255;
      while (b == 255) {
        if (ip >= srcEnd) return tokenPos;
        b = <usize>load<u8>(ip++);
        literals += b;
      }
    }
    if (literals > srcEnd - ip || literals > dstEnd - op) return tokenPos;
    copyBytes(op, ip, literals);
    ip += literals;
    op += literals;
    if (ip == srcEnd) return op == dstEnd ? -1 : tokenPos;
    if (srcEnd - ip < 2) return tokenPos;
    const offset = <usize>load<u16>(ip);
    ip += 2;
    let matchLen = (token & 15) + MIN_MATCH_BYTES;
    if ((token & 15) == 15) {
      let b: usize = 255;
      while (b == 255) {
        if (ip >= srcEnd) return tokenPos;
        b = <usize>load<u8>(ip++);
        matchLen += b;
      }
    }
    if (offset == 0 || offset > op - dst || matchLen > dstEnd - op) return tokenPos;
    const from = op - offset;
    if (offset >= matchLen) {
      copyBytes(op, from, matchLen);
    } else if (offset >= 8) {
      // Overlapping: 8-byte steps never read bytes this copy has not written yet.
      let i: usize = 0;
      while (i + 8 <= matchLen) {
        store<u64>(op + i, load<u64>(from + i));
        i += 8;
      }
      while (i < matchLen) {
        store<u8>(op + i, load<u8>(from + i));
        i++;
      }
    } else {
      for (let i: usize = 0; i < matchLen; i++) store<u8>(op + i, load<u8>(from + i));
    }
    op += matchLen;
  }
  return 0; // not reached: the loop returns
}
