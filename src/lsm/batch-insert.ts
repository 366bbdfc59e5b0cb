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
    for (let i = 0; i < count; i++) order[i] = i;
    order.sort((a, b) => compareRange(bytes, keyStarts[a]!, keyEnds[a]!, bytes, keyStarts[b]!, keyEnds[b]!) || b - a);
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
  }
}
