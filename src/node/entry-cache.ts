/**
 * EntryCache: the newest entries of the Raft log kept in memory, so the reads the core makes right
 * after an append (the committed entries it hands out to apply, the appends a leader sends a
 * follower that is keeping up) do not go through the log tree's iterator and entry decoding. After
 * TiKV's EntryCache (components/raftstore/src/store/entry_storage.rs), which caches the tail of a
 * Raft log stored in a KV engine for the same reason; etcd's raft reads them from MemoryStorage.
 *
 * The cache holds one contiguous run of entries ending at the log's last index, bounded by
 * bytesMax (entrySizeBytes, the core's own measure); older entries are evicted first. It only
 * answers a range it holds whole, so what it returns is exactly what the tree would: the owner
 * (log-store.ts) calls append() after each durable append (the entries that replaced a conflicting
 * suffix replace it here too), compactTo() after a compaction and clear() when the log is replaced.
 * Entry data that is a view of a larger buffer (a peer frame) is copied, so the bound is the memory
 * the cache keeps alive.
 */
import { entrySizeBytes, type Entry } from '../raft/types.js';
import { assert } from '../util/assert.js';

/** Default bound on the cached entries' bytes. */
export const ENTRY_CACHE_BYTES_MAX = 4 * 1024 * 1024;

export class EntryCache {
  /** ents[head..] are cached, contiguous and ascending by index; ents[..head] are evicted slots. */
  private ents: Array<Entry | undefined> = [];
  private head = 0;
  private bytes = 0;

  constructor(readonly bytesMax: number = ENTRY_CACHE_BYTES_MAX) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 0, 'entry cache bytesMax must be a non-negative integer');
  }

  get count(): number {
    return this.ents.length - this.head;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** The cached range [first, last], or undefined when empty. */
  range(): { first: number; last: number } | undefined {
    if (this.count === 0) return undefined;
    return { first: this.ents[this.head]!.index, last: this.ents[this.ents.length - 1]!.index };
  }

  /**
   * Records entries just made durable (contiguous, ascending): cached entries from the first new
   * index on are dropped (a conflicting suffix the append replaced). Entries that would leave a gap
   * after the cached run start a new run.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const r = this.range();
    if (r !== undefined && (first > r.last + 1 || first <= r.first)) this.clear();
    else if (r !== undefined) this.truncateFrom(first);
    for (const e of entries) {
      const kept = e.data.byteLength === e.data.buffer.byteLength ? e : { ...e, data: e.data.slice() };
      this.ents.push(kept);
      this.bytes += entrySizeBytes(kept);
    }
    this.evict();
  }

  /** Drops cached entries at or below `index` (the log was compacted to it). */
  compactTo(index: number): void {
    while (this.head < this.ents.length && this.ents[this.head]!.index <= index) this.dropFirst();
    this.shrink();
  }

  clear(): void {
    this.ents = [];
    this.head = 0;
    this.bytes = 0;
  }

  /**
   * Entries [lo, hi) as RaftLogStore.entries() would return them (at least one, then up to maxBytes
   * in all), or undefined unless the cache holds [lo, hi) whole. REQUIRES: lo < hi.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    const r = this.range();
    if (r === undefined || lo < r.first || hi - 1 > r.last) return undefined;
    const out: Entry[] = [];
    let size = 0;
    // At most hi - lo passes; stops once over maxBytes (keeping at least one entry).
    for (let i = this.head + (lo - r.first); i < this.head + (hi - r.first); i++) {
      const e = this.ents[i]!;
      size += entrySizeBytes(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  private truncateFrom(index: number): void {
    while (this.count > 0 && this.ents[this.ents.length - 1]!.index >= index) this.bytes -= entrySizeBytes(this.ents.pop()!);
  }

  private evict(): void {
    while (this.count > 0 && this.bytes > this.bytesMax) this.dropFirst();
    this.shrink();
  }

  private dropFirst(): void {
    this.bytes -= entrySizeBytes(this.ents[this.head]!);
    this.ents[this.head] = undefined;
    this.head++;
  }

  /** Reclaims the evicted slots once they are half the array (amortized O(1) per entry). */
  private shrink(): void {
    if (this.head > 0 && this.head * 2 >= this.ents.length) {
      this.ents = this.ents.slice(this.head);
      this.head = 0;
    }
  }
}
