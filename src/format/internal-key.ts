/**
 * Internal keys: the user key followed by an 8-byte trailer, as leveldb's dbformat.h.
 *
 *   internal key = user key ++ fixed64LE(sequence * 256 + kind)
 *
 * Ordering: user key ascending (unsigned bytes), then sequence descending, then kind descending, so
 * the newest version of a key comes first. Sequence numbers stay below 2^45 (~3.5e13 writes: a
 * year at a million writes a second) so sequence * 256 + kind is a safe JS integer; the manifest's
 * last sequence is checked against SEQUENCE_MAX at open.
 *
 * The trailer is written as two 32-bit words so no code path needs BigInt:
 *   low  word = ((sequence mod 2^24) << 8 | kind)
 *   high word = floor(sequence / 2^24)
 */
import { compareRange, getFixed32, putFixed32 } from '../util/bytes.js';

export const KIND_DELETE = 0;
export const KIND_PUT = 1;
/** Kind used in seek keys: the largest kind, so a seek for (key, seq) lands on the newest entry <= seq. */
export const KIND_SEEK = KIND_PUT;
export type EntryKind = typeof KIND_DELETE | typeof KIND_PUT;

export const TRAILER_BYTES = 8;
export const SEQUENCE_MAX = 2 ** 45 - 1;

export function makeInternalKey(userKey: Uint8Array, sequence: number, kind: number): Uint8Array {
  const out = new Uint8Array(userKey.length + TRAILER_BYTES);
  out.set(userKey, 0);
  writeTrailer(out, userKey.length, sequence, kind);
  return out;
}

export function writeTrailer(buf: Uint8Array, pos: number, sequence: number, kind: number): number {
  putFixed32(buf, pos, (((sequence % 0x100_0000) << 8) | kind) >>> 0);
  putFixed32(buf, pos + 4, Math.floor(sequence / 0x100_0000));
  return pos + TRAILER_BYTES;
}

/** Sequence number of the internal key ending at `end`. */
export function trailerSequence(buf: Uint8Array, end: number): number {
  const low = getFixed32(buf, end - 8);
  const high = getFixed32(buf, end - 4);
  return high * 0x100_0000 + (low >>> 8);
}

export function trailerKind(buf: Uint8Array, end: number): number {
  return buf[end - 8]!;
}

export function userKeyOf(ikey: Uint8Array): Uint8Array {
  return ikey.subarray(0, ikey.length - TRAILER_BYTES);
}

/** Compares internal keys a[aStart..aEnd) and b[bStart..bEnd) (both include their trailer). */
export function compareInternalRange(
  a: Uint8Array, aStart: number, aEnd: number,
  b: Uint8Array, bStart: number, bEnd: number,
): number {
  const c = compareRange(a, aStart, aEnd - TRAILER_BYTES, b, bStart, bEnd - TRAILER_BYTES);
  if (c !== 0) return c;
  return compareTrailers(a, aEnd, b, bEnd);
}

/** The trailers a[aEnd - 8..aEnd) and b[bEnd - 8..bEnd) in internal-key order: the larger (newer sequence, then larger kind) first. */
export function compareTrailers(a: Uint8Array, aEnd: number, b: Uint8Array, bEnd: number): number {
  const aHigh = getFixed32(a, aEnd - 4);
  const bHigh = getFixed32(b, bEnd - 4);
  if (aHigh !== bHigh) return aHigh > bHigh ? -1 : 1;
  const aLow = getFixed32(a, aEnd - 8);
  const bLow = getFixed32(b, bEnd - 8);
  if (aLow !== bLow) return aLow > bLow ? -1 : 1;
  return 0;
}

export function compareInternalKeys(a: Uint8Array, b: Uint8Array): number {
  return compareInternalRange(a, 0, a.length, b, 0, b.length);
}
