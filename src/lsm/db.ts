/**
 * LsmTree: the embedded LSM storage engine (after leveldb's db/db_impl.cc and Pebble's DB), and its
 * public facade. This file checks every argument at the edge and serves reads; the rest lives in
 * files named for their concern, all operating on one shared TreeCore (src/lsm/tree-core.ts):
 *
 * - open.ts: the directory, lock, manifest and recovery from the WALs;
 * - write-path.ts: group commit -> WAL -> memtable, memtable switches, WAL pre-creation;
 * - background.ts: flush and compaction jobs (inline or in the worker pool, src/lsm/jobs.ts);
 *   error-handler.ts: what their failures do (retry with backoff, or read-only);
 * - obsolete-files.ts: deleting files nothing needs; checkpoint.ts: openable copies;
 * - tree-iterator.ts: the TreeIterator and TreeSnapshot handles.
 *
 * Read path: memtable, immutable memtable, L0 newest first, then one file per level; iterators merge
 * every source and show one sequence number's view (a snapshot).
 *
 * What must hold (besides what those files state):
 * - a table file is deleted only when no version references it and no running job will install it;
 * - a point read runs synchronously from its version lookup to its return, so no deletion races it.
 */
import type { EngineName } from '../engine/types.js';
import { InvalidArgumentError } from '../errors.js';
import { Background } from './background.js';
import { writeCheckpoint, type CheckpointInfo } from './checkpoint.js';
import { DbIterator } from './db-iterator.js';
import { describeTree, type TreeDescription } from './describe.js';
import type { BackgroundStatus } from './error-handler.js';
import { KIND_PUT } from '../format/internal-key.js';
import type { InternalIterator } from './iterator.js';
import { LevelIterator } from './level-iterator.js';
import { MergingIterator } from './merging-iterator.js';
import { openTree } from './open.js';
import { resolveOptions, type LsmTreeOptions } from './options.js';
import { TreeCore } from './tree-core.js';
import { copyValue } from './value-copy.js';
import type { FileMetadata } from './version-edit.js';
import { TreeIterator, TreeSnapshot } from './tree-iterator.js';
import { repairTree, type RepairOptions, type RepairReport } from './repair.js';
import { toKey, toValue, type KeyLike } from './user-input.js';
import { verifyTree, type VerifyOptions, type VerifyReport } from './verify.js';
import { WriteBatch } from './write-batch.js';
import { WritePath } from './write-path.js';

export interface WriteOptions {
  /** fsync the WAL before the write is acknowledged. Default false. */
  sync?: boolean;
  /**
   * Opaque metadata recorded with the memtable this write lands in and stored in the manifest when
   * that memtable is flushed (`LsmTree.userMeta`). The Raft state tree stores its applied index here.
   */
  meta?: Uint8Array;
}

export interface CloseOptions {
  /**
   * Require the WAL's fsync to succeed before the tree closes. Every clean close fsyncs the WAL and
   * then records its final size in the manifest (src/lsm/write-path.ts, recordClosedWal), so every
   * write acknowledged before close() survives a power loss (docs/durability.md). With sync: true,
   * a failed fsync makes close() reject with its LSM_ERR_IO and the tree stays open (try again, or
   * close without it). Default false: a failed fsync is ignored and the tree closes, leaving its
   * unsynced writes to the OS (kept across a process crash, not a power loss).
   */
  sync?: boolean;
}

export interface ReadOptions {
  snapshot?: TreeSnapshot;
}

export type BatchOp = { type: 'put'; key: KeyLike; value: KeyLike } | { type: 'del'; key: KeyLike };

export interface RangeOptions extends ReadOptions {
  gt?: KeyLike;
  gte?: KeyLike;
  lt?: KeyLike;
  lte?: KeyLike;
  /** At most this many entries; undefined or -1 for no limit. */
  limit?: number;
  reverse?: boolean;
}

