/**
 * The internal iterator contract every source implements (memtable, table, level, merging), after
 * leveldb's include/leveldb/iterator.h. Positioned over internal keys (src/format/internal-key.ts).
 *
 * REQUIRES: key(), value(), next() and prev() only while valid(). The arrays key() and value() return
 * stay unchanged until the iterator moves (implementations may return subarrays of shared buffers).
 * Iterators are synchronous: their reads are positional reads of cached or page-cached blocks.
 * A corrupt block surfaces as a thrown CorruptionError from the move that read it.
 */
export interface InternalIterator {
  valid(): boolean;
  seekToFirst(): void;
  seekToLast(): void;
  /** Positions at the first entry whose internal key is >= target. */
  seek(target: Uint8Array): void;
  /** Positions at the last entry whose internal key is <= target. */
  seekForPrev(target: Uint8Array): void;
  next(): void;
  prev(): void;
  key(): Uint8Array;
  value(): Uint8Array;
  /** Releases what the iterator pins (table handles, cache entries). Idempotent. */
  close(): void;
}
