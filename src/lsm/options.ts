/**
 * Options of an LsmTree, their defaults and their validation. The public API validates once, here
 * and in db.ts's argument checks; the inside trusts what it is handed.
 */
import type { BlockCompression, EngineName } from '../engine/types.js';
import { InvalidArgumentError } from '../errors.js';
import type { FileSystem } from './fs.js';
import type { JobPoolFactory, JobPoolSize } from './jobs.js';

/** Largest user key, in bytes. Keys are compared and copied whole, so they are kept small. */
export const KEY_BYTES_MAX = 64 * 1024;
/** Largest value, in bytes. A value is stored whole inside one data block of one table. */
export const VALUE_BYTES_MAX = 16 * 1024 * 1024;

export interface LsmTreeOptions {
  /** The file system to use; defaults to the real one (node:fs). */
  fs?: FileSystem;
  /** Which twin runs the hot paths: 'wasm' (AssemblyScript) or 'js' (TypeScript). */
  engine?: EngineName;
  /** Create the directory and a new tree when none exists. Default true. */
  createIfMissing?: boolean;
  /** Fail with LSM_ERR_INVALID_ARGUMENT when a tree already exists. Default false. */
  errorIfExists?: boolean;
  /**
   * Write a write-ahead log. Default true. A tree without one loses its memtable on a crash; the
   * Raft state tree runs this way because the Raft log is its log (it re-applies from `userMeta`).
   */
  wal?: boolean;
  /**
   * A memtable that reaches this many arena bytes becomes immutable and is flushed, as one L0
   * table. Default 64 MiB (RocksDB's write_buffer_size): up to two memtables (the one taking
   * writes and the one being flushed) plus the flush's copy of the latter are in memory, about
   * 3 x this (briefly ~3.8 x while a worker packs that copy). docs/lsm-options.md.
   */
  memtableBytesMax?: number;
  /** Target size of a data block's contents. Default 4096. */
  blockSizeBytes?: number;
  /** Entries between restart points in data blocks. Default 16. */
  restartInterval?: number;
  /** Bloom filter bits per key; 0 disables filters. Default 10. */
  bloomBitsPerKey?: number;
  /**
   * 'lz4' (default): data blocks are stored LZ4-compressed where that saves at least 1/8, in
   * version-2 tables (docs/format/sstable.md). 'none': version-1 tables, nothing compressed.
   * Tables of either kind are read whatever this says.
   */
  blockCompression?: BlockCompression;
  /** Flush and compaction outputs are cut into tables of about this size. Default 4 MiB. */
  targetFileSizeBytes?: number;
  /** L0 file count that triggers a compaction into L1. Default 4. */
  l0CompactionTrigger?: number;
  /** L0 file count at which writes wait for compaction to catch up. Default 20. */
  l0StopWritesTrigger?: number;
  /**
   * Byte target of the level L0 compacts into (L1, or with dynamicLevelBytes the base level); each
   * deeper level is levelSizeMultiplier times larger. Default 256 MiB: l0CompactionTrigger x
   * memtableBytesMax, so an L0 compaction reads about as much of that level as of L0.
   */
  l1MaxBytes?: number;
  /** Default 10. */
  levelSizeMultiplier?: number;
  /**
   * Size the levels from the last one up and compact L0 into the first non-empty level (RocksDB's
   * level_compaction_dynamic_level_bytes; src/lsm/compaction-picker.ts levelTargets). Default true.
   */
  dynamicLevelBytes?: boolean;
  /** Bytes of data blocks (raw contents, as read and checked) kept by the LRU block cache. Default 64 MiB. */
  blockCacheBytes?: number;
  /**
   * Milliseconds a write waits for room (a flush, an L0 compaction, the recovery from a failed WAL
   * write) while that background work keeps failing and is retried, before it fails with
   * LSM_ERR_JOB_FAILED (the write was not applied; try again later). Default 10,000.
   * See src/lsm/error-handler.ts.
   */
  backgroundErrorStallMsMax?: number;
  /**
   * Run flush and compaction jobs in a piscina worker pool (`true`, the default) or inline on
   * the calling thread (`false`, for comparison and for environments without workers).
   */
  workerPool?: boolean | { maxThreads?: number; maxQueue?: number };
  /**
   * Most pieces a large compaction (a full compact(), a big L0 or level compaction) is split into
   * by key range, run in parallel on the pool's workers and installed together in one manifest
   * edit (src/lsm/subcompactions.ts). Default: the pool's workers started at the time, at most
   * its maxThreads (1 when jobs run inline).
   */
  subcompactionsMax?: number;
  /**
   * Input bytes a subcompaction's piece gets at least: a compaction smaller than two of them runs
   * whole. Default 64 MiB: a piece then takes long enough to repay a worker that starts cold (a
   * new thread's modules, JIT and WASM instance). At least targetFileSizeBytes in effect.
   */
  subcompactionBytesMin?: number;
  /**
   * What runs jobs on worker threads when workerPool is on and the file system's files are
   * reachable from workers (src/pool/job-pool.ts's sharedJobPool). Default: the one given to
   * setDefaultJobPool() (src/lsm/job-runner.ts), which the package entry sets to the shared pool;
   * with neither, jobs run inline.
   */
  jobPool?: JobPoolFactory;
}

