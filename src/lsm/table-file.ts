/**
 * Writes SSTables, built whole (src/engine: buildTables) or streamed (compactStreams), to their files and makes them durable, as
 * leveldb's BuildTable does before a version edit may name them: each file is synced, then its
 * directory once, so a manifest record never points at a table a crash could lose.
 */
import type { BuiltTable, TableOutput, TableSummary } from '../engine/types.js';
import type { FileSystem, WritableFile } from './fs.js';
import { JobFailedError } from '../errors.js';
import { assert } from '../util/assert.js';
import { joinPath, tableFileName } from './filenames.js';
import type { FileMetadata } from './version-edit.js';

export { tableFileName } from './filenames.js';

/** What the manifest records about a table file written here: the manifest's own record type. */
export type TableFileMeta = FileMetadata;

function tableFileMeta(number: number, size: number, table: Omit<BuiltTable, 'bytes'>): TableFileMeta {
  return {
    number,
    size,
    smallest: table.smallestKey,
    largest: table.largestKey,
    entryCount: table.entryCount,
    deletionCount: table.deletionCount,
    smallestSeq: table.smallestSequence,
    largestSeq: table.largestSequence,
  };
}

/** Writes tables[i] as `dir/<fileNumbers[i]>.sst`; durable (files and directory synced) on return. */
export function writeTableFiles(fs: FileSystem, dir: string, tables: BuiltTable[], fileNumbers: number[]): TableFileMeta[] {
  assert(tables.length === fileNumbers.length, () => `${tables.length} tables for ${fileNumbers.length} file numbers`);
  const metas: TableFileMeta[] = [];
  for (let i = 0; i < tables.length; i++) {
    const table = tables[i]!;
    const number = fileNumbers[i]!;
    const file = fs.create(joinPath(dir, tableFileName(number)));
    try {
      file.append(table.bytes);
      file.syncSync();
    } finally {
      file.close();
    }
    metas.push(tableFileMeta(number, table.bytes.length, table));
  }
  if (tables.length > 0) fs.syncDirSync(dir);
  return metas;
}

/**
 * The TableOutput of a job (src/engine/types.ts): writes a streamed compaction's tables as
 * `dir/<fileNumbers[i]>.sst`, appending each chunk as it comes; each file is synced when its table
 * ends, and the directory once by finish(), so the job's outputs are durable before it returns.
 */
export class TableFilesWriter implements TableOutput {
  readonly metas: TableFileMeta[] = [];
  private file: WritableFile | undefined = undefined;
  private written = 0;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly fileNumbers: readonly number[],
  ) {}

  write(bytes: Uint8Array): void {
    if (this.file === undefined) {
      const i = this.metas.length;
      if (i >= this.fileNumbers.length) {
        throw new JobFailedError(`job produced more than the ${this.fileNumbers.length} tables it has file numbers for`);
      }
      this.file = this.fs.create(joinPath(this.dir, tableFileName(this.fileNumbers[i]!)));
      this.written = 0;
    }
    this.file.append(bytes);
    this.written += bytes.length;
  }

  end(table: TableSummary): void {
    const file = this.file;
    assert(file !== undefined && this.written === table.fileBytes, 'a table ends after its bytes');
    this.file = undefined;
    try {
      file.syncSync();
    } finally {
      file.close();
    }
    this.metas.push(tableFileMeta(this.fileNumbers[this.metas.length]!, table.fileBytes, table));
  }

  /** Syncs the directory once every table has ended; the outputs are then durable. */
  finish(): TableFileMeta[] {
    assert(this.file === undefined, 'every table ended');
    if (this.metas.length > 0) this.fs.syncDirSync(this.dir);
    return this.metas;
  }

  /** After a failure: closes the table being written (the tree deletes it as obsolete). */
  abort(): void {
    const file = this.file;
    this.file = undefined;
    file?.close();
  }
}