export interface TreeStats {
  engine: EngineName;
  lastSequence: number;
  writes: { puts: number; deletes: number; batches: number; groups: number; syncs: number; walBytes: number; stallMs: number };
  reads: { gets: number; iterators: number };
  memtable: { bytes: number; entries: number; immutableBytes: number };
  flushes: { count: number; outputBytes: number; failures: number };
  compactions: {
    count: number; trivialMoves: number;
    /** Pieces run by compactions split by key range (src/lsm/subcompactions.ts). */
    subcompactions: number;
    inputBytes: number; outputBytes: number; failures: number; running: boolean };
  blockCache: { capacityBytes: number; usedBytes: number; hits: number; misses: number };
  /** Point lookups the tables' bloom filters were asked about, and answered "absent" (a block read saved). */
  bloom: { checks: number; useful: number };
  openTables: number;
  levels: Array<{ level: number; files: number; bytes: number }>;
  liveSnapshots: number;
  backgroundErrors: number;
  lastBackgroundError: { code: string; message: string; at: number } | undefined;
  /** ok; retrying (cause, attempts, next retry time); or read-only (cause). See error-handler.ts. */
  background: BackgroundStatus;
}

function checkWriteOptions(options: WriteOptions | undefined): { sync: boolean; meta: Uint8Array | undefined } {
  if (options === undefined) return { sync: false, meta: undefined };
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('write options must be an object');
  if (options.sync !== undefined && typeof options.sync !== 'boolean') throw new InvalidArgumentError('option sync must be a boolean');
  if (options.meta !== undefined && !(options.meta instanceof Uint8Array)) throw new InvalidArgumentError('option meta must be a Uint8Array');
  return { sync: options.sync === true, meta: options.meta };
}

export class LsmTree {
  readonly dir: string;
  private readonly core: TreeCore;
  private readonly background: Background;
  private readonly writes: WritePath;
  /** The files a point read consults, reused by every read (getInternal is synchronous). */
  private readonly getFiles: FileMetadata[] = [];

  private constructor(core: TreeCore) {
    this.dir = core.dir;
    this.core = core;
    this.background = new Background(core);
    this.writes = new WritePath(core, this.background);
  }

  /** Opens (creating if allowed) the tree in `dir`, recovering from its WAL after a crash. */
  static async open(dir: string, options: LsmTreeOptions = {}): Promise<LsmTree> {
    if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('dir must be a non-empty string');
    const tree = new LsmTree(new TreeCore(await openTree(dir, resolveOptions(options))));
    tree.background.obsolete.deleteNow();
    tree.background.maybeScheduleCompaction();
    return tree;
  }

  // ---- writes ----------------------------------------------------------------------------------

