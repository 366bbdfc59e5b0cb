/**
 * Flush and compaction jobs: the whole of one background job, from inputs to durable output
 * tables, as one synchronous function of (file system, hot paths, job). A job streams
 * (HotPaths.compactStreams): it reads its input tables a window of blocks at a time and writes its
 * output tables as it goes, so its memory is bounded by the number of its merge inputs, not their
 * size: about inputs x (JOB_READ_AHEAD_BYTES + largest block) + JOB_OUTPUT_CHUNK_BYTES + one output
 * table's index and filter state. A merge input is a chain of tables with disjoint key ranges,
 * opened one at a time (disjointChains: one per L0 file, one per deeper level). A flush's
 * input is the memtable itself, packed or as its arena image (bounded by memtableBytesMax), and
 * takes the same output path.
 * The tree runs a job inline or hands it to a worker of the pool (src/pool); either way the caller
 * gets back only metadata and installs it as one manifest edit (after leveldb's
 * DBImpl::WriteLevel0Table and DoCompactionWork).
 *
 * A job writes only files whose numbers it was given, so a failed or killed job leaves files that
 * no version references; the tree deletes those as obsolete. It never touches the manifest.
 */
import type { BlockSource, EntryRun, HotPaths, SkipListSource, StreamSource, TableChain, TableCutOptions } from '../engine/types.js';
import { compareInternalKeys, KIND_SEEK, makeInternalKey, SEQUENCE_MAX, userKeyOf } from '../format/internal-key.js';
import { compareBytes } from '../util/bytes.js';
import { largestBlockBytes } from '../engine/stream-window.js';
import { CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { FileSystem } from './fs.js';
import { joinPath, tableFileName } from './filenames.js';
import { BlockCache } from './block-cache.js';
import { type CachedBlock, TableReader } from './table-reader.js';
import { TableFilesWriter, type TableFileMeta } from './table-file.js';
import type { FileMetadata } from './version-edit.js';
import { packMemTableImage, type MemTableImage } from './memtable.js';

export interface FlushJob {
  kind: 'flush';
  dir: string;
  /**
   * The immutable memtable's entries, every version, packed (`run`), or its arenas (`image`, shared
   * with a worker so the walk leaves the main thread: the WASM twin reads the skiplist in place,
   * the JS twin packs it): exactly one.
   * The flush keeps only what `snapshots` need.
   */
  run?: EntryRun;
  image?: MemTableImage;
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
  /**
   * A subcompaction's piece (src/lsm/subcompactions.ts): only user keys >= lowerUserKey and
   * < upperUserKey are merged (absent: unbounded). The input tables are read from the data block
   * that may hold the lower bound to the one that may hold the upper.
   */
  lowerUserKey?: Uint8Array;
  upperUserKey?: Uint8Array;
  /**
   * The inputs' smallest and largest internal keys as the manifest records them, in `inputs`
   * order: a ranged job opens only the tables that overlap its range (pieces of a job over many
   * disjoint tables then open O(tables) in all, not O(pieces x tables)).
   */
  inputBounds?: Array<{ smallest: Uint8Array; largest: Uint8Array }>;
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
  /**
   * Jobs it can run at once without starting a thread: a pool's started workers (a new one pays
   * for its modules, JIT and WASM instance on its first job), 1 inline. Subcompactions split a
   * job into no more pieces than this by default (src/lsm/background.ts).
   */
  readonly liveWorkers: number;
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

/** What a compaction's planning pass learns of an input table, one table open at a time. */
interface PlannedTable {
  number: number;
  path: string;
  fileBytes: number;
  smallest: Uint8Array;
  largest: Uint8Array;
  blockBytesMax: number;
  /** The data blocks [firstBlock, endBlock) a ranged job reads; all of them otherwise. */
  firstBlock: number;
  endBlock: number;
  /** All its data blocks are read: its entry count can be checked against its properties. */
  whole: boolean;
}

const noCache = new BlockCache<CachedBlock>(0);

/** The first internal key of `userKey` (its newest possible version): where a range starts. */
function firstKeyOf(userKey: Uint8Array): Uint8Array {
  return makeInternalKey(userKey, SEQUENCE_MAX, KIND_SEEK);
}

/**
 * The input tables a job reads, with the data blocks it reads of each: for a ranged job, the tables
 * that overlap [lowerUserKey, upperUserKey), from the first block whose last key reaches the lower
 * bound to the first whose last key reaches the upper (the blocks between may hold keys of the range).
 */
function planInputs(fs: FileSystem, engine: HotPaths, job: CompactionJob): PlannedTable[] {
  const { lowerUserKey: lower, upperUserKey: upper } = job;
  const planned: PlannedTable[] = [];
  const outside = (smallest: Uint8Array, largest: Uint8Array): boolean =>
    (lower !== undefined && compareBytes(userKeyOf(largest), lower) < 0) ||
    (upper !== undefined && compareBytes(userKeyOf(smallest), upper) >= 0);
  for (const [i, number] of job.inputs.entries()) {
    const bounds = job.inputBounds?.[i];
    if (bounds !== undefined && outside(bounds.smallest, bounds.largest)) continue;
    const path = joinPath(job.dir, tableFileName(number));
    const reader = TableReader.open(fs, path, number, engine, noCache, false);
    try {
      const range = reader.keyRange();
      if (outside(range.smallest, range.largest)) continue;
      const count = reader.dataBlockCount;
      let firstBlock = 0;
      let endBlock = count;
      if (lower !== undefined) {
        const key = firstKeyOf(lower);
        firstBlock = reader.findBlock(key, key.length);
      }
      if (upper !== undefined) {
        const key = firstKeyOf(upper);
        endBlock = Math.min(count, reader.findBlock(key, key.length) + 1);
      }
      // A table overlapping the range has a block in it, unless its index is out of order.
      if (firstBlock >= endBlock) throw new CorruptionError('index keys out of order', path, 0);
      planned.push({
        number, path, fileBytes: reader.fileSize, ...range, blockBytesMax: largestBlockBytes(reader.blockSource()),
        firstBlock, endBlock, whole: firstBlock === 0 && endBlock === count,
      });
    } finally {
      reader.close();
    }
  }
  return planned;
}

/** Data blocks [first, end) of `source`: still contiguous, read at their own file offsets. */
function blockRange(source: BlockSource, first: number, end: number): BlockSource {
  if (first === 0 && end === source.blockOffsets.length) return source;
  return { ...source, blockOffsets: source.blockOffsets.subarray(first, end), blockSizes: source.blockSizes.subarray(first, end) };
}

/**
 * The inputs as the fewest chains of tables with disjoint, ascending key ranges (first fit in order
 * of smallest key: the interval-partitioning greedy, optimal for intervals), so each level above
 * L0 is one merge input rather than one per file: a job's windows are O(L0 files + levels), not
 * O(input files).
 */
function disjointChains(tables: PlannedTable[]): PlannedTable[][] {
  const sorted = [...tables].sort((a, b) => compareInternalKeys(a.smallest, b.smallest));
  const chains: PlannedTable[][] = [];
  for (const t of sorted) {
    const chain = chains.find((c) => compareInternalKeys(c[c.length - 1]!.largest, t.smallest) < 0);
    if (chain === undefined) chains.push([t]);
    else chain.push(t);
  }
  return chains;
}

/** A chain of input tables, opened as the merge reaches them; each one's entry count is checked. */
function tableChain(fs: FileSystem, engine: HotPaths, tables: PlannedTable[], open: Set<TableReader>): TableChain {
  const readers: (TableReader | undefined)[] = [];
  return {
    kind: 'chain',
    length: tables.length,
    blockBytesMax: Math.max(...tables.map((t) => t.blockBytesMax)),
    open(i: number): BlockSource {
      const t = tables[i]!;
      const reader = TableReader.open(fs, t.path, t.number, engine, noCache, false);
      open.add(reader);
      readers[i] = reader;
      return blockRange(reader.blockSource(), t.firstBlock, t.endBlock);
    },
    close(i: number, entries: number): void {
      const reader = readers[i]!;
      readers[i] = undefined;
      open.delete(reader);
      reader.close();
      if (tables[i]!.whole && entries !== reader.properties.entries) {
        throw new CorruptionError(`data blocks hold ${entries} entries, properties say ${reader.properties.entries}`, reader.path, 0);
      }
    },
  };
}

export function runJob(fs: FileSystem, engine: HotPaths, job: Job): JobResult {
  const sources: StreamSource[] = [];
  // Tables open at the moment (a chain opens and closes its tables as the merge reaches them).
  const readers = new Set<TableReader>();
  let inputBytes = 0;
  const output = new TableFilesWriter(fs, job.dir, job.fileNumbers);
  try {
    if (job.kind === 'flush') {
      // A memtable holds every version written; older versions no reader can see are dropped here
      // rather than in a later compaction (a key rewritten often, like Raft's hard state, stays small).
      assert((job.run === undefined) !== (job.image === undefined), 'a flush job carries a run or a memtable image');
      if (job.run !== undefined) {
        sources.push({ kind: 'run', run: job.run });
        inputBytes = runBytes(job.run);
      } else {
        const image = job.image!;
        // Read where it is by an engine that walks the skiplist (the WASM twin copies the chunks
        // whole), packed by one that does not (the JS twin).
        sources.push(memTableSource(image));
        inputBytes = image.keyBytes + image.valueBytes;
      }
    } else {
      const tables = planInputs(fs, engine, job);
      for (const t of tables) inputBytes += t.fileBytes;
      for (const chain of disjointChains(tables)) sources.push(tableChain(fs, engine, chain, readers));
    }
    const result = engine.compactStreams(sources, {
      ...job.table,
      snapshots: job.snapshots,
      dropTombstones: job.kind === 'compaction' && job.dropTombstones,
      readAheadBytes: JOB_READ_AHEAD_BYTES,
      outputChunkBytes: JOB_OUTPUT_CHUNK_BYTES,
      ...(job.kind === 'compaction' && job.lowerUserKey !== undefined && { lowerUserKey: job.lowerUserKey }),
      ...(job.kind === 'compaction' && job.upperUserKey !== undefined && { upperUserKey: job.upperUserKey }),
    }, output);
    // A ranged merge stops at its upper bound, maybe before the end of its inputs' last blocks.
    assert(readers.size === 0 || (job.kind === 'compaction' && job.upperUserKey !== undefined), 'every input table was read to its end');
    let inputEntries = 0;
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

/** A memtable image as a merge input (StreamSource 'skiplist'). */
function memTableSource(image: MemTableImage): SkipListSource {
  return {
    kind: 'skiplist',
    chunkBytes: image.chunkBytes,
    nodeChunks: image.nodeChunks,
    valueChunks: image.valueChunks,
    entries: image.entries,
    packedBytes: image.keyBytes + image.valueBytes,
    pack: () => packMemTableImage(image),
  };
}

/**
 * The buffers a flush job hands to a worker by transfer, not copy (the sender keeps no use of them).
 * A memtable image has none: its arenas are SharedArrayBuffers, shared by posting them (a transfer
 * list may not hold one).
 */
export function flushTransferables(job: FlushJob): ArrayBuffer[] {
  return job.run !== undefined ? [job.run.data.buffer as ArrayBuffer, job.run.offsets.buffer as ArrayBuffer] : [];
}

/** The table-cutting options of a job, from the tree's options. */
export function tableOptionsOf(opts: TableCutOptions): TableCutOptions {
  return {
    blockSizeBytes: opts.blockSizeBytes,
    restartInterval: opts.restartInterval,
    bloomBitsPerKey: opts.bloomBitsPerKey,
    targetFileSizeBytes: opts.targetFileSizeBytes,
    blockCompression: opts.blockCompression ?? 'lz4',
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
