/**
 * The check open makes, before anything is deleted, that the directory and the manifest tell the
 * same story (after leveldb's DBImpl::Recover, which fails on tables the manifest names but the
 * directory lacks, and Pebble's open.go). A manifest that lost its last edits (cut at a record
 * boundary, restored from an old copy) parses cleanly; trusting it would roll the tree back and then
 * delete the newer tables as obsolete. So open refuses, with LSM_ERR_CORRUPTION naming the files:
 *
 * 1. a table the manifest names is missing, or its size differs from the recorded one;
 * 2. a table the manifest does not name holds sequence numbers past the manifest's last sequence
 *    that no replayed WAL holds. A table outside the manifest is legitimately one of: the output of
 *    a compaction that crashed before its edit (its entries come from tables the manifest names, so
 *    its sequences are at most the manifest's last sequence); a table an edit made obsolete, whose
 *    unlink a crash undid (a deletion is not made durable: also at most the last sequence); or the
 *    output of a flush that crashed before its edit (its entries past the last sequence are in a
 *    WAL that recovery replays, the first of them included). A table whose edit was lost holds newer
 *    data than the manifest knows and that is nowhere else (its WAL was deleted once the edit was
 *    durable): it is refused. A table too damaged to read was cut short by a crash while its job
 *    wrote it (a job syncs a table whole before its edit): an orphan. Without a WAL (option
 *    wal: false) nothing records what a crashed flush held, so this check is skipped;
 * 3. a WAL the manifest calls obsolete (numbered below its log number) holds a sequence number
 *    above the manifest's last sequence: the edit that retired it recorded every sequence number
 *    handed out by then, so the manifest is older than that edit.
 *
 * Known limits. (a) A lost edit whose table holds only sequences at or below the manifest's last
 * sequence (a flush that raced a later edit which recorded its sequences) looks like an obsolete
 * table: check 1 still catches the common follow-on, a compaction input the lost edit removed.
 * (b) A flush writes its table only once the fsync of the WAL its memtable came from has settled
 * (TreeCore.immWalSync), so a crashed flush's table never holds writes a power loss took from
 * that WAL; if that fsync failed, the flush goes ahead (it is then what makes those writes durable),
 * and a power loss before its edit leaves a table check 2 refuses: a false alarm on the safe side.
 *
 * What passes is what the manifest proves obsolete; only that is deleted afterwards
 * (src/lsm/obsolete-files.ts). WALs numbered at or above the manifest's next file number are not
 * refused: the write path creates the next WAL before any edit records its number, and recovery
 * replays it.
 */
import type { HotPaths } from '../engine/types.js';
import { CorruptionError } from '../errors.js';
import { BlockCache } from './block-cache.js';
import { joinPath, manifestFileName, parseFileName, tableFileName } from './filenames.js';
import type { FileSystem } from './fs.js';
import { LogKind, LogReader } from './log-format.js';
import { type CachedBlock, TableReader } from './table-reader.js';
import type { VersionSet } from './version-set.js';
import { decodeBatch } from './write-batch.js';

/** An inclusive range of sequence numbers. */
export interface SequenceRange {
  first: number;
  last: number;
}

/** Problems listed in the error, at most (the count is always given). */
const PROBLEMS_LISTED_MAX = 8;

/** What the check needs of a manifest: VersionSet after recovery, or a manifest verifyTree replayed. */
export interface ManifestView {
  /** Every table the manifest names. */
  tables: Iterable<{ number: number; size: number }>;
  lastSequence: number;
  logNumber: number;
}

/** One thing the manifest cannot account for, naming the file. */
export interface DirectoryProblem {
  file: string;
  reason: string;
}

/**
 * Throws CorruptionError if `dir` holds what the manifest of `versions` cannot account for (see
 * the header). `replayed`: the sequence ranges of the batches recovery replayed from the WALs
 * (undefined without a WAL); `ownTables`: tables recovery itself just wrote from them.
 * REQUIRES: nothing in `dir` was deleted since the manifest was read.
 */
