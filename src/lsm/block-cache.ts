/**
 * A block cache bounded in bytes with least-recently-used eviction, after leveldb's util/cache.cc
 * (LRUCache with per-entry charge, its entries on an intrusive doubly linked list).
 *
 * Lookup is two small-integer keyed maps (file number, then block offset): V8 keeps both keys as
 * small integers, so a hit allocates nothing. (A single map keyed fileNumber * 2^32 + offset would
 * box every key as a heap number: that cost ~4 us an insert.) Recency is a linked list through the
 * entries: a hit moves its entry to the head, eviction takes the tail.
 *
 * Limits (asserted): fileNumber < 2^20 (allocated one by one from 1) and blockOffset < 2^32.
 *
 * Spares: a cache made with sparesMax > 0 keeps up to that many values it dropped (evicted,
 * replaced, or refused as larger than the whole cache), for its owner to reuse their memory
 * (takeSpare): a table reader reads its next block into the buffer of the block just evicted
 * rather than allocating one per miss. Spares are not charged: at most sparesMax values beyond
 * capacityBytes.
 *
 * What must hold: usedBytes is the sum of the charges of the cached entries and never exceeds
 * capacityBytes after an insert returns; an entry whose charge alone exceeds the capacity is not
 * cached. With sparesMax 0, evicting only drops the cache's reference: a holder keeps the value
 * alive. With spares, a value handed to the cache may be reused once dropped, so a caller may use
 * a value it got only until its next call into the cache or its owner (its reads are synchronous).
 */
import { InvalidArgumentError } from '../errors.js';
import { assert } from '../util/assert.js';

export const BLOCK_CACHE_FILE_NUMBER_LIMIT = 2 ** 20;
const OFFSET_LIMIT = 2 ** 32;

class CacheEntry<T> {
  /** Toward the most recently used end. */
  newer: CacheEntry<T> | null = null;
  /** Toward the least recently used end. */
  older: CacheEntry<T> | null = null;
  constructor(
    readonly fileNumber: number,
    readonly blockOffset: number,
    public value: T,
    public chargeBytes: number,
  ) {}
}

export class BlockCache<T> {
  readonly capacityBytes: number;
  /** Cached blocks by file, then offset (evictFile costs that file's blocks, not the cache's). */
  private readonly files = new Map<number, Map<number, CacheEntry<T>>>();
  private newest: CacheEntry<T> | null = null;
  private oldest: CacheEntry<T> | null = null;
  private count = 0;
  private used = 0;
  private hitCount = 0;
  private missCount = 0;
  /** Dropped values kept for reuse, at most sparesMax. */
  private readonly spares: T[] = [];

