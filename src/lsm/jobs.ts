/**
 * Flush and compaction jobs: the whole of one background job, from inputs to durable output
 * tables, as one synchronous function of (file system, hot paths, job). A job streams
 * (HotPaths.compactStreams): it reads its input tables a window of blocks at a time and writes its
 * output tables as it goes, so its memory is bounded by its inputs' count, not their size: about
 * inputs x (JOB_READ_AHEAD_BYTES + largest block) + JOB_OUTPUT_CHUNK_BYTES + one output table's
 * index and filter state, plus each input's block handles (16 bytes a data block). A flush's
 * input is the memtable run itself (bounded by memtableBytesMax) and takes the same output path.
 * The tree runs a job inline or hands it to a worker of the pool (src/pool); either way the caller
 * gets back only metadata and installs it as one manifest edit (after leveldb's
 * DBImpl::WriteLevel0Table and DoCompactionWork).
 *
 * A job writes only files whose numbers it was given, so a failed or killed job leaves files that
 * no version references; the tree deletes those as obsolete. It never touches the manifest.
 */
import type { EntryRun, HotPaths, StreamSource, TableCutOptions } from '../engine/types.js';
import { CorruptionError } from '../errors.js';
import type { FileSystem } from './fs.js';
import { joinPath, tableFileName } from './filenames.js';
import { BlockCache } from './block-cache.js';
import { TableReader } from './table-reader.js';
import { TableFilesWriter, type TableFileMeta } from './table-file.js';
import type { FileMetadata } from './version-edit.js';

export interface FlushJob {
  kind: 'flush';
  dir: string;
  /** The immutable memtable's entries, every version: the flush keeps only what `snapshots` need. */
  run: EntryRun;
  snapshots: number[];
  table: TableCutOptions;
  fileNumbers: number[];
}

export interface CompactionJob {
  kind: 'compaction';
  dir: string;
  /** Input table numbers (any order: the merge orders by internal key). */
  inputs: number[];
  snapshots: number[];
  dropTombstones: boolean;
  table: TableCutOptions;
  fileNumbers: number[];
}

export type Job = FlushJob | CompactionJob;

export interface JobResult {
  outputs: TableFileMeta[];
  inputBytes: number;
  outputBytes: number;
  inputEntries: number;
  outputEntries: number;
}

/**
 * Where a tree's jobs run: inline on the main thread (src/lsm/job-runner.ts) or in a pool of
 * worker threads (src/pool/job-pool.ts). Every runner runs runJob() over the same inputs, so the
 * choice changes which thread does the work, never the bytes written.
 */
export interface JobRunner {
  readonly kind: 'inline' | 'pool';
  run(job: Job): Promise<JobResult>;
  close(): Promise<void>;
}

/** The size of a worker pool (LsmTreeOptions.workerPool, resolved). */
export interface JobPoolSize {
  maxThreads: number;
  maxQueue: number;
}

/**
 * Makes a runner whose jobs run on worker threads (LsmTreeOptions.jobPool). Only used for a file
 * system whose files workers can reach by path (FileSystem.reachableFromWorkers).
 */
export type JobPoolFactory = (engine: HotPaths, size: JobPoolSize) => JobRunner | Promise<JobRunner>;

/**
 * File numbers to reserve for a job over `inputBytes` of input: every output table but the last
 * reaches the target size, and a table is never much larger than its entries' raw bytes (the
 * per-entry overhead is at most 3 varints plus its share of restarts, index and filter).
 */
export function outputNumbersNeeded(inputBytes: number, targetFileSizeBytes: number): number {
  return Math.ceil((inputBytes * 2) / targetFileSizeBytes) + 2;
}

export function runBytes(run: EntryRun): number {
  return run.offsets[2 * run.count]! - run.offsets[0]!;
}

/** Bytes of whole data blocks a job reads from each input at a time. */
export const JOB_READ_AHEAD_BYTES = 256 * 1024;
/** Bytes of finished output blocks a job hands to the file at a time. */
export const JOB_OUTPUT_CHUNK_BYTES = 256 * 1024;

export function runJob(fs: FileSystem, engine: HotPaths, job: Job): JobResult {
  const sources: StreamSource[] = [];
  const readers: TableReader[] = [];
  let inputBytes = 0;
  const output = new TableFilesWriter(fs, job.dir, job.fileNumbers);
  try {
    if (job.kind === 'flush') {
      // A memtable holds every version written; older versions no reader can see are dropped here
      // rather than in a later compaction (a key rewritten often, like Raft's hard state, stays small).
      sources.push({ kind: 'run', run: job.run });
      inputBytes = runBytes(job.run);
    } else {
      const noCache = new BlockCache<EntryRun>(0);
      for (const number of job.inputs) {
        const reader = TableReader.open(fs, joinPath(job.dir, tableFileName(number)), number, engine, noCache, false);
        readers.push(reader);
        inputBytes += reader.fileSize;
        sources.push(reader.blockSource());
      }
    }
    const result = engine.compactStreams(sources, {
      ...job.table,
      snapshots: job.snapshots,
      dropTombstones: job.kind === 'compaction' && job.dropTombstones,
      readAheadBytes: JOB_READ_AHEAD_BYTES,
      outputChunkBytes: JOB_OUTPUT_CHUNK_BYTES,
    }, output);
    let inputEntries = 0;
    for (let i = 0; i < readers.length; i++) {
      const reader = readers[i]!;
      if (result.inputEntries[i] !== reader.properties.entries) {
        throw new CorruptionError(
          `data blocks hold ${result.inputEntries[i]} entries, properties say ${reader.properties.entries}`, reader.path, 0);
      }
    }
    for (const n of result.inputEntries) inputEntries += n;
    const outputs = output.finish();
    let outputBytes = 0;
    for (const o of outputs) outputBytes += o.size;
    return { outputs, inputBytes, outputBytes, inputEntries, outputEntries: result.outputEntries };
  } catch (err) {
    output.abort();
    throw err;
  } finally {
    for (const reader of readers) reader.close();
  }
}

/** The table-cutting options of a job, from the tree's options. */
export function tableOptionsOf(opts: TableCutOptions): TableCutOptions {
  return {
    blockSizeBytes: opts.blockSizeBytes,
    restartInterval: opts.restartInterval,
    bloomBitsPerKey: opts.bloomBitsPerKey,
    targetFileSizeBytes: opts.targetFileSizeBytes,
  };
}

/** A job's output table as the manifest records it. */
export function toFileMetadata(o: TableFileMeta): FileMetadata {
  return {
    number: o.number,
    size: o.size,
    smallest: o.smallest,
    largest: o.largest,
    entryCount: o.entryCount,
    deletionCount: o.deletionCount,
    smallestSeq: o.smallestSeq,
    largestSeq: o.largestSeq,
  };
}