export function checkDirectory(
  fs: FileSystem, dir: string, versions: VersionSet, engine: HotPaths,
  replayed: readonly SequenceRange[] | undefined, ownTables: ReadonlySet<number>,
): void {
  const view: ManifestView = {
    tables: [...versions.current().allFiles()].map(({ file }) => file),
    lastSequence: versions.lastSequence,
    logNumber: versions.logNumber,
  };
  const problems = directoryProblems(fs, dir, view, engine, replayed, ownTables).map((p) => p.reason);
  if (problems.length === 0) return;
  const listed = problems.slice(0, PROBLEMS_LISTED_MAX).join('; ');
  const more = problems.length > PROBLEMS_LISTED_MAX ? `; and ${problems.length - PROBLEMS_LISTED_MAX} more` : '';
  throw new CorruptionError(
    `the manifest does not account for the directory (${problems.length} problem${problems.length === 1 ? '' : 's'}: ${listed}${more}); ` +
      'the manifest may have lost edits: nothing was deleted',
    joinPath(dir, manifestFileName(versions.manifestNumber)),
  );
}

/** The problems of the header's checks 1 to 3, each naming its file; empty when the manifest accounts for `dir`. */
export function directoryProblems(
  fs: FileSystem, dir: string, manifest: ManifestView, engine: HotPaths,
  replayed: readonly SequenceRange[] | undefined, ownTables: ReadonlySet<number>,
): DirectoryProblem[] {
  const names = fs.list(dir);
  const present = new Set(names);
  const problems: DirectoryProblem[] = [];
  const named = new Set<number>();
  for (const file of manifest.tables) {
    named.add(file.number);
    const name = tableFileName(file.number);
    if (!present.has(name)) {
      problems.push({ file: name, reason: `${name} is missing` });
      continue;
    }
    const size = fs.fileSize(joinPath(dir, name));
    if (size !== file.size) problems.push({ file: name, reason: `${name} has ${size} bytes, the manifest recorded ${file.size}` });
  }
  const lastSequence = manifest.lastSequence;
  const replays = (seq: number): boolean => (replayed ?? []).some((r) => r.first <= seq && seq <= r.last);
  for (const name of names) {
    const parsed = parseFileName(name);
    if (parsed === undefined) continue;
    if (parsed.type === 'table' && replayed !== undefined && !named.has(parsed.number) && !ownTables.has(parsed.number)) {
      const bounds = orphanSequenceBounds(fs, dir, name, parsed.number, engine);
      if (bounds !== undefined && bounds.last > lastSequence && !replays(Math.max(bounds.first, lastSequence + 1))) {
        problems.push({
          file: name,
          reason: `${name} is not in the manifest and holds sequences ${bounds.first}..${bounds.last}, past the manifest's last sequence ${lastSequence}, that no WAL replays`,
        });
      }
    }
    if (parsed.type === 'log' && parsed.number < manifest.logNumber) {
      const last = lastSequenceOf(fs, dir, name);
      if (last > lastSequence) {
        problems.push({ file: name, reason: `${name}, obsolete by the manifest, holds sequence ${last} past the manifest's last sequence ${lastSequence}` });
      }
    }
  }
  return problems;
}

/** A table's smallest and largest sequence, or undefined if it is too damaged to read (see header). */
function orphanSequenceBounds(fs: FileSystem, dir: string, name: string, number: number, engine: HotPaths): SequenceRange | undefined {
  let reader: TableReader;
  try {
    reader = TableReader.open(fs, joinPath(dir, name), number, engine, new BlockCache<CachedBlock>(0));
  } catch (err) {
    if (err instanceof CorruptionError) return undefined;
    throw err;
  }
  try {
    return { first: reader.properties.smallestSeq, last: reader.properties.largestSeq };
  } finally {
    reader.close();
  }
}

/** The largest sequence number a WAL holds (a torn tail dropped), or 0 for none. */
function lastSequenceOf(fs: FileSystem, dir: string, name: string): number {
  const reader = new LogReader(fs.readFile(joinPath(dir, name)), name, LogKind.Wal, 'tolerate-torn-tail');
  let last = 0;
  // One record per pass, bounded by the log's length.
  for (let record = reader.next(); record !== null; record = reader.next()) {
    const { sequence, count } = decodeBatch(record, name, reader.recordOffset, () => undefined);
    if (count > 0) last = Math.max(last, sequence + count - 1);
  }
  return last;
}
