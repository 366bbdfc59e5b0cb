/**
 * Inserts a write batch into the memtable in key order, read straight from the batch's encoded
 * bytes (the one encoding both the WAL record and the memtable use; docs/format/wal.md).
 *
 * Why sorted: a skiplist insert of a random key searches from the top, O(log n) node visits that
 * mostly miss the CPU caches in a large memtable. The batch's keys, sorted, follow one another, so
 * each insert starts from the splice the previous one left (MemTable.findFromSplice, after
 * RocksDB's InlineSkipList splice), climbs only as high as the gap to the next key needs and finds
 * those upper nodes still in cache. The visible result is the same: op i keeps sequence
 * `sequence + i` whatever the order it is inserted in, and a reader sees the batch only once all
 * of it is in (WriteQueue publishes whole groups).
 *
 * Ties (one key twice in a batch) go newest first, the internal-key order, so even they ascend.
 * A batch of more than SORTED_BATCH_OPS_MAX ops goes in batch order, so the scratch arrays stay
 * bounded.
 */
import { assert } from '../util/assert.js';
import { compareRange } from '../util/bytes.js';
import type { MemTable } from './memtable.js';
import { newBatchOpLayout, type BatchOpLayout, type WriteBatch } from './write-batch.js';

/** Largest batch sorted before its insert; the scratch arrays hold this many ops at most. */
export const SORTED_BATCH_OPS_MAX = 16384;

export class BatchInserter {
  private capacity = 0;
  private layout: BatchOpLayout = newBatchOpLayout(0);
  private order = new Uint32Array(0);
  /** Sort keys and the merge sort's second buffer: 2 x capacity doubles. */
  private sortKeys = new Float64Array(0);

  /** Adds batch's ops to mem, op i at sequence + i. */
  insert(mem: MemTable, batch: WriteBatch, sequence: number): void {
    const count = batch.count;
    if (count === 0) return;
    const bytes = batch.bytes;
    if (count === 1 || count > SORTED_BATCH_OPS_MAX) {
      // Nothing to sort, or too many to sort in bounded scratch: batch order.
      batch.forEachRange((i, kind, keyStart, keyEnd, valueStart, valueEnd) => {
        mem.addFrom(sequence + i, kind, bytes, keyStart, keyEnd, bytes, valueStart, valueEnd);
      });
      return;
    }
    this.reserve(count);
    const layout = this.layout;
    batch.layOut(layout);
    const { kinds, keyStarts, keyEnds, valueStarts, valueEnds } = layout;
    const order = this.order.subarray(0, count);
    const common = sortBatchOrder(bytes, keyStarts, keyEnds, order, this.sortKeys);
    // The keys of a memtable's first batch are a sample of those to come: their common prefix is
    // the one the memtable's key fingerprints skip (MemTable.setFingerprintBase).
    if (mem.entryCount === 0) mem.setFingerprintBase(bytes, keyStarts[0]!, keyStarts[0]! + common);
    for (let j = 0; j < count; j++) {
      const i = order[j]!;
      mem.addFrom(sequence + i, kinds[i]!, bytes, keyStarts[i]!, keyEnds[i]!, bytes, valueStarts[i]!, valueEnds[i]!);
    }
  }

  private reserve(count: number): void {
    assert(count <= SORTED_BATCH_OPS_MAX, () => `a sorted batch of ${count} ops`);
    if (count <= this.capacity) return;
    let capacity = Math.max(64, this.capacity);
    while (capacity < count) capacity *= 2;
    this.capacity = Math.min(capacity, SORTED_BATCH_OPS_MAX);
    this.layout = newBatchOpLayout(this.capacity);
    this.order = new Uint32Array(this.capacity);
    this.sortKeys = new Float64Array(2 * this.capacity);
  }
}

/** Bits of a sort key: a double holds integers below 2^53 exactly. */
const SORT_KEY_BITS = 53;

/**
 * Fills order[0..n) with 0..n-1 sorted by the keys bytes[keyStarts[i]..keyEnds[i]) ascending,
 * ties (one key twice) by index descending: the internal-key order of op i at sequence + i.
 * `scratch` holds 2n doubles. Returns the length of the keys' common prefix.
 *
 * A comparator sort calls back into JS for each of its ~n log n comparisons, a third of the cost
 * of the inserts it speeds up. Instead each op gets one double, (fingerprint << indexBits) | i,
 * and the doubles are merge-sorted by value (a JIT-compiled loop of number compares: faster than
 * the builtin Float64Array sort too). The fingerprint is the key's bits just past the batch's common prefix (the
 * bytes every key of the batch shares, which order nothing: keys such as "user:000123" share
 * long prefixes), zero-padded, as many bits as 53 - indexBits leaves: an order-preserving
 * truncation, so fingerprint(a) < fingerprint(b) implies a < b. Only runs of equal fingerprints
 * (keys equal that far, or one key a zero-padded prefix of another) are then sorted with the full
 * comparison.
 */
