/**
 * Opening a tree: the directory, its lock, the manifest, the job runner, and recovery from the
 * write-ahead logs (after leveldb's DB::Open / DBImpl::Recover and Pebble's open.go). What it
 * returns is everything the running tree starts from (src/lsm/tree-core.ts); on failure it
 * releases what it took.
 *
 * What must hold:
 * - every write a WAL acknowledged is in the tree afterwards (as L0 tables), except a torn final
 *   record of a log (a crash mid-append, never acknowledged as synced);
 * - a WAL whose final size the manifest recorded (a clean close synced it, then recorded it; after
 *   RocksDB's track_and_verify_wals_in_manifest) has exactly that size and is read strictly: no
 *   crash can tear it, so a shorter or longer file, or any bad record, is a disk that lost synced
 *   bytes. Open fails with LSM_ERR_CORRUPTION before anything is written or deleted;
 * - the replayed tables and the new WAL are recorded in one manifest edit;
 * - no file number found on disk (a log, a table, a manifest, a temp file) is handed out again;
 * - before anything is deleted, the directory is checked against the manifest
 *   (src/lsm/directory-check.ts): a manifest that lost edits fails open, it is not trusted;
 * - a failed open removes the tables its WAL replay wrote and releases the lock (its temporary
 *   file included, src/lsm/lock.ts).
 */
import type { HotPaths } from '../engine/types.js';
import { loadEngine } from '../engine/index.js';
import { CorruptionError, InvalidArgumentError } from '../errors.js';
import { checkDirectory, type SequenceRange } from './directory-check.js';
import { joinPath, logFileName, parseFileName, tableFileName } from './filenames.js';
import type { DirLock, FileSystem } from './fs.js';
import { createJobRunner } from './job-runner.js';
import { outputNumbersNeeded, runBytes, tableOptionsOf, toFileMetadata, type JobRunner } from './jobs.js';
import { createWalWriter, LogKind, LogReader, type LogWriter } from './log-format.js';
import { MemTable } from './memtable.js';
import { nodeFileSystem } from './node-fs.js';
import type { ResolvedOptions } from './options.js';
import { VersionEdit } from './version-edit.js';
import { VersionSet } from './version-set.js';
import { decodeBatch } from './write-batch.js';

/** An open tree's starting state. */
export interface OpenedTree {
  dir: string;
  fs: FileSystem;
  options: ResolvedOptions;
  engine: HotPaths;
  lock: DirLock;
  versions: VersionSet;
  runner: JobRunner;
  /** The current WAL (none when options.wal is false) and its file number (0 without one). */
  wal: LogWriter | undefined;
  walNumber: number;
  lastSequence: number;
}

/** Opens (creating if allowed) the tree in `dir`, recovering from its WALs after a crash. */
export async function openTree(dir: string, options: ResolvedOptions): Promise<OpenedTree> {
  const fs = options.fs ?? nodeFileSystem;
  if (!fs.exists(dir)) {
    if (!options.createIfMissing) throw new InvalidArgumentError(`${dir} does not exist (createIfMissing is false)`);
    fs.mkdirp(dir);
  }
  const lock = fs.lock(dir);
  let runner: JobRunner | undefined;
  let versions: VersionSet | undefined;
  try {
    const engine = await loadEngine(options.engine);
    versions = await VersionSet.open(fs, dir, {
      createIfMissing: options.createIfMissing,
      errorIfExists: options.errorIfExists,
    });
    runner = await createJobRunner(options, fs, engine);
    const recovered = await recover(fs, dir, options, versions, runner, engine);
    return { dir, fs, options, engine, lock, versions, runner, ...recovered };
  } catch (err) {
    // Released whatever the failure; the error itself goes to the caller unchanged.
    await versions?.close();
    await runner?.close();
    lock.release();
    throw err;
  }
}

/**
 * Throws CorruptionError naming the first WAL whose recorded final size (a clean close's) differs
 * from the file's, or that is missing: synced bytes were lost or added, which no crash does.
 */
function checkRecordedWalSizes(fs: FileSystem, dir: string, versions: VersionSet, names: readonly string[]): void {
  for (const number of versions.recordedWalNumbers()) {
    const name = logFileName(number);
    const recorded = versions.recordedWalSize(number)!;
    const path = joinPath(dir, name);
    const actual = names.includes(name) ? fs.fileSize(path) : undefined;
    if (actual === recorded) continue;
    const found = actual === undefined ? 'it is missing' : `it has ${actual} bytes`;
    throw new CorruptionError(
      `${name} was synced and recorded at ${recorded} bytes by a clean close, but ${found}: the disk lost or changed synced bytes; nothing was deleted`,
      path,
    );
  }
}

