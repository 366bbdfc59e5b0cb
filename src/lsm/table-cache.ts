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

export class TableCache {
  private readonly readers = new Map<number, TableReader>();
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
      // Map order is insertion order: re-inserting marks it most recently used.
      this.readers.delete(fileNumber);
      this.readers.set(fileNumber, hit);
      return hit;
    }
    const reader = TableReader.open(this.fs, joinPath(this.dir, tableFileName(fileNumber)), fileNumber, this.engine, this.blockCache);
    this.readers.set(fileNumber, reader);
    this.pinned += reader.pinnedBytes;
    // Each round closes one reader other than the new one (the last in Map order), so at most size - 1 rounds.
    while (this.readers.size > 1 && (this.readers.size > this.openTablesMax || this.pinned > this.pinnedBytesMax)) {
      const oldest = this.readers.keys().next().value as number;
      this.closeReader(this.readers.get(oldest)!);
      this.readers.delete(oldest);
    }
    return reader;
  }

  /** Closes the reader of a deleted table and drops its cached blocks. */
  evict(fileNumber: number): void {
    const reader = this.readers.get(fileNumber);
    if (reader !== undefined) {
      this.closeReader(reader);
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
    for (const r of this.readers.values()) {
      checks += r.bloomChecks;
      useful += r.bloomUseful;
    }
    return { checks, useful };
  }

  closeAll(): void {
    for (const reader of this.readers.values()) this.closeReader(reader);
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