export function sortBatchOrder(bytes: Uint8Array, keyStarts: Int32Array, keyEnds: Int32Array, order: Uint32Array, scratch: Float64Array): number {
  const n = order.length;
  assert(scratch.length >= 2 * n && n >= 1, 'sortBatchOrder scratch holds two doubles per op');
  // Common prefix of all the keys: the first key's bytes that every other key repeats.
  const s0 = keyStarts[0]!;
  let common = keyEnds[0]! - s0;
  for (let i = 1; i < n && common > 0; i++) {
    const s = keyStarts[i]!;
    const limit = Math.min(common, keyEnds[i]! - s);
    let k = 0;
    while (k < limit && bytes[s + k] === bytes[s0 + k]) k++;
    common = k;
  }
  const indexBits = n === 1 ? 1 : 32 - Math.clz32(n - 1);
  const indexScale = 2 ** indexBits;
  const fingerprintBits = SORT_KEY_BITS - indexBits;
  // fingerprint = 32 bits of word 0, then the top (fingerprintBits - 32) bits of word 1.
  const lowBits = fingerprintBits - 32;
  const lowScale = 2 ** lowBits;
  for (let i = 0; i < n; i++) {
    const start = keyStarts[i]! + common;
    const end = keyEnds[i]!;
    let w0 = 0;
    let w1 = 0;
    for (let k = 0; k < 4; k++) w0 = w0 * 256 + (start + k < end ? bytes[start + k]! : 0);
    for (let k = 4; k < 8; k++) w1 = w1 * 256 + (start + k < end ? bytes[start + k]! : 0);
    scratch[i] = (w0 * lowScale + Math.floor(w1 / 2 ** (32 - lowBits))) * indexScale + i;
  }
  const sorted = mergeSort(scratch.subarray(0, n), scratch.subarray(n, 2 * n));
  // Splits each sorted double back into fingerprint and index (exact: powers of two); a run of
  // one fingerprint is a run the fingerprint did not order, sorted by the full comparison.
  const perIndex = 1 / indexScale;
  let runStart = 0;
  let runFingerprint = -1;
  for (let j = 0; j < n; j++) {
    const v = sorted[j]!;
    const fingerprint = Math.floor(v * perIndex);
    order[j] = v - fingerprint * indexScale;
    if (fingerprint === runFingerprint) continue;
    if (j - runStart > 1) sortRun(bytes, keyStarts, keyEnds, order.subarray(runStart, j));
    runStart = j;
    runFingerprint = fingerprint;
  }
  if (n - runStart > 1) sortRun(bytes, keyStarts, keyEnds, order.subarray(runStart, n));
  return common;
}

/** Sorts a run of op indexes by the whole key, a repeated key newest (highest index) first. */
function sortRun(bytes: Uint8Array, keyStarts: Int32Array, keyEnds: Int32Array, run: Uint32Array): void {
  run.sort((a, b) => compareRange(bytes, keyStarts[a]!, keyEnds[a]!, bytes, keyStarts[b]!, keyEnds[b]!) || b - a);
}

/** Insertion-sorted runs of this many before the merge passes. */
const MERGE_RUN = 16;

/**
 * Sorts a ascending (a bottom-up merge sort: O(n log n) whatever the input, stable); b is scratch of
 * the same length. Returns whichever of the two holds the result.
 */
function mergeSort(a: Float64Array, b: Float64Array): Float64Array {
  const n = a.length;
  for (let lo = 0; lo < n; lo += MERGE_RUN) {
    const hi = Math.min(n, lo + MERGE_RUN);
    for (let i = lo + 1; i < hi; i++) {
      const v = a[i]!;
      let j = i - 1;
      while (j >= lo && a[j]! > v) {
        a[j + 1] = a[j]!;
        j--;
      }
      a[j + 1] = v;
    }
  }
  let src = a;
  let dst = b;
  for (let width = MERGE_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) dst[k++] = src[i]! <= src[j]! ? src[i++]! : src[j++]!;
      while (i < mid) dst[k++] = src[i++]!;
      while (j < hi) dst[k++] = src[j++]!;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}
