/**
 * A block cache bounded in bytes with least-recently-used eviction, after leveldb's util/cache.cc
 * (LRUCache with per-entry charge). A JS Map keeps insertion order, so "delete then set" on a hit
 * moves an entry to the most-recent end and the first key of the map is the least recent one.
 *
 * Keys are numbers, not strings, on the hot path: fileNumber * 2^32 + blockOffset, exact in a double
 * while fileNumber < 2^20 (asserted; file numbers are allocated one by one from 1) and
 * blockOffset < 2^32 (tables are far smaller).
 *
 * What must hold: usedBytes is the sum of the charges of the cached entries and never exceeds
 * capacityBytes after an insert returns; an entry whose charge alone exceeds the capacity is not
 * cached. Evicting only drops the cache's reference: a reader still holding a block keeps it alive.
 */
import { InvalidArgumentError } from '../errors.js';
import { assert } from '../util/assert.js';

export const BLOCK_CACHE_FILE_NUMBER_LIMIT = 2 ** 20;
const OFFSET_SPAN = 2 ** 32;

interface CacheEntry<T> {
  value: T;
  chargeBytes: number;
}

export class BlockCache<T> {
  readonly capacityBytes: number;
  private readonly entries = new Map<number, CacheEntry<T>>();
  /** Cached block offsets of each file, so evictFile costs that file's blocks, not the cache's. */
  private readonly offsetsByFile = new Map<number, Set<number>>();
  private used = 0;
  private hitCount = 0;
  private missCount = 0;

  constructor(capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
      throw new InvalidArgumentError(`block cache capacity must be a non-negative integer of bytes, got ${capacityBytes}`);
    }
    this.capacityBytes = capacityBytes;
  }

  get usedBytes(): number {
    return this.used;
  }

  get hits(): number {
    return this.hitCount;
  }

  get misses(): number {
    return this.missCount;
  }

  /** Number of cached blocks. */
  get size(): number {
    return this.entries.size;
  }

  get(fileNumber: number, blockOffset: number): T | undefined {
    const key = cacheKey(fileNumber, blockOffset);
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.missCount++;
      return undefined;
    }
    this.hitCount++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Caches `value` as the most recent entry (replacing any entry of the same block), then evicts. */
  insert(fileNumber: number, blockOffset: number, value: T, chargeBytes: number): void {
    assert(Number.isSafeInteger(chargeBytes) && chargeBytes >= 0, () => `block charge ${chargeBytes}`);
    const key = cacheKey(fileNumber, blockOffset);
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, fileNumber, blockOffset, old);
    if (chargeBytes > this.capacityBytes) return;
    this.entries.set(key, { value, chargeBytes });
    let offsets = this.offsetsByFile.get(fileNumber);
    if (offsets === undefined) {
      offsets = new Set();
      this.offsetsByFile.set(fileNumber, offsets);
    }
    offsets.add(blockOffset);
    this.used += chargeBytes;
    // Each round removes one entry, so at most entries.size rounds.
    for (let round = this.entries.size; this.used > this.capacityBytes && round > 0; round--) {
      const oldestKey = this.entries.keys().next().value as number;
      const oldest = this.entries.get(oldestKey)!;
      const oldestFile = Math.floor(oldestKey / OFFSET_SPAN);
      this.remove(oldestKey, oldestFile, oldestKey - oldestFile * OFFSET_SPAN, oldest);
    }
    assert(this.used <= this.capacityBytes, () => `block cache holds ${this.used} of ${this.capacityBytes} bytes`);
  }

  /** Drops every cached block of `fileNumber` (the file was deleted). */
  evictFile(fileNumber: number): void {
    const offsets = this.offsetsByFile.get(fileNumber);
    if (offsets === undefined) return;
    for (const offset of offsets) {
      const key = cacheKey(fileNumber, offset);
      const entry = this.entries.get(key);
      assert(entry !== undefined, () => `block cache index names a missing block ${fileNumber}@${offset}`);
      this.entries.delete(key);
      this.used -= entry.chargeBytes;
    }
    this.offsetsByFile.delete(fileNumber);
  }

  private remove(key: number, fileNumber: number, blockOffset: number, entry: CacheEntry<T>): void {
    this.entries.delete(key);
    this.used -= entry.chargeBytes;
    const offsets = this.offsetsByFile.get(fileNumber);
    assert(offsets !== undefined, () => `block cache index lost file ${fileNumber}`);
    const indexed = offsets.delete(blockOffset);
    assert(indexed, () => `block cache index lost ${fileNumber}@${blockOffset}`);
    if (offsets.size === 0) this.offsetsByFile.delete(fileNumber);
  }
}

function cacheKey(fileNumber: number, blockOffset: number): number {
  assert(
    Number.isInteger(fileNumber) && fileNumber >= 0 && fileNumber < BLOCK_CACHE_FILE_NUMBER_LIMIT,
    () => `block cache file number ${fileNumber} out of range`,
  );
  assert(Number.isInteger(blockOffset) && blockOffset >= 0 && blockOffset < OFFSET_SPAN, () => `block offset ${blockOffset} out of range`);
  return fileNumber * OFFSET_SPAN + blockOffset;
}
