/**
 * Open table readers, by file number, bounded in count and in pinned bytes (after leveldb
 * db/table_cache.cc). Opening a table reads and checks its footer, index and filter, and the reader
 * keeps the index and filter in memory (TableReader.pinnedBytes), so readers are kept open and
 * reused; least recently used ones are closed while more than `openTablesMax` are open or their
 * pinned bytes pass `pinnedBytesMax` (RocksDB counts the same blocks against its block cache with
 * cache_index_and_filter_blocks; here they have a budget of their own, beside the data blocks').
 *
 * What must hold: after get() returns, openCount <= openTablesMax, and pinnedBytes <=
 * pinnedBytesMax unless the one table just returned alone passes it (a table must open to be read).
 */
import type { HotPaths } from '../engine/types.js';
import type { BlockCache } from './block-cache.js';
import type { FileSystem } from './fs.js';
import { joinPath, tableFileName } from './filenames.js';
import { type CachedBlock, TableReader } from './table-reader.js';
import { assert } from '../util/assert.js';

/** An open reader and when it was last asked for (TableCache.useTick). */
interface OpenTable {
  readonly reader: TableReader;
  lastUse: number;
}

export class TableCache {
  private readonly readers = new Map<number, OpenTable>();
  /** Counts get() calls: a reader's lastUse is the count at its last get(). */
  private useTick = 0;
  /** Sum of the open readers' pinnedBytes. */
  private pinned = 0;
  /** Bloom filter counts of readers closed so far (the open ones hold their own). */
  private closedBloom = { checks: 0, useful: 0 };

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly engine: HotPaths,
    readonly blockCache: BlockCache<CachedBlock>,
    private readonly openTablesMax: number,
    readonly pinnedBytesMax: number,
  ) {}

  get(fileNumber: number): TableReader {
    const hit = this.readers.get(fileNumber);
    if (hit !== undefined) {
      // A tick, not a move to the end of the Map: a point read passes here for every table it
      // reads, and a Map delete and re-insert cost more than the rest of a cached read's lookups.
      hit.lastUse = ++this.useTick;
      return hit.reader;
    }
    const reader = TableReader.open(this.fs, joinPath(this.dir, tableFileName(fileNumber)), fileNumber, this.engine, this.blockCache);
    this.readers.set(fileNumber, { reader, lastUse: ++this.useTick });
    this.pinned += reader.pinnedBytes;
    // Each round closes one reader other than the new one (it has the largest tick), so at most size - 1 rounds.
    while (this.readers.size > 1 && (this.readers.size > this.openTablesMax || this.pinned > this.pinnedBytesMax)) {
      this.closeLeastRecentlyUsed();
    }
    return reader;
  }

  /** Closes the open reader used longest ago: a scan, run only when a table opens past the limits. */
  private closeLeastRecentlyUsed(): void {
    let oldest: number | undefined;
    let oldestUse = Infinity;
    for (const [number, open] of this.readers) {
      if (open.lastUse < oldestUse) {
        oldestUse = open.lastUse;
        oldest = number;
      }
    }
    assert(oldest !== undefined, 'an open table to close');
    this.closeReader(this.readers.get(oldest)!.reader);
    this.readers.delete(oldest);
  }

  /** Closes the reader of a deleted table and drops its cached blocks. */
  evict(fileNumber: number): void {
    const open = this.readers.get(fileNumber);
    if (open !== undefined) {
      this.closeReader(open.reader);
      this.readers.delete(fileNumber);
    }
    this.blockCache.evictFile(fileNumber);
  }

  get openCount(): number {
    return this.readers.size;
  }

  /** Index and filter bytes the open readers hold. */
  get pinnedBytes(): number {
    return this.pinned;
  }

  /** Point lookups the tables' bloom filters were asked about, and those they answered "absent". */
  bloomStats(): { checks: number; useful: number } {
    let { checks, useful } = this.closedBloom;
    for (const { reader } of this.readers.values()) {
      checks += reader.bloomChecks;
      useful += reader.bloomUseful;
    }
    return { checks, useful };
  }

  closeAll(): void {
    for (const { reader } of this.readers.values()) this.closeReader(reader);
    this.readers.clear();
    assert(this.pinned === 0, () => `${this.pinned} pinned bytes left after closing every table`);
  }

  private closeReader(reader: TableReader): void {
    this.closedBloom.checks += reader.bloomChecks;
    this.closedBloom.useful += reader.bloomUseful;
    this.pinned -= reader.pinnedBytes;
    reader.close();
  }
}