export interface ResolvedOptions {
  fs: FileSystem | undefined;
  engine: EngineName;
  createIfMissing: boolean;
  errorIfExists: boolean;
  wal: boolean;
  memtableBytesMax: number;
  blockSizeBytes: number;
  restartInterval: number;
  bloomBitsPerKey: number;
  blockCompression: BlockCompression;
  targetFileSizeBytes: number;
  l0CompactionTrigger: number;
  l0StopWritesTrigger: number;
  l1MaxBytes: number;
  levelSizeMultiplier: number;
  dynamicLevelBytes: boolean;
  blockCacheBytes: number;
  backgroundErrorStallMsMax: number;
  workerPool: false | JobPoolSize;
  /** undefined: the runner's worker count (src/lsm/background.ts). */
  subcompactionsMax: number | undefined;
  subcompactionBytesMin: number;
  jobPool: JobPoolFactory | undefined;
}

function intOption(options: LsmTreeOptions, name: keyof LsmTreeOptions, fallback: number, min: number, max: number): number {
  const v = options[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`option ${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function boolOption(options: LsmTreeOptions, name: keyof LsmTreeOptions, fallback: boolean): boolean {
  const v = options[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`option ${name} must be a boolean, got ${String(v)}`);
  return v;
}

function compressionOption(v: unknown): BlockCompression {
  if (v === undefined) return 'lz4';
  if (v !== 'lz4' && v !== 'none') throw new InvalidArgumentError(`option blockCompression must be 'lz4' or 'none', got ${String(v)}`);
  return v;
}

const MiB = 1024 * 1024;
/** Defaults of memtableBytesMax and l1MaxBytes (docs/lsm-options.md: their memory and write costs). */
export const MEMTABLE_BYTES_DEFAULT = 64 * MiB;
export const L1_BYTES_DEFAULT = 256 * MiB;

/** The methods every FileSystem has (src/lsm/fs.ts): what the `fs` option is checked against. */
const FILE_SYSTEM_METHODS = [
  'lock', 'create', 'openAppend', 'openRead', 'readFile', 'exists', 'fileSize', 'rename', 'remove',
  'removeAsync', 'removeDir', 'link', 'mkdirp', 'list', 'syncDir', 'syncDirSync',
] as const satisfies readonly (keyof FileSystem)[];

/** Checks the shape of the `fs` option at the edge, so a wrong one fails here and not deep inside. */
function fsOption(fs: unknown): FileSystem | undefined {
  if (fs === undefined) return undefined;
  if (typeof fs !== 'object' || fs === null) throw new InvalidArgumentError(`option fs must be a FileSystem object, got ${fs === null ? 'null' : typeof fs}`);
  const missing = FILE_SYSTEM_METHODS.filter((m) => typeof (fs as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) throw new InvalidArgumentError(`option fs is not a FileSystem: it has no method ${missing.join(', ')}`);
  if (typeof (fs as { reachableFromWorkers?: unknown }).reachableFromWorkers !== 'boolean') {
    throw new InvalidArgumentError('option fs is not a FileSystem: reachableFromWorkers must be a boolean');
  }
  return fs as FileSystem;
}

export function resolveOptions(options: LsmTreeOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  const engine = options.engine ?? 'wasm';
  if (engine !== 'wasm' && engine !== 'js') throw new InvalidArgumentError(`option engine must be 'wasm' or 'js', got ${String(engine)}`);
  let workerPool: ResolvedOptions['workerPool'];
  const wp = options.workerPool ?? true;
  if (wp === false) workerPool = false;
  else if (wp === true) workerPool = { maxThreads: 2, maxQueue: 64 };
  else if (typeof wp === 'object' && wp !== null) {
    const maxThreads = wp.maxThreads ?? 2;
    const maxQueue = wp.maxQueue ?? 64;
    if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 64) throw new InvalidArgumentError('workerPool.maxThreads must be an integer in [1, 64]');
    if (!Number.isInteger(maxQueue) || maxQueue < 1 || maxQueue > 4096) throw new InvalidArgumentError('workerPool.maxQueue must be an integer in [1, 4096]');
    workerPool = { maxThreads, maxQueue };
  } else throw new InvalidArgumentError('option workerPool must be a boolean or { maxThreads, maxQueue }');
  if (options.jobPool !== undefined && typeof options.jobPool !== 'function') throw new InvalidArgumentError('option jobPool must be a function');
  const resolved: ResolvedOptions = {
    fs: fsOption(options.fs),
    engine,
    createIfMissing: boolOption(options, 'createIfMissing', true),
    errorIfExists: boolOption(options, 'errorIfExists', false),
    wal: boolOption(options, 'wal', true),
    memtableBytesMax: intOption(options, 'memtableBytesMax', MEMTABLE_BYTES_DEFAULT, 64 * 1024, 1024 * MiB),
    blockSizeBytes: intOption(options, 'blockSizeBytes', 4096, 256, 4 * MiB),
    restartInterval: intOption(options, 'restartInterval', 16, 1, 1024),
    bloomBitsPerKey: intOption(options, 'bloomBitsPerKey', 10, 0, 64),
    blockCompression: compressionOption(options.blockCompression),
    targetFileSizeBytes: intOption(options, 'targetFileSizeBytes', 4 * MiB, 64 * 1024, 1024 * MiB),
    l0CompactionTrigger: intOption(options, 'l0CompactionTrigger', 4, 1, 1000),
    l0StopWritesTrigger: intOption(options, 'l0StopWritesTrigger', 20, 2, 10000),
    l1MaxBytes: intOption(options, 'l1MaxBytes', L1_BYTES_DEFAULT, 64 * 1024, 1024 * 1024 * MiB),
    levelSizeMultiplier: intOption(options, 'levelSizeMultiplier', 10, 2, 100),
    dynamicLevelBytes: boolOption(options, 'dynamicLevelBytes', true),
    blockCacheBytes: intOption(options, 'blockCacheBytes', 64 * MiB, 0, 64 * 1024 * MiB),
    backgroundErrorStallMsMax: intOption(options, 'backgroundErrorStallMsMax', 10_000, 1, 3_600_000),
    workerPool,
    subcompactionsMax: options.subcompactionsMax === undefined ? undefined : intOption(options, 'subcompactionsMax', 1, 1, 64),
    subcompactionBytesMin: intOption(options, 'subcompactionBytesMin', 64 * MiB, 64 * 1024, 1024 * 1024 * MiB),
    jobPool: options.jobPool,
  };
  if (resolved.l0StopWritesTrigger <= resolved.l0CompactionTrigger) {
    throw new InvalidArgumentError('option l0StopWritesTrigger must be greater than l0CompactionTrigger');
  }
  return resolved;
}
