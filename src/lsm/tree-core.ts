/**
 * The state of an open tree that its parts share (after Pebble's DB struct, whose methods are
 * spread over db.go, compaction.go, obsolete_files.go, ...): the memtables, the WAL, the version
 * set, the caches, the counters. Each concern operates on it from its own file: the write path
 * (write-path.ts), background jobs (background.ts), obsolete-file deletion (obsolete-files.ts),
 * checkpoints (checkpoint.ts); LsmTree (db.ts) is the public facade over all of them.
 *
 * What must hold:
 * - mem/imm/lastSequence change only on the main thread, between write groups (write-path.ts);
 * - a table number in pendingOutputs or uncertainOutputs is never deleted (obsolete-files.ts);
 * - flushedSwitches <= switches; they are equal when no switched memtable is still unflushed.
 */
import type { HotPaths } from '../engine/types.js';
import { ClosedError } from '../errors.js';
import { BlockCache } from './block-cache.js';
import type { CompactionOptions } from './compaction-picker.js';
import type { DirLock, FileSystem } from './fs.js';
import type { JobRunner } from './jobs.js';
import type { LogWriter } from './log-format.js';
import { MemTable } from './memtable.js';
import type { OpenedTree } from './open.js';
import type { ResolvedOptions } from './options.js';
import { TableCache } from './table-cache.js';
import type { CachedBlock } from './table-reader.js';
import type { TreeIterator } from './tree-iterator.js';
import type { VersionSet } from './version-set.js';

/** Table files kept open by the table cache, at most. */
const OPEN_TABLES_MAX = 4096;
/**
 * Index and filter bytes the open tables may keep in memory (about 2.7 bytes a key with 16-byte
 * keys, 100-byte values and 10 filter bits a key: some 50 million keys' worth); past it the least
 * recently used tables close (src/lsm/table-cache.ts).
 */
const TABLE_PINNED_BYTES_MAX = 128 * 1024 * 1024;
/**
 * Dropped blocks the block cache keeps for reuse as read buffers: a miss evicts about one block,
 * so a few suffice (src/lsm/block-cache.ts).
 */
const BLOCK_CACHE_SPARES_MAX = 4;

export class TreeCore {
  readonly dir: string;
  readonly fs: FileSystem;
  readonly options: ResolvedOptions;
  readonly engine: HotPaths;
  readonly lock: DirLock;
  readonly versions: VersionSet;
  readonly runner: JobRunner;
  readonly blockCache: BlockCache<CachedBlock>;
  readonly tableCache: TableCache;

  mem = new MemTable();
  /** The `meta` of the last write into mem / imm that carried one (WriteOptions.meta). */
  memMeta: Uint8Array | undefined = undefined;
  imm: MemTable | undefined = undefined;
  immMeta: Uint8Array | undefined = undefined;
  wal: LogWriter | undefined;
  walNumber: number;
  lastSequence: number;
  /**
   * The fsync of the WAL `imm` was written to, started when it was retired (write-path.ts). Its
   * flush writes no table before it settles: a table holding writes its WAL lost in a power loss
   * would look, to open's directory check, like a table whose manifest edit was lost.
   */
  immWalSync: Promise<void> | undefined = undefined;
  /** Memtable switches so far, and how many of those memtables are installed as tables. */
  switches = 0;
  flushedSwitches = 0;
  /**
   * After a failed WAL write (write-path.ts): the switch count whose flush makes the memtables the
   * failed log covered durable. Writes wait until a flush installs it; undefined otherwise.
   */
  walRecoveryTarget: number | undefined = undefined;

  /** Live snapshots: sequence -> count. */
  readonly snapshots = new Map<number, number>();
  /** Numbers reserved by running jobs: their files may exist before any version names them. */
  readonly pendingOutputs = new Set<number>();
  /**
   * Outputs of a job whose manifest edit failed: the record may still be on disk (version-set.ts),
   * so they are kept until a later edit succeeds (which starts a manifest without the failed one).
   */
  readonly uncertainOutputs = new Set<number>();
  /**
   * Live tables this tree wrote while no snapshot was live: the job then kept only the newest
   * version of each key, so a full compact() may move such a table down unchanged (when it also
   * holds no tombstone; compaction-picker.ts pickFullCompaction). Forgotten when a compaction
   * rewrites the table, and on reopen (the tables are then rewritten, as before).
   */
  readonly oneVersionTables = new Set<number>();
  /** Iterators not yet closed: close() closes them with the tree. */
  readonly liveIterators = new Set<TreeIterator>();
  state: 'open' | 'closing' | 'closed' = 'open';

  readonly counters = {
    puts: 0, deletes: 0, batches: 0, groups: 0, syncs: 0, walBytes: 0, stallMs: 0,
    gets: 0, iterators: 0,
    flushes: 0, flushBytes: 0, flushFailures: 0,
    compactions: 0, trivialMoves: 0, subcompactions: 0, compactionInputBytes: 0, compactionOutputBytes: 0, compactionFailures: 0,
    backgroundErrors: 0,
  };

  constructor(opened: OpenedTree) {
    this.dir = opened.dir;
    this.fs = opened.fs;
    this.options = opened.options;
    this.engine = opened.engine;
    this.lock = opened.lock;
    this.versions = opened.versions;
    this.runner = opened.runner;
    this.wal = opened.wal;
    this.walNumber = opened.walNumber;
    this.lastSequence = opened.lastSequence;
    this.blockCache = new BlockCache<CachedBlock>(opened.options.blockCacheBytes, BLOCK_CACHE_SPARES_MAX);
    this.tableCache = new TableCache(opened.fs, opened.dir, opened.engine, this.blockCache, OPEN_TABLES_MAX, TABLE_PINNED_BYTES_MAX);
  }

  checkOpen(): void {
    if (this.state !== 'open') throw new ClosedError();
  }

  /** Sequence numbers of live snapshots, ascending: what a job must keep visible. */
  liveSnapshots(): number[] {
    return [...this.snapshots.keys()].sort((a, b) => a - b);
  }

  pickerOptions(): CompactionOptions {
    return {
      numLevels: this.versions.current().levelCount,
      l0CompactionTrigger: this.options.l0CompactionTrigger,
      l1MaxBytes: this.options.l1MaxBytes,
      levelSizeMultiplier: this.options.levelSizeMultiplier,
      targetFileSizeBytes: this.options.targetFileSizeBytes,
      dynamicLevelBytes: this.options.dynamicLevelBytes,
    };
  }
}
