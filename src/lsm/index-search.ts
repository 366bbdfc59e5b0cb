/**
 * Binary search over an SSTable's index block (docs/format/sstable.md "Index block"), kept in
 * memory for as long as its table is open (src/lsm/table-reader.ts).
 */
import type { EntryRun } from '../engine/types.js';
import { assert } from '../util/assert.js';
import { compareRange } from '../util/bytes.js';
import { compareInternalRange, TRAILER_BYTES } from '../format/internal-key.js';

/**
 * The index block's keys, searched through a compact array of 4-byte key words first (a "key
 * prefix" search, as B-tree and ART implementations do): all index keys of a table share their
 * first `commonBytes` user-key bytes, so word i is index key i's next 4 user-key bytes, big-endian
 * and zero-padded. Word order agrees with key order (a smaller word means a smaller key; equal words
 * decide nothing), so a binary search reads the full key only on a tie. Why: a point read searches
 * ~1000 index keys per table, and each full comparison touches two more cache lines (the offsets
 * and the key bytes) in an index that is cold for a random read.
 */
export class IndexSearch {
  /** User-key bytes every index key starts with. */
  readonly commonBytes: number;
  private readonly words: Uint32Array;

  constructor(private readonly index: EntryRun) {
    const { data, offsets, count } = index;
    assert(count > 0, 'index search of an empty index');
    const firstStart = offsets[0]!;
    const firstEnd = offsets[1]! - TRAILER_BYTES;
    const lastStart = offsets[2 * count - 2]!;
    const lastEnd = offsets[2 * count - 1]! - TRAILER_BYTES;
    // Keys are sorted, so the prefix the first and last share is shared by every key between them.
    let common = 0;
    const bound = Math.min(firstEnd - firstStart, lastEnd - lastStart);
    while (common < bound && data[firstStart + common] === data[lastStart + common]) common++;
    this.commonBytes = common;
    this.words = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      this.words[i] = keyWord(data, offsets[2 * i]! + common, offsets[2 * i + 1]! - TRAILER_BYTES);
    }
  }

  /** Bytes of the key words (what this search holds besides the index itself). */
  get wordBytes(): number {
    return this.words.byteLength;
  }

  /** Index of the first index key >= key[0..keyLen) (an internal key); count if none. */
  lowerBound(key: Uint8Array, keyLen: number): number {
    const { data, offsets, count } = this.index;
    const userEnd = keyLen - TRAILER_BYTES;
    const common = this.commonBytes;
    if (common > 0) {
      // Every index key starts with data[offsets[0] .. +common): a key outside that prefix is below
      // or above them all.
      const c = compareRange(key, 0, Math.min(common, userEnd), data, offsets[0]!, offsets[0]! + common);
      if (c < 0) return 0;
      if (c > 0) return count;
    }
    const word = keyWord(key, common, userEnd);
    const words = this.words;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const w = words[mid]!;
      const less = w !== word
        ? w < word
        : compareInternalRange(data, offsets[2 * mid]!, offsets[2 * mid + 1]!, key, 0, keyLen) < 0;
      if (less) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** buf[start..start+4) big-endian as an unsigned 32-bit number, bytes at or past `end` read as 0. */
function keyWord(buf: Uint8Array, start: number, end: number): number {
  if (start + 4 <= end) {
    return ((buf[start]! << 24) | (buf[start + 1]! << 16) | (buf[start + 2]! << 8) | buf[start + 3]!) >>> 0;
  }
  let w = 0;
  for (let i = 0; i < 4; i++) w = (w << 8) | (start + i < end ? buf[start + i]! : 0);
  return w >>> 0;
}
