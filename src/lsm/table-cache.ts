/**
 * Open table readers, by file number, bounded in count (after leveldb db/table_cache.cc). Opening
 * a table reads and checks its footer, index and filter, so readers are kept open and reused; the
 * least recently used one is closed when more than `openTablesMax` are open.
 */
import type { EntryRun, HotPaths } from '../engine/types.js';
import type { BlockCache } from './block-cache.js';
import type { FileSystem } from './fs.js';
import { joinPath, tableFileName } from './filenames.js';
import { TableReader } from './table-reader.js';

export class TableCache {
  private readonly readers = new Map<number, TableReader>();
  /** Bloom filter counts of readers closed so far (the open ones hold their own). */
  private closedBloom = { checks: 0, useful: 0 };

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly engine: HotPaths,
    readonly blockCache: BlockCache<EntryRun>,
    private readonly openTablesMax: number,
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
    if (this.readers.size > this.openTablesMax) {
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
  }

  private closeReader(reader: TableReader): void {
    this.closedBloom.checks += reader.bloomChecks;
    this.closedBloom.useful += reader.bloomUseful;
    reader.close();
  }
}