/** Adds [first, last] to `ranges`, merging it into the last range when it continues it. */
function extendRanges(ranges: SequenceRange[], first: number, last: number): void {
  const tail = ranges[ranges.length - 1];
  if (tail !== undefined && first <= tail.last + 1 && first >= tail.first) tail.last = Math.max(tail.last, last);
  else ranges.push({ first, last });
}

/**
 * Replays the WALs the manifest does not cover into memtables, writes what they held as L0
 * tables, checks the directory against the manifest, and starts a new WAL, all recorded in one
 * manifest edit. A torn final record of a log is dropped, unless the manifest recorded the log's
 * final size (then it is read strictly); anything else unreadable is LSM_ERR_CORRUPTION. If the check fails, the tables the replay wrote are removed.
 */
async function recover(
  fs: FileSystem, dir: string, opts: ResolvedOptions, versions: VersionSet, runner: JobRunner, engine: HotPaths,
): Promise<{ wal: LogWriter | undefined; walNumber: number; lastSequence: number }> {
  let lastSequence = versions.lastSequence;
  const edit = new VersionEdit();
  const replayed: SequenceRange[] = [];
  const table = tableOptionsOf(opts);
  const flushMem = async (mem: MemTable): Promise<void> => {
    const run = mem.toRun();
    const numbers = versions.reserveFileNumbers(outputNumbersNeeded(runBytes(run), table.targetFileSizeBytes));
    const result = await runner.run({ kind: 'flush', dir, run, table, fileNumbers: numbers, snapshots: [] });
    for (const o of result.outputs) edit.addFile(0, toFileMetadata(o));
  };
  // Every numbered file found keeps its number out of later use: a pre-created WAL, or the table of
  // a job that crashed before its edit, may be numbered past the manifest's next file number. A
  // reused number would overwrite a file the directory check has not looked at yet.
  const names = fs.list(dir);
  for (const name of names) {
    const parsed = parseFileName(name);
    if (parsed !== undefined && (parsed.type === 'log' || parsed.type === 'table' || parsed.type === 'manifest' || parsed.type === 'temp')) {
      versions.markFileNumberUsed(parsed.number);
    }
  }
  if (opts.wal) {
    checkRecordedWalSizes(fs, dir, versions, names);
    const logs = names
      .map((name) => ({ name, parsed: parseFileName(name) }))
      .filter((f) => f.parsed?.type === 'log' && f.parsed.number >= versions.logNumber)
      .sort((a, b) => a.parsed!.number - b.parsed!.number);
    let mem = new MemTable();
    for (const log of logs) {
      const mode = versions.recordedWalSize(log.parsed!.number) === undefined ? 'tolerate-torn-tail' : 'strict';
      const reader = new LogReader(fs.readFile(joinPath(dir, log.name)), log.name, LogKind.Wal, mode);
      // Each record is one write batch; the loop ends at the log's end (one record per pass).
      for (let record = reader.next(); record !== null; record = reader.next()) {
        const { sequence, count } = decodeBatch(record, log.name, reader.recordOffset, (seq, kind, key, value) => {
          mem.add(seq, kind, key, value);
        });
        if (count > 0) {
          lastSequence = Math.max(lastSequence, sequence + count - 1);
          extendRanges(replayed, sequence, sequence + count - 1);
        }
        if (mem.approximateBytes >= opts.memtableBytesMax) {
          await flushMem(mem);
          mem = new MemTable();
        }
      }
    }
    if (mem.entryCount > 0) await flushMem(mem);
  }
  const written = new Set(edit.newFiles.map(({ file }) => file.number));
  try {
    checkDirectory(fs, dir, versions, engine, opts.wal ? replayed : undefined, written);
  } catch (err) {
    for (const number of written) fs.remove(joinPath(dir, tableFileName(number)));
    throw err;
  }
  let wal: LogWriter | undefined;
  let walNumber = 0;
  if (opts.wal) {
    walNumber = versions.newFileNumber();
    wal = createWalWriter(fs, joinPath(dir, logFileName(walNumber)), engine);
    wal.syncSync();
    await fs.syncDir(dir);
    edit.setLogNumber(walNumber);
  }
  edit.setLastSequence(lastSequence);
  await versions.logAndApply(edit);
  return { wal, walNumber, lastSequence };
}
