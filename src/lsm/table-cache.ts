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
      this.readers.get(oldest)!.close();
      this.readers.delete(oldest);
    }
    return reader;
  }

  /** Closes the reader of a deleted table and drops its cached blocks. */
  evict(fileNumber: number): void {
    const reader = this.readers.get(fileNumber);
    if (reader !== undefined) {
      reader.close();
      this.readers.delete(fileNumber);
    }
    this.blockCache.evictFile(fileNumber);
  }

  get openCount(): number {
    return this.readers.size;
  }

  closeAll(): void {
    for (const reader of this.readers.values()) reader.close();
    this.readers.clear();
  }
}