  constructor(capacityBytes: number, readonly sparesMax = 0) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
      throw new InvalidArgumentError(`block cache capacity must be a non-negative integer of bytes, got ${capacityBytes}`);
    }
    assert(Number.isSafeInteger(sparesMax) && sparesMax >= 0, () => `spares ${sparesMax}`);
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

  get size(): number {
    return this.count;
  }

  /** A value the cache dropped, now the caller's to reuse; undefined if none is kept. */
  takeSpare(): T | undefined {
    return this.spares.pop();
  }

  get(fileNumber: number, blockOffset: number): T | undefined {
    checkKey(fileNumber, blockOffset);
    const entry = this.files.get(fileNumber)?.get(blockOffset);
    if (entry === undefined) {
      this.missCount++;
      return undefined;
    }
    this.hitCount++;
    if (entry !== this.newest) {
      this.unlink(entry);
      this.pushNewest(entry);
    }
    return entry.value;
  }

  insert(fileNumber: number, blockOffset: number, value: T, chargeBytes: number): void {
    assert(Number.isSafeInteger(chargeBytes) && chargeBytes >= 0, () => `block charge ${chargeBytes}`);
    checkKey(fileNumber, blockOffset);
    let blocks = this.files.get(fileNumber);
    const old = blocks?.get(blockOffset);
    if (old !== undefined) this.remove(old);
    if (chargeBytes > this.capacityBytes) {
      this.keepSpare(value);
      return;
    }
    if (blocks === undefined || blocks.size === 0) {
      blocks = this.files.get(fileNumber) ?? new Map<number, CacheEntry<T>>();
      this.files.set(fileNumber, blocks);
    }
    const entry = new CacheEntry(fileNumber, blockOffset, value, chargeBytes);
    blocks.set(blockOffset, entry);
    this.pushNewest(entry);
    this.count++;
    this.used += chargeBytes;
    // Each round removes one entry, so at most `count` rounds.
    for (let round = this.count; this.used > this.capacityBytes && round > 0; round--) this.remove(this.oldest!);
    assert(this.used <= this.capacityBytes, () => `block cache holds ${this.used} of ${this.capacityBytes} bytes`);
  }

  /**
   * Adds `extraBytes` to the charge of a cached block (its owner attached more to it), evicting the
   * least recently used others as needed. Returns false, charging nothing, if the block is not
   * cached or its new charge alone would exceed the capacity. Counts neither a hit nor a miss.
   */
  addCharge(fileNumber: number, blockOffset: number, extraBytes: number): boolean {
    assert(Number.isSafeInteger(extraBytes) && extraBytes >= 0, () => `extra charge ${extraBytes}`);
    checkKey(fileNumber, blockOffset);
    const entry = this.files.get(fileNumber)?.get(blockOffset);
    if (entry === undefined || entry.chargeBytes + extraBytes > this.capacityBytes) return false;
    entry.chargeBytes += extraBytes;
    this.used += extraBytes;
    if (entry !== this.newest) {
      this.unlink(entry);
      this.pushNewest(entry);
    }
    // Each round removes one entry other than this one (the newest, its charge within capacity).
    for (let round = this.count; this.used > this.capacityBytes && round > 0; round--) this.remove(this.oldest!);
    assert(this.used <= this.capacityBytes, () => `block cache holds ${this.used} of ${this.capacityBytes} bytes`);
    return true;
  }

  evictFile(fileNumber: number): void {
    const blocks = this.files.get(fileNumber);
    if (blocks === undefined) return;
    for (const entry of blocks.values()) {
      this.keepSpare(entry.value);
      this.unlink(entry);
      this.count--;
      this.used -= entry.chargeBytes;
    }
    this.files.delete(fileNumber);
  }

  private remove(entry: CacheEntry<T>): void {
    const blocks = this.files.get(entry.fileNumber);
    const indexed = blocks?.delete(entry.blockOffset) === true;
    assert(indexed, () => `block cache index lost ${entry.fileNumber}@${entry.blockOffset}`);
    if (blocks!.size === 0) this.files.delete(entry.fileNumber);
    this.unlink(entry);
    this.count--;
    this.used -= entry.chargeBytes;
    this.keepSpare(entry.value);
  }

  private keepSpare(value: T): void {
    if (this.spares.length < this.sparesMax) this.spares.push(value);
  }

  private unlink(entry: CacheEntry<T>): void {
    if (entry.newer === null) this.newest = entry.older;
    else entry.newer.older = entry.older;
    if (entry.older === null) this.oldest = entry.newer;
    else entry.older.newer = entry.newer;
    entry.newer = null;
    entry.older = null;
  }

  private pushNewest(entry: CacheEntry<T>): void {
    entry.older = this.newest;
    entry.newer = null;
    if (this.newest !== null) this.newest.newer = entry;
    this.newest = entry;
    if (this.oldest === null) this.oldest = entry;
  }
}

function checkKey(fileNumber: number, blockOffset: number): void {
  // Guarded so a hit (the hot path) builds no message closures.
  if (Number.isInteger(fileNumber) && fileNumber >= 0 && fileNumber < BLOCK_CACHE_FILE_NUMBER_LIMIT &&
    Number.isInteger(blockOffset) && blockOffset >= 0 && blockOffset < OFFSET_LIMIT) return;
  assert(
    Number.isInteger(fileNumber) && fileNumber >= 0 && fileNumber < BLOCK_CACHE_FILE_NUMBER_LIMIT,
    () => `block cache file number ${fileNumber} out of range`,
  );
  assert(Number.isInteger(blockOffset) && blockOffset >= 0 && blockOffset < OFFSET_LIMIT, () => `block offset ${blockOffset} out of range`);
}
