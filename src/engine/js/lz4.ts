/**
 * LZ4 block format codec (Yann Collet's lz4, doc/lz4_Block_format.md): the compressor and the
 * decompressor of compressed SSTable data blocks (docs/format/sstable.md "Compressed blocks").
 * Twin of asm/lz4.ts: the same input gives the same bytes (same hash, same match finder, same
 * choices), which test/engine/lz4.test.ts checks; any LZ4 block decoder accepts the output.
 *
 * A block is a series of sequences: token (high nibble: literal length, low nibble: match length
 * minus 4; 15 means "more length bytes follow": 255s then the rest), the literals, a 2-byte
 * little-endian offset (1..65535), the match length bytes. The last sequence holds literals only.
 *
 * The compressor is greedy with one hash table, in the manner of lz4.c's fast mode: a 4096-entry
 * table of the last position of each hash of 4 bytes (hash = (read32 * 2654435761) >>> 20); at each
 * position a candidate that really matches 4 bytes within 65535 bytes back is taken, extended
 * backwards over pending literals and forwards as far as it goes; after a match the position two
 * bytes before its end is hashed too. Misses step ahead faster the longer they last (step =
 * misses >> 6, misses counted from 64 since the last match), so incompressible input costs little.
 * What must hold (the format's end conditions): input below 13 bytes is all literals; a match
 * starts at least 12 bytes before the end and ends at least 5 bytes before it.
 *
 * The decompressor accepts any valid block and must not trust the input: every read stays within
 * the block, every write within the output, an offset must point into the bytes already written,
 * and the block must end with a literal-only sequence that fills the output exactly.
 */
import { CorruptionError } from '../../errors.js';

/** Input shorter than this is written as literals only (MFLIMIT + 1 in lz4.c). */
const MIN_INPUT_BYTES = 13;
/** A match starts at least this many bytes before the end of the input. */
const MATCH_START_END_BYTES = 12;
/** The last bytes of the input are always literals. */
const LAST_LITERALS_BYTES = 5;
const MIN_MATCH_BYTES = 4;
const OFFSET_MAX = 65535;
const HASH_LOG = 12;
/** Misses before the search step grows by one (lz4.c's skip trigger). */
const SKIP_TRIGGER = 6;

const table = new Int32Array(1 << HASH_LOG);

/** Most bytes an LZ4 block of `n` input bytes can take (lz4.h LZ4_COMPRESSBOUND). */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

function read32(src: Uint8Array, p: number): number {
  return src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24);
}

function hash4(v: number): number {
  return Math.imul(v, 0x9e3779b1) >>> (32 - HASH_LOG);
}

/** Bytes a length of `n` takes after its token nibble (0 when n < 15). */
function extraLengthBytes(n: number): number {
  return n < 15 ? 0 : Math.floor((n - 15) / 255) + 1;
}

function putExtraLength(dst: Uint8Array, op: number, n: number): number {
  let rest = n - 15;
  while (rest >= 255) {
    dst[op++] = 255;
    rest -= 255;
  }
  dst[op++] = rest;
  return op;
}

function putLiterals(dst: Uint8Array, op: number, src: Uint8Array, from: number, to: number): number {
  const n = to - from;
  if (n <= 16) {
    for (let i = 0; i < n; i++) dst[op + i] = src[from + i]!;
  } else {
    dst.set(src.subarray(from, to), op);
  }
  return op + n;
}

/**
 * Compresses src[srcStart..srcEnd) as one LZ4 block written at dst[dstStart..]. Returns the end of
 * the output, or -1 as soon as it is clear the block would end past `dstLimit` (nothing is ever
 * written at or past dstLimit). REQUIRES: dst.length >= dstLimit.
 */