  put(key: KeyLike, value: KeyLike, options?: WriteOptions): Promise<void> {
    try {
      this.core.checkOpen();
      const k = toKey(key);
      const v = toValue(value);
      const { sync, meta } = checkWriteOptions(options);
      this.core.counters.puts++;
      return this.writes.enqueue(new WriteBatch().put(k, v), sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  delete(key: KeyLike, options?: WriteOptions): Promise<void> {
    try {
      this.core.checkOpen();
      const k = toKey(key);
      const { sync, meta } = checkWriteOptions(options);
      this.core.counters.deletes++;
      return this.writes.enqueue(new WriteBatch().delete(k), sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies all of `ops` atomically: after a crash either all are present or none. */
  batch(ops: readonly BatchOp[], options?: WriteOptions): Promise<void> {
    try {
      this.core.checkOpen();
      if (!Array.isArray(ops)) throw new InvalidArgumentError('batch operations must be an array');
      const { sync, meta } = checkWriteOptions(options);
      const batch = new WriteBatch();
      for (const op of ops) {
        if (typeof op !== 'object' || op === null) throw new InvalidArgumentError('a batch operation must be an object');
        if (op.type === 'put') batch.put(toKey(op.key), toValue(op.value));
        else if (op.type === 'del') batch.delete(toKey(op.key));
        else throw new InvalidArgumentError(`batch operation type must be 'put' or 'del', got ${String((op as { type: unknown }).type)}`);
      }
      this.core.counters.batches++;
      if (batch.count === 0 && meta === undefined) return Promise.resolve();
      return this.writes.enqueue(batch, sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Writes a prepared batch (the Level adapter's chained batch builds one directly). */
  write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    try {
      this.core.checkOpen();
      if (!(batch instanceof WriteBatch)) throw new InvalidArgumentError('write() takes a WriteBatch');
      batch.forEach((kind, key, value) => {
        toKey(key);
        if (kind === KIND_PUT) toValue(value);
      });
      const { sync, meta } = checkWriteOptions(options);
      this.core.counters.batches++;
      if (batch.count === 0 && meta === undefined) return Promise.resolve();
      // A copy: the caller may reuse its batch before this write resolves.
      return this.writes.enqueue(batch.clone(), sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- reads -----------------------------------------------------------------------------------

  get(key: KeyLike, options?: ReadOptions): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(this.getSync(key, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The newest value of `key` at the snapshot (or now); synchronous: a point read never waits. The
   * value is the caller's copy, but a short one may be a view on a slab shared with other values
   * (src/lsm/value-copy.ts, as a pooled Node Buffer is): never transfer or detach its `.buffer`.
   */
  getSync(key: KeyLike, options?: ReadOptions): Uint8Array | undefined {
    this.core.checkOpen();
    const k = toKey(key);
    const sequence = this.readSequence(options);
    this.core.counters.gets++;
    return this.getInternal(k, sequence);
  }

  getMany(keys: readonly KeyLike[], options?: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    try {
      this.core.checkOpen();
      if (!Array.isArray(keys)) throw new InvalidArgumentError('keys must be an array');
      const sequence = this.readSequence(options);
      const checked = keys.map((k) => toKey(k));
      this.core.counters.gets += checked.length;
      return Promise.resolve(checked.map((k) => this.getInternal(k, sequence)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private getInternal(key: Uint8Array, sequence: number): Uint8Array | undefined {
    const core = this.core;
    const m = core.mem.get(key, sequence);
    if (m !== undefined) return m.kind === 'put' ? copyValue(m.value, 0, m.value.length) : undefined;
    if (core.imm !== undefined) {
      const i = core.imm.get(key, sequence);
      if (i !== undefined) return i.kind === 'put' ? copyValue(i.value, 0, i.value.length) : undefined;
    }
    // Synchronous from here to the return, so no job can delete a file this loop reads, and no
    // other read reuses getFiles meanwhile.
    const files = this.getFiles;
    const count = core.versions.current().filesForGetInto(key, files);
    for (let i = 0; i < count; i++) {
      const table = core.tableCache.get(files[i]!.number);
      // The last table asks its filter only before a block read (table-reader.ts find()).
      const kind = table.find(key, sequence, i < count - 1);
      // find() returns a kind (>= 0) or FIND_NONE (< 0); a hit's value is copied out of the block.
      if (kind >= 0) return kind === KIND_PUT ? copyValue(table.foundData, table.foundValueStart, table.foundValueEnd) : undefined;
    }
    return undefined;
  }

  /** A cursor over a range at a snapshot; pins the files it reads until closed. */
  iterator(options: RangeOptions = {}): TreeIterator {
    const core = this.core;
    core.checkOpen();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('range options must be an object');
    const bounds: { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array } = {};
    if (options.gt !== undefined) bounds.gt = toKey(options.gt, 'gt');
    if (options.gte !== undefined) bounds.gte = toKey(options.gte, 'gte');
    if (options.lt !== undefined) bounds.lt = toKey(options.lt, 'lt');
    if (options.lte !== undefined) bounds.lte = toKey(options.lte, 'lte');
    const limit = options.limit ?? -1;
    if (typeof limit !== 'number' || !(Number.isInteger(limit) || limit === Infinity) || limit < -1) {
      throw new InvalidArgumentError(`limit must be an integer >= -1, got ${String(limit)}`);
    }
    if (options.reverse !== undefined && typeof options.reverse !== 'boolean') throw new InvalidArgumentError('reverse must be a boolean');
    const sequence = this.readSequence(options);
    const version = core.versions.current();
    version.ref();
    const children: InternalIterator[] = [core.mem.iterator()];
    if (core.imm !== undefined) children.push(core.imm.iterator());
    for (const file of version.files(0)) children.push(core.tableCache.get(file.number).iterator());
    for (let level = 1; level < version.levelCount; level++) {
      const files = version.files(level);
      if (files.length > 0) children.push(new LevelIterator(files, (f) => core.tableCache.get(f.number).iterator()));
    }
    const inner = new DbIterator(new MergingIterator(children), sequence, bounds, options.reverse === true);
    core.counters.iterators++;
    const it: TreeIterator = new TreeIterator(inner, limit, () => {
      core.liveIterators.delete(it);
      version.unref();
      // Only a version that died here can have held the last reference to a file (leveldb's
      // Version::Unref then RemoveObsoleteFiles); the current one is held by the version set, and
      // listing the directory on every close would cost a readdir per read.
      if (version.referenceCount() === 0 && core.state === 'open') this.background.obsolete.collect();
    });
    core.liveIterators.add(it);
    return it;
  }

  /** Entries of a range as `[key, value]` pairs; the iterator is closed when the loop ends. */
  async *scan(options: RangeOptions = {}): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const it = this.iterator(options);
    try {
      // Bounded by the range (and `limit`): each pass consumes one entry.
      while (it.next()) yield [it.key(), it.value()];
    } finally {
      it.close();
    }
  }

  snapshot(): TreeSnapshot {
    const snapshots = this.core.snapshots;
    this.core.checkOpen();
    const sequence = this.core.lastSequence;
    snapshots.set(sequence, (snapshots.get(sequence) ?? 0) + 1);
    return new TreeSnapshot(sequence, (s) => {
      const n = snapshots.get(s.sequence)!;
      if (n <= 1) snapshots.delete(s.sequence);
      else snapshots.set(s.sequence, n - 1);
    });
  }

  private readSequence(options: ReadOptions | undefined): number {
    const snapshot = options?.snapshot;
    if (snapshot === undefined) return this.core.lastSequence;
    if (!(snapshot instanceof TreeSnapshot)) throw new InvalidArgumentError('snapshot must come from this tree\'s snapshot()');
    if (snapshot.isReleased) throw new InvalidArgumentError('snapshot was released');
    return snapshot.sequence;
  }

  /** The metadata of the last flushed memtable's last write that carried `meta` (see WriteOptions). */
  get userMeta(): Uint8Array | undefined {
    return this.core.versions.userMeta;
  }

  // ---- background work -------------------------------------------------------------------------

  /**
   * Writes what was written before the call as L0 tables and waits until they are installed.
   * Writes that arrive meanwhile go to the next memtable and are not waited for.
   */
  async flush(): Promise<void> {
    this.core.checkOpen();
    this.background.errors.checkWritable();
    const target = await this.writes.switchForFlush();
    await this.background.waitForFlushes(() => this.core.flushedSwitches >= target);
  }

  /** Compacts the whole tree into its bottom-most level: afterwards each key has one version on disk. */
  async compact(): Promise<void> {
    await this.flush();
    await this.background.compactAll();
  }

  /**
   * Writes a consistent, openable copy of the tree to `targetDir` (a new directory), flushing the
   * memtable first (src/lsm/checkpoint.ts). Returns the tree's last sequence and userMeta at the
   * checkpoint.
   */
  async checkpoint(targetDir: string): Promise<CheckpointInfo> {
    if (typeof targetDir !== 'string' || targetDir.length === 0) throw new InvalidArgumentError('targetDir must be a non-empty string');
    await this.flush();
    return writeCheckpoint(this.core, this.background.obsolete, targetDir);
  }

  // ---- introspection and lifecycle -------------------------------------------------------------

  /** `formatKey` prints a file's smallest and largest user key (default: printableKey). */
  describe(formatKey?: (key: Uint8Array) => string): TreeDescription {
    const core = this.core;
    core.checkOpen();
    return describeTree({
      formatKey,
      dir: core.dir,
      engine: core.engine.name,
      lastSequence: core.lastSequence,
      memtable: { entries: core.mem.entryCount, bytes: core.mem.approximateBytes },
      immutable: core.imm === undefined ? undefined : { entries: core.imm.entryCount, bytes: core.imm.approximateBytes },
      version: core.versions.current(),
      background: this.background.errors.status(),
    });
  }

  stats(): TreeStats {
    const core = this.core;
    const version = core.versions.current();
    const levels: TreeStats['levels'] = [];
    for (let level = 0; level < version.levelCount; level++) {
      levels.push({ level, files: version.files(level).length, bytes: version.levelBytes(level) });
    }
    const c = core.counters;
    return {
      engine: core.engine.name,
      lastSequence: core.lastSequence,
      writes: { puts: c.puts, deletes: c.deletes, batches: c.batches, groups: c.groups, syncs: c.syncs, walBytes: c.walBytes, stallMs: c.stallMs },
      reads: { gets: c.gets, iterators: c.iterators },
      memtable: { bytes: core.mem.approximateBytes, entries: core.mem.entryCount, immutableBytes: core.imm?.approximateBytes ?? 0 },
      flushes: { count: c.flushes, outputBytes: c.flushBytes, failures: c.flushFailures },
      compactions: {
        count: c.compactions, trivialMoves: c.trivialMoves, subcompactions: c.subcompactions, inputBytes: c.compactionInputBytes,
        outputBytes: c.compactionOutputBytes, failures: c.compactionFailures, running: this.background.compactionRunning,
      },
      blockCache: { capacityBytes: core.options.blockCacheBytes, usedBytes: core.blockCache.usedBytes, hits: core.blockCache.hits, misses: core.blockCache.misses },
      bloom: core.tableCache.bloomStats(),
      openTables: core.tableCache.openCount,
      levels,
      liveSnapshots: core.snapshots.size,
      backgroundErrors: c.backgroundErrors,
      lastBackgroundError: this.background.lastError,
      background: this.background.errors.status(),
    };
  }

  get closed(): boolean {
    return this.core.state !== 'open';
  }

  get engineName(): EngineName {
    return this.core.engine.name;
  }

  /**
   * Waits for queued writes and running jobs, flushes the memtable when there is no WAL to recover
   * it from, fsyncs the WAL and records its final size in the manifest (CloseOptions.sync says
   * what a failed fsync does), and releases the directory. Iterators
   * still open are closed with the tree. It waits for no retry of failing background work: writes
   * stalled behind one fail with LSM_ERR_CLOSED.
   */
  async close(options?: CloseOptions): Promise<void> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new InvalidArgumentError('close options must be an object');
    if (options?.sync !== undefined && typeof options.sync !== 'boolean') throw new InvalidArgumentError('option sync must be a boolean');
    const core = this.core;
    if (core.state !== 'open') return;
    // Queued writes finish, except those stalled behind failing background work: they fail now.
    this.writes.beginClose();
    this.background.notify();
    await this.writes.whenIdle();
    if (options?.sync === true) await this.writes.syncWal();
    // Read-only, nothing can be flushed: without a WAL the memtable is lost, as in a crash.
    if (!core.options.wal && !this.background.errors.readOnly && (core.mem.entryCount > 0 || core.imm !== undefined || core.memMeta !== undefined)) {
      await this.flush();
    }
    core.state = 'closing';
    await this.background.stop();
    core.state = 'closed';
    for (const it of [...core.liveIterators]) it.close();
    // No edit, write or deletion can race it now: jobs are stopped, writes drained.
    await this.background.obsolete.settled();
    await this.writes.recordClosedWal();
    await this.writes.close();
    core.tableCache.closeAll();
    // No edit can come any more (jobs stopped, writes drained): the manifest writer's descriptor
    // goes too, or every open/close cycle would leak one (and a deleted manifest keep its space).
    await core.versions.close();
    await core.runner.close();
    core.lock.release();
    this.background.notify();
  }

  // ---- offline tools ---------------------------------------------------------------------------

  /**
   * Reads every block, filter and record of the tree in `dir` and reports each damaged file with
   * its offset; changes nothing (src/lsm/verify.ts, `lsmraft check`). The tree need not be open.
   */
  static verify(dir: string, options?: VerifyOptions): Promise<VerifyReport> {
    return verifyTree(dir, options);
  }

  /**
   * Rebuilds the tree in `dir` from its readable tables and WAL records and moves every file it
   * retires into `dir/lost/` (src/lsm/repair.ts, `lsmraft repair`). The tree must not be open.
   */
  static repair(dir: string, options?: RepairOptions): Promise<RepairReport> {
    return repairTree(dir, options);
  }
}
