/**
 * Writes built SSTables (src/engine: buildTables) to their files and makes them durable, as
 * leveldb's BuildTable does before a version edit may name them: each file is synced, then its
 * directory once, so a manifest record never points at a table a crash could lose.
 */
import type { BuiltTable } from '../engine/types.js';
import type { FileSystem } from './fs.js';
import { assert } from '../util/assert.js';
import { joinPath, tableFileName } from './filenames.js';
import type { FileMetadata } from './version-edit.js';

export { tableFileName } from './filenames.js';

/** What the manifest records about a table file written here: the manifest's own record type. */
export type TableFileMeta = FileMetadata;

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
    metas.push({
      number,
      size: table.bytes.length,
      smallest: table.smallestKey,
      largest: table.largestKey,
      entryCount: table.entryCount,
      deletionCount: table.deletionCount,
      smallestSeq: table.smallestSequence,
      largestSeq: table.largestSequence,
    });
  }
  if (tables.length > 0) fs.syncDirSync(dir);
  return metas;
}