export function lz4Compress(
  src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number, dstLimit: number,
): number {
  const n = srcEnd - srcStart;
  let op = dstStart;
  let anchor = srcStart;
  if (n >= MIN_INPUT_BYTES) {
    table.fill(0);
    const matchStartMax = srcEnd - MATCH_START_END_BYTES;
    const matchEndMax = srcEnd - LAST_LITERALS_BYTES;
    // Table entries are positions relative to srcStart; 0 (also "empty") only ever yields a
    // candidate that is checked byte for byte.
    let ip = srcStart;
    let misses = 1 << SKIP_TRIGGER;
    // Bounded: ip grows by at least 1 each pass (a miss steps >= 1, a match >= 4).
    while (ip <= matchStartMax) {
      const seq = read32(src, ip);
      const h = hash4(seq);
      let ref = srcStart + table[h]!;
      table[h] = ip - srcStart;
      if (ref >= ip || ip - ref > OFFSET_MAX || read32(src, ref) !== seq) {
        ip += misses++ >> SKIP_TRIGGER;
        continue;
      }
      while (ip > anchor && ref > srcStart && src[ip - 1] === src[ref - 1]) {
        ip--;
        ref--;
      }
      let end = ip + MIN_MATCH_BYTES;
      while (end < matchEndMax && src[end] === src[ref + end - ip]) end++;
      const literals = ip - anchor;
      const matchExtra = end - ip - MIN_MATCH_BYTES;
      const seqBytes = 1 + extraLengthBytes(literals) + literals + 2 + extraLengthBytes(matchExtra);
      if (op + seqBytes > dstLimit) return -1;
      dst[op++] = ((literals < 15 ? literals : 15) << 4) | (matchExtra < 15 ? matchExtra : 15);
      if (literals >= 15) op = putExtraLength(dst, op, literals);
      op = putLiterals(dst, op, src, anchor, ip);
      const offset = ip - ref;
      dst[op++] = offset & 0xff;
      dst[op++] = offset >>> 8;
      if (matchExtra >= 15) op = putExtraLength(dst, op, matchExtra);
      ip = end;
      anchor = ip;
      if (ip > matchStartMax) break;
      table[hash4(read32(src, ip - 2))] = ip - 2 - srcStart;
      misses = 1 << SKIP_TRIGGER;
    }
  }
  const literals = srcEnd - anchor;
  if (op + 1 + extraLengthBytes(literals) + literals > dstLimit) return -1;
  dst[op++] = (literals < 15 ? literals : 15) << 4;
  if (literals >= 15) op = putExtraLength(dst, op, literals);
  return putLiterals(dst, op, src, anchor, srcEnd);
}

/**
 * Decompresses the LZ4 block src[srcStart..srcEnd) into exactly dst[dstStart..dstEnd). Returns
 * -1 on success, else the position in src (from srcStart) where the block was found invalid:
 * a length or literals running past the block, a match before the output's start or past its end,
 * an offset of 0, a block ending after a match, or output that does not fill dst exactly.
 */
export function lz4Decompress(
  src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number, dstEnd: number,
): number {
  let ip = srcStart;
  let op = dstStart;
  // Bounded: each pass consumes at least one input byte (the token) or returns.
  for (;;) {
    const tokenPos = ip;
    if (ip >= srcEnd) return tokenPos - srcStart;
    const token = src[ip++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= srcEnd) return tokenPos - srcStart;
        b = src[ip++]!;
        literals += b;
      }
    }
    if (literals > srcEnd - ip || literals > dstEnd - op) return tokenPos - srcStart;
    if (literals <= 16) {
      for (let i = 0; i < literals; i++) dst[op + i] = src[ip + i]!;
    } else {
      dst.set(src.subarray(ip, ip + literals), op);
    }
    ip += literals;
    op += literals;
    if (ip === srcEnd) return op === dstEnd ? -1 : tokenPos - srcStart;
    if (srcEnd - ip < 2) return tokenPos - srcStart;
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    let matchLen = (token & 15) + MIN_MATCH_BYTES;
    if ((token & 15) === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= srcEnd) return tokenPos - srcStart;
        b = src[ip++]!;
        matchLen += b;
      }
    }
    if (offset === 0 || offset > op - dstStart || matchLen > dstEnd - op) return tokenPos - srcStart;
    let from = op - offset;
    if (offset >= matchLen && matchLen > 32) {
      dst.copyWithin(op, from, from + matchLen);
      op += matchLen;
    } else {
      // Overlapping (offset < length) copies repeat the last `offset` bytes: byte by byte.
      const end = op + matchLen;
      while (op < end) dst[op++] = dst[from++]!;
    }
  }
}

/** HotPaths.lz4Compress: the LZ4 block of `data`, or undefined when longer than `limitBytes`. */
export function lz4CompressBytes(data: Uint8Array, limitBytes = Infinity): Uint8Array | undefined {
  const out = new Uint8Array(Math.min(limitBytes, lz4CompressBound(data.length)));
  const end = lz4Compress(data, 0, data.length, out, 0, out.length);
  return end < 0 ? undefined : out.slice(0, end);
}

/** HotPaths.lz4Decompress: decodes `block` into exactly `rawBytes` bytes or throws CorruptionError. */
export function lz4DecompressBytes(block: Uint8Array, rawBytes: number): Uint8Array {
  const raw = new Uint8Array(rawBytes);
  const bad = lz4Decompress(block, 0, block.length, raw, 0, rawBytes);
  if (bad >= 0) throw new CorruptionError(`LZ4 block does not decode (block byte ${bad})`, undefined, bad);
  return raw;
}
