/**
 * k-way merge of sorted runs with leveldb's version-dropping rules (db/db_impl.cc
 * DoCompactionWork), written as docs/format/sstable.md "Merge rules" states them: snapshot stripes,
 * newest entry per stripe, bottom-level tombstone dropping. A binary min-heap of run cursors picks
 * the smallest internal key (ties, which valid inputs never have, go to the lower run index so the
 * output is deterministic). Twin of asm/merge.ts.
 *
 * What must hold: the output is strictly increasing in internal-key order (checked under
 * INVARIANTS); every reader (each live snapshot, and "now") sees the same newest entry of every key
 * in the output as in the inputs, except that a bottom-level delete with nothing older to hide
 * reads as "absent" by being absent.
 *
 * Kept entries are copied straight into one output buffer sized to the inputs (a merge never grows
 * its data); tombstones found to hide nothing are removed by truncating the output's tail when the
 * user key ends, so no entry is ever looked ahead at or allocated.
 */
import type { EntryRun, MergeOptions } from '../types.js';
import { assert, INVARIANTS } from '../../util/assert.js';
import { compareRange } from '../../util/bytes.js';
import { compareInternalRange, KIND_DELETE, TRAILER_BYTES, trailerKind, trailerSequence } from '../../format/internal-key.js';
import { copyBytes } from './block.js';

/** Index of the stripe of sequence `seq`: the smallest i with snapshots[i] >= seq, else length. */
export function stripeOf(snapshots: readonly number[], seq: number): number {
  let lo = 0;
  let hi = snapshots.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (snapshots[mid]! >= seq) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Restores the min-heap order of heap[0..size) (run indices, ordered by `less`) below position
 * `at`, whose entry may have grown.
 */
export function siftDownHeap(heap: Int32Array, size: number, at: number, less: (a: number, b: number) => boolean): void {
  const top = heap[at]!;
  let i = at;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= size) break;
    const right = left + 1;
    const child = right < size && less(heap[right]!, heap[left]!) ? right : left;
    if (!less(heap[child]!, top)) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = top;
}

export function mergeRuns(runs: readonly EntryRun[], options: MergeOptions): EntryRun {
  const { snapshots, dropTombstones } = options;
  for (let i = 1; i < snapshots.length; i++) {
    assert(snapshots[i - 1]! < snapshots[i]!, 'snapshots are strictly ascending');
  }
  const k = runs.length;
  let totalEntries = 0;
  let totalBytes = 0;
  for (const run of runs) {
    assert(run.offsets.length >= 2 * run.count + 1, 'run offsets cover its entries');
    totalEntries += run.count;
    totalBytes += run.offsets[2 * run.count]! - run.offsets[0]!;
  }
  const outData = new Uint8Array(totalBytes);
  const outOffsets = new Uint32Array(2 * totalEntries + 1);
  let outCount = 0;
  let outPos = 0;

  // Heap of run indices ordered by each run's current entry; cursor[r] is that entry's index.
  const cursor = new Int32Array(k);
  const heap = new Int32Array(k);
  let heapSize = 0;

  const less = (a: number, b: number): boolean => {
    const ra = runs[a]!;
    const rb = runs[b]!;
    const ia = cursor[a]! * 2;
    const ib = cursor[b]! * 2;
    const c = compareInternalRange(
      ra.data, ra.offsets[ia]!, ra.offsets[ia + 1]!,
      rb.data, rb.offsets[ib]!, rb.offsets[ib + 1]!);
    return c < 0 || (c === 0 && a < b);
  };
  const siftDown = (at: number): void => siftDownHeap(heap, heapSize, at, less);

  for (let r = 0; r < k; r++) if (runs[r]!.count > 0) heap[heapSize++] = r;
  for (let i = (heapSize >> 1) - 1; i >= 0; i--) siftDown(i);

  // The current user key, read in place from the input that held its first entry.
  let curData: Uint8Array = outData;
  let curStart = 0;
  let curEnd = -1;
  let curFirstOut = 0;
  let lastStripe = -1;

  /** Bottom level: drops kept deletes of the current key from the oldest stripe upward. */
  const dropTrailingTombstones = (): void => {
    while (outCount > curFirstOut && trailerKind(outData, outOffsets[2 * outCount - 1]!) === KIND_DELETE) {
      outCount--;
      outPos = outOffsets[2 * outCount]!;
    }
  };

  // Each step consumes one input entry: the loop runs exactly totalEntries times.
  for (let step = 0; step < totalEntries; step++) {
    assert(heapSize > 0, 'merge heap holds a run while entries remain');
    const r = heap[0]!;
    const run = runs[r]!;
    const i = cursor[r]!;
    const data = run.data;
    const keyStart = run.offsets[2 * i]!;
    const keyEnd = run.offsets[2 * i + 1]!;
    const valueEnd = run.offsets[2 * i + 2]!;
    const userEnd = keyEnd - TRAILER_BYTES;

    if (curEnd < 0 || compareRange(curData, curStart, curEnd, data, keyStart, userEnd) !== 0) {
      if (dropTombstones) dropTrailingTombstones();
      curData = data;
      curStart = keyStart;
      curEnd = userEnd;
      curFirstOut = outCount;
      lastStripe = -1;
    }
    // Entries of one user key arrive newest first, so stripes arrive in decreasing order: the
    // first entry seen in a stripe is its newest, the one that stripe's reader sees.
    const stripe = snapshots.length === 0 ? 0 : stripeOf(snapshots, trailerSequence(data, keyEnd));
    if (stripe !== lastStripe) {
      lastStripe = stripe;
      // Key and value are adjacent in a run: one copy moves both.
      outOffsets[2 * outCount] = outPos;
      outOffsets[2 * outCount + 1] = outPos + (keyEnd - keyStart);
      copyBytes(outData, outPos, data, keyStart, valueEnd);
      outPos += valueEnd - keyStart;
      outCount++;
    }

    cursor[r] = i + 1;
    if (i + 1 >= run.count) heap[0] = heap[--heapSize]!;
    if (heapSize > 0) siftDown(0);
  }
  if (dropTombstones) dropTrailingTombstones();
  outOffsets[2 * outCount] = outPos;

  if (INVARIANTS) {
    for (let i = 1; i < outCount; i++) {
      assert(compareInternalRange(
        outData, outOffsets[2 * i - 2]!, outOffsets[2 * i - 1]!,
        outData, outOffsets[2 * i]!, outOffsets[2 * i + 1]!) < 0,
      () => `merge output is strictly sorted (entry ${i})`);
    }
  }
  return { data: outData.subarray(0, outPos), offsets: outOffsets.subarray(0, 2 * outCount + 1), count: outCount };
}
