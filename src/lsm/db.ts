/**
 * LsmTree: the embedded LSM storage engine (after leveldb's db/db_impl.cc and Pebble's DB).
 *
 * Write path: WriteQueue groups writers (group commit) -> one WAL append (+ one fsync when any
 * writer asked for sync) -> memtable -> visible. A full memtable becomes immutable, a new WAL is
 * started, and a flush job writes it as L0 tables; compaction jobs merge levels downwards. Jobs run
 * in the worker pool or inline (src/lsm/jobs.ts); the main thread only installs their results, one
 * manifest edit each.
 *
 * Read path: memtable, immutable memtable, L0 newest first, then one file per level; iterators merge
 * every source and show one sequence number's view (a snapshot).
 *
 * What must hold:
 * - a write is visible only after its WAL record is written (and synced, if it asked);
 * - sequence numbers become visible in order (WriteQueue commits groups one at a time);
 * - a table file is deleted only when no version references it and no running job will install it;
 * - at most one flush and one compaction run at once; their edits are applied one at a time.
 */
import type { EngineName, EntryRun, HotPaths, TableCutOptions } from '../engine/types.js';
import { loadEngine } from '../engine/index.js';
import { ClosedError, InvalidArgumentError, JobFailedError, LsmraftError } from '../errors.js';
import { assert } from '../util/assert.js';
import { utf8 } from '../util/bytes.js';
import { BlockCache } from './block-cache.js';
import { DbIterator } from './db-iterator.js';
import { describeTree, type TreeDescription } from './describe.js';
import { joinPath, logFileName, parseFileName } from './filenames.js';
import type { FileSystem } from './fs.js';
import { KIND_PUT } from '../format/internal-key.js';
import type { InternalIterator } from './iterator.js';
import { outputNumbersNeeded, runBytes, type JobResult } from './jobs.js';
import { LevelIterator } from './level-iterator.js';
import { acquireLock, type DirLock } from './lock.js';
import { LogKind, LogReader, LogWriter } from './log-format.js';
import { MemTable } from './memtable.js';
import { MergingIterator } from './merging-iterator.js';
import { nodeFileSystem } from './node-fs.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX, resolveOptions, type LsmTreeOptions, type ResolvedOptions } from './options.js';
import { TableCache } from './table-cache.js';
import { pickCompaction, pickManualCompaction, type Compaction } from './compaction-picker.js';
import { VersionEdit, type FileMetadata } from './version-edit.js';
import { VersionSet } from './version-set.js';
import { decodeBatch, WriteBatch } from './write-batch.js';
import { WriteQueue, type PendingWrite } from './write-queue.js';
import { createJobRunner, type JobRunner } from './job-runner.js';

export type KeyLike = Uint8Array | string;

export interface WriteOptions {
  /** fsync the WAL before the write is acknowledged. Default false. */
  sync?: boolean;
  /**
   * Opaque metadata recorded with the memtable this write lands in and stored in the manifest when
   * that memtable is flushed (`LsmTree.userMeta`). The Raft state tree stores its applied index here.
   */
  meta?: Uint8Array;
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

/** A stable view of the tree at one sequence number; release it when done (it pins old versions). */
export class TreeSnapshot {
  private released = false;
  /** @internal */
  constructor(
    readonly sequence: number,
    private readonly onRelease: (s: TreeSnapshot) => void,
  ) {}
  get isReleased(): boolean {
    return this.released;
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

/** A cursor over a range of the tree; `next()` advances, `key()`/`value()` read the current entry. */
export class TreeIterator {
  private remaining: number;
  private done = false;
  /** @internal */
  constructor(
    private readonly inner: DbIterator,
    limit: number,
    private readonly onClose: () => void,
  ) {
    this.remaining = limit < 0 ? Infinity : limit;
  }
  /**
   * Advances to the next entry; false at the end of the range (or after the limit). An exhausted
   * iterator stays open: seek() positions it again (as leveldb's); close() releases it.
   */
  next(): boolean {
    if (this.done) throw new ClosedError('iterator');
    if (this.remaining <= 0 || !this.inner.next()) return false;
    this.remaining--;
    return true;
  }
  key(): Uint8Array {
    return this.inner.key();
  }
  value(): Uint8Array {
    return this.inner.value();
  }
  /** The next `next()` yields the first key >= target (forward) or <= target (reverse). */
  seek(target: KeyLike): void {
    if (this.done) throw new ClosedError('iterator');
    this.inner.seek(toKey(target, 'seek target'));
  }
  get closed(): boolean {
    return this.done;
  }
  close(): void {
    if (this.done) return;
    this.done = true;
    this.inner.close();
    this.onClose();
  }
}

export interface TreeStats {
  engine: EngineName;
  lastSequence: number;
  writes: { puts: number; deletes: number; batches: number; groups: number; syncs: number; walBytes: number; stallMs: number };
  reads: { gets: number; iterators: number };
  memtable: { bytes: number; entries: number; immutableBytes: number };
  flushes: { count: number; outputBytes: number; failures: number };
  compactions: { count: number; trivialMoves: number; inputBytes: number; outputBytes: number; failures: number; running: boolean };
  blockCache: { capacityBytes: number; usedBytes: number; hits: number; misses: number };
  openTables: number;
  levels: Array<{ level: number; files: number; bytes: number }>;
  liveSnapshots: number;
  backgroundErrors: number;
  lastBackgroundError: { code: string; message: string; at: number } | undefined;
}

const OPEN_TABLES_MAX = 4096;
const RETRY_DELAY_MS_MIN = 50;
const RETRY_DELAY_MS_MAX = 5_000;
/** Compaction steps of one compact() call, at most: more means the picker does not converge. */
const MANUAL_COMPACTION_STEPS_MAX = 100_000;

function toKey(key: unknown, what = 'key'): Uint8Array {
  let bytes: Uint8Array;
  if (typeof key === 'string') bytes = utf8(key);
  else if (key instanceof Uint8Array) bytes = key;
  else throw new InvalidArgumentError(`${what} must be a string or Uint8Array, got ${key === null ? 'null' : typeof key}`);
  if (bytes.length === 0) throw new InvalidArgumentError(`${what} must not be empty`);
  if (bytes.length > KEY_BYTES_MAX) throw new InvalidArgumentError(`${what} is ${bytes.length} bytes, over the maximum of ${KEY_BYTES_MAX}`);
  return bytes;
}

function toValue(value: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === 'string') bytes = utf8(value);
  else if (value instanceof Uint8Array) bytes = value;
  else throw new InvalidArgumentError(`value must be a string or Uint8Array, got ${value === null ? 'null' : typeof value}`);
  if (bytes.length > VALUE_BYTES_MAX) throw new InvalidArgumentError(`value is ${bytes.length} bytes, over the maximum of ${VALUE_BYTES_MAX}`);
  return bytes;
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
  private readonly fs: FileSystem;
  private readonly options: ResolvedOptions;
  private readonly engine: HotPaths;
  private readonly lock: DirLock;
  private readonly versions: VersionSet;
  private readonly tableCache: TableCache;
  private readonly blockCache: BlockCache<EntryRun>;
  private readonly writes: WriteQueue;
  private readonly runner: JobRunner;

  private mem: MemTable;
  private memMeta: Uint8Array | undefined = undefined;
  private imm: MemTable | undefined = undefined;
  private immMeta: Uint8Array | undefined = undefined;
  private wal: LogWriter | undefined;
  private walNumber: number;
  /** The next WAL, being created ahead of the switch that will use it. */
  private nextWal: Promise<{ wal: LogWriter; number: number }> | undefined = undefined;
  /** The fsync of the WAL the last switch retired; synced writes to the new one wait for it. */
  private previousWalSync: Promise<void> | undefined = undefined;
  private lastSequence: number;

  private readonly snapshots = new Map<number, number>(); // sequence -> count
  private readonly pendingOutputs = new Set<number>();
  /**
   * Outputs of a job whose manifest edit failed: the record may still be on disk (version-set.ts),
   * so they are kept until a later edit succeeds (which starts a manifest without the failed one).
   */
  private readonly uncertainOutputs = new Set<number>();
  /** Memtable switches so far, and how many of those memtables are installed as tables. */
  private switches = 0;
  private flushedSwitches = 0;
  private switching = false;
  /** Iterators not yet closed: close() closes them with the tree. */
  private readonly liveIterators = new Set<TreeIterator>();
  /** Names of obsolete files being unlinked (off the main thread), and those unlinks. */
  private readonly deleting = new Set<string>();
  private readonly removals = new Set<Promise<void>>();
  private flushing: Promise<void> | undefined = undefined;
  private compacting: Promise<void> | undefined = undefined;
  private manualCompactionActive = false;
  private retryTimer: NodeJS.Timeout | undefined = undefined;
  private retryDelayMs = RETRY_DELAY_MS_MIN;
  private lastFlushError: unknown = undefined;
  private backgroundWaiters: Array<() => void> = [];
  private state: 'open' | 'closing' | 'closed' = 'open';

  private readonly counters = {
    puts: 0, deletes: 0, batches: 0, groups: 0, syncs: 0, walBytes: 0, stallMs: 0,
    gets: 0, iterators: 0,
    flushes: 0, flushBytes: 0, flushFailures: 0,
    compactions: 0, trivialMoves: 0, compactionInputBytes: 0, compactionOutputBytes: 0, compactionFailures: 0,
    backgroundErrors: 0,
  };
  private lastBackgroundError: TreeStats['lastBackgroundError'] = undefined;

  private constructor(init: {
    dir: string; fs: FileSystem; options: ResolvedOptions; engine: HotPaths; lock: DirLock; versions: VersionSet;
    runner: JobRunner; mem: MemTable; wal: LogWriter | undefined; walNumber: number; lastSequence: number;
  }) {
    this.dir = init.dir;
    this.fs = init.fs;
    this.options = init.options;
    this.engine = init.engine;
    this.lock = init.lock;
    this.versions = init.versions;
    this.runner = init.runner;
    this.mem = init.mem;
    this.wal = init.wal;
    this.walNumber = init.walNumber;
    this.lastSequence = init.lastSequence;
    this.blockCache = new BlockCache<EntryRun>(init.options.blockCacheBytes);
    this.tableCache = new TableCache(init.fs, init.dir, init.engine, this.blockCache, OPEN_TABLES_MAX);
    this.writes = new WriteQueue({
      makeRoomForWrite: () => this.makeRoomForWrite(),
      commitGroup: (group) => this.commitGroup(group),
    });
  }

  /** Opens (creating if allowed) the tree in `dir`, recovering from its WAL after a crash. */
  static async open(dir: string, options: LsmTreeOptions = {}): Promise<LsmTree> {
    if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('dir must be a non-empty string');
    const opts = resolveOptions(options);
    const fs = opts.fs ?? nodeFileSystem;
    if (!fs.exists(dir)) {
      if (!opts.createIfMissing) throw new InvalidArgumentError(`${dir} does not exist (createIfMissing is false)`);
      fs.mkdirp(dir);
    }
    const lock = acquireLock(fs, dir);
    let runner: JobRunner | undefined;
    try {
      const engine = await loadEngine(opts.engine);
      const versions = await VersionSet.open(fs, dir, {
        createIfMissing: opts.createIfMissing,
        errorIfExists: opts.errorIfExists,
      });
      runner = await createJobRunner(opts, fs, engine);
      const recovered = await LsmTree.recover(fs, dir, opts, engine, versions, runner);
      const tree = new LsmTree({ dir, fs, options: opts, engine, lock, versions, runner, ...recovered });
      tree.deleteObsoleteFiles();
      tree.maybeScheduleCompaction();
      return tree;
    } catch (err) {
      await runner?.close();
      lock.release();
      throw err;
    }
  }

  /**
   * Replays the WALs the manifest does not cover into memtables, writes what they held as L0
   * tables, and starts a new WAL, all recorded in one manifest edit. A torn final record of a log
   * (a crash mid-append, never acknowledged as synced) is dropped; anything else unreadable is
   * LSM_ERR_CORRUPTION.
   */
  private static async recover(
    fs: FileSystem, dir: string, opts: ResolvedOptions, engine: HotPaths, versions: VersionSet, runner: JobRunner,
  ): Promise<{ mem: MemTable; wal: LogWriter | undefined; walNumber: number; lastSequence: number }> {
    let lastSequence = versions.lastSequence;
    const edit = new VersionEdit();
    const table = tableOptionsOf(opts);
    const flushMem = async (mem: MemTable): Promise<void> => {
      const run = mem.toRun();
      const numbers = versions.reserveFileNumbers(outputNumbersNeeded(runBytes(run), table.targetFileSizeBytes));
      const result = await runner.run({ kind: 'flush', dir, run, table, fileNumbers: numbers, snapshots: [] });
      for (const o of result.outputs) edit.addFile(0, toFileMetadata(o));
    };
    if (opts.wal) {
      const logs = fs.list(dir)
        .map((name) => ({ name, parsed: parseFileName(name) }))
        .filter((f) => f.parsed?.type === 'log' && f.parsed.number >= versions.logNumber)
        .sort((a, b) => a.parsed!.number - b.parsed!.number);
      // Every log found keeps its number out of later use (a pre-created WAL may be newer than
      // the manifest's next file number).
      for (const name of fs.list(dir)) {
        const parsed = parseFileName(name);
        if (parsed !== undefined && parsed.type === 'log') versions.markFileNumberUsed(parsed.number);
      }
      let mem = new MemTable();
      for (const log of logs) {
        const reader = new LogReader(fs.readFile(joinPath(dir, log.name)), log.name, LogKind.Wal, 'tolerate-torn-tail');
        // Each record is one write batch; the loop ends at the log's end (one record per pass).
        for (let record = reader.next(); record !== null; record = reader.next()) {
          const { sequence, count } = decodeBatch(record, log.name, reader.recordOffset, (seq, kind, key, value) => {
            mem.add(seq, kind, key, value);
          });
          if (count > 0) lastSequence = Math.max(lastSequence, sequence + count - 1);
          if (mem.approximateBytes >= opts.memtableBytesMax) {
            await flushMem(mem);
            mem = new MemTable();
          }
        }
      }
      if (mem.entryCount > 0) await flushMem(mem);
    }
    let wal: LogWriter | undefined;
    let walNumber = 0;
    if (opts.wal) {
      walNumber = versions.newFileNumber();
      wal = new LogWriter(fs.create(joinPath(dir, logFileName(walNumber))), LogKind.Wal);
      wal.syncSync();
      await fs.syncDir(dir);
      edit.setLogNumber(walNumber);
    }
    edit.setLastSequence(lastSequence);
    await versions.logAndApply(edit);
    return { mem: new MemTable(), wal, walNumber, lastSequence };
  }

  // ---- writes ----------------------------------------------------------------------------------

  put(key: KeyLike, value: KeyLike, options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
      const k = toKey(key);
      const v = toValue(value);
      const { sync, meta } = checkWriteOptions(options);
      this.counters.puts++;
      return this.writes.enqueue(new WriteBatch().put(k, v), sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  delete(key: KeyLike, options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
      const k = toKey(key);
      const { sync, meta } = checkWriteOptions(options);
      this.counters.deletes++;
      return this.writes.enqueue(new WriteBatch().delete(k), sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies all of `ops` atomically: after a crash either all are present or none. */
  batch(ops: readonly BatchOp[], options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
      if (!Array.isArray(ops)) throw new InvalidArgumentError('batch operations must be an array');
      const { sync, meta } = checkWriteOptions(options);
      const batch = new WriteBatch();
      for (const op of ops) {
        if (typeof op !== 'object' || op === null) throw new InvalidArgumentError('a batch operation must be an object');
        if (op.type === 'put') batch.put(toKey(op.key), toValue(op.value));
        else if (op.type === 'del') batch.delete(toKey(op.key));
        else throw new InvalidArgumentError(`batch operation type must be 'put' or 'del', got ${String((op as { type: unknown }).type)}`);
      }
      this.counters.batches++;
      if (batch.count === 0 && meta === undefined) return Promise.resolve();
      return this.writes.enqueue(batch, sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Writes a prepared batch (the Level adapter's chained batch builds one directly). */
  write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
      if (!(batch instanceof WriteBatch)) throw new InvalidArgumentError('write() takes a WriteBatch');
      batch.forEach((kind, key, value) => {
        toKey(key);
        if (kind === KIND_PUT) toValue(value);
      });
      const { sync, meta } = checkWriteOptions(options);
      this.counters.batches++;
      if (batch.count === 0 && meta === undefined) return Promise.resolve();
      // A copy: the caller may reuse its batch before this write resolves.
      return this.writes.enqueue(batch.clone(), sync, meta);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** REQUIRES: called by WriteQueue only, one group at a time. */
  private commitGroup(group: PendingWrite[]): Promise<void> | undefined {
    let sequence = this.lastSequence + 1;
    const payloads: Uint8Array[] = [];
    let sync = false;
    for (const w of group) {
      // The tree owns every queued batch (write() clones the caller's), so a view is safe.
      payloads.push(w.batch.encodeView(sequence));
      sequence += w.batch.count;
      sync ||= w.sync;
    }
    this.counters.groups++;
    if (this.wal !== undefined) {
      this.wal.addRecords(payloads);
      for (const p of payloads) this.counters.walBytes += p.length;
      if (sync) {
        this.counters.syncs++;
        const synced = this.previousWalSync === undefined ? this.wal.sync() : Promise.all([this.wal.sync(), this.previousWalSync]);
        return synced.then(() => this.applyGroup(group));
      }
    }
    this.applyGroup(group);
    return undefined;
  }

  private applyGroup(group: PendingWrite[]): void {
    const mem = this.mem;
    let sequence = this.lastSequence + 1;
    for (const w of group) {
      // The batch itself, not its logged payload: the tree built it, so it needs no validation.
      w.batch.forEach((kind, key, value) => {
        mem.add(sequence++, kind, key, value);
      });
      if (w.meta !== undefined) this.memMeta = w.meta;
    }
    this.lastSequence = sequence - 1;
  }

  /**
   * Before a group is logged: turns a full memtable into the immutable one (starting a new WAL),
   * waiting for the previous flush if it is still running, and stalls while L0 holds too many files.
   */
  private makeRoomForWrite(): Promise<void> | undefined {
    const l0Files = this.versions.current().files(0).length;
    const memBytes = this.mem.approximateBytes;
    if (memBytes >= this.options.memtableBytesMax / 2 && this.wal !== undefined && this.nextWal === undefined) {
      this.nextWal = this.prepareNextWal();
    }
    if (memBytes < this.options.memtableBytesMax && l0Files < this.options.l0StopWritesTrigger) return undefined;
    return this.makeRoomSlow();
  }

  /**
   * Creates the next WAL ahead of the memtable switch that will use it (half-way through the
   * current memtable), with its header and directory entry made durable in the background, so
   * the switch itself waits for no fsync (after RocksDB's pre-created log files).
   */
  private prepareNextWal(): Promise<{ wal: LogWriter; number: number }> {
    const prepared = (async () => {
      const number = this.versions.newFileNumber();
      const wal = new LogWriter(this.fs.create(joinPath(this.dir, logFileName(number))), LogKind.Wal);
      await wal.sync();
      await this.fs.syncDir(this.dir);
      return { wal, number };
    })();
    // A failure is reported by the switch that awaits this; meanwhile it counts as a background error.
    prepared.catch((err: unknown) => this.recordBackgroundError(err));
    return prepared;
  }

  private async makeRoomSlow(): Promise<void> {
    const started = Date.now();
    try {
      // Each pass waits for a background job to finish, or switches the memtable and returns.
      for (;;) {
        if (this.state === 'closed') throw new ClosedError();
        if (this.versions.current().files(0).length >= this.options.l0StopWritesTrigger) {
          this.maybeScheduleCompaction();
          await this.waitForBackground();
          continue;
        }
        if (this.mem.approximateBytes < this.options.memtableBytesMax) return;
        if (this.imm !== undefined) {
          if (this.lastFlushError !== undefined && this.flushing === undefined) {
            throw new JobFailedError('flush of the immutable memtable is failing; retrying in the background', this.lastFlushError);
          }
          await this.waitForBackground();
          continue;
        }
        await this.switchMemtable();
        return;
      }
    } finally {
      this.counters.stallMs += Date.now() - started;
    }
  }

  /**
   * REQUIRES: no immutable memtable; called between groups of the write queue only (from
   * makeRoomForWrite or a flush() task), so no group is between its log write and its memtable
   * insert and no other switch is running. The current memtable becomes immutable; a new WAL starts.
   */
  private async switchMemtable(): Promise<void> {
    assert(this.imm === undefined, 'switchMemtable with an immutable memtable still unflushed');
    assert(!this.switching, 'two memtable switches at once');
    this.switching = true;
    try {
      await this.switchMemtableNow();
    } finally {
      this.switching = false;
    }
  }

  private async switchMemtableNow(): Promise<void> {
    if (this.wal !== undefined) {
      // The new log's header and directory entry are durable once its preparation resolves.
      const prepared = this.nextWal ?? this.prepareNextWal();
      this.nextWal = undefined;
      const { wal, number } = await prepared;
      // The old log is synced too before any synced write to the new one is acknowledged (see
      // commitGroup): a synced write then implies every earlier write is durable (prefix
      // durability), which recovery relies on to never show a gap.
      const old = this.wal;
      const retired = old.sync().finally(() => old.close());
      this.previousWalSync = retired;
      // Once durable, synced groups need not wait for it any more.
      retired.then(
        () => {
          if (this.previousWalSync === retired) this.previousWalSync = undefined;
        },
        (err: unknown) => this.recordBackgroundError(err),
      );
      this.wal = wal;
      this.walNumber = number;
    }
    this.imm = this.mem;
    this.immMeta = this.memMeta;
    this.memMeta = undefined;
    this.mem = new MemTable();
    this.switches++;
    this.maybeScheduleFlush();
  }

  // ---- reads -----------------------------------------------------------------------------------

  get(key: KeyLike, options?: ReadOptions): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(this.getSync(key, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The newest value of `key` at the snapshot (or now); synchronous: a point read never waits. */
  getSync(key: KeyLike, options?: ReadOptions): Uint8Array | undefined {
    this.checkOpen();
    const k = toKey(key);
    const sequence = this.readSequence(options);
    this.counters.gets++;
    return this.getInternal(k, sequence);
  }

  getMany(keys: readonly KeyLike[], options?: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    try {
      this.checkOpen();
      if (!Array.isArray(keys)) throw new InvalidArgumentError('keys must be an array');
      const sequence = this.readSequence(options);
      const checked = keys.map((k) => toKey(k));
      this.counters.gets += checked.length;
      return Promise.resolve(checked.map((k) => this.getInternal(k, sequence)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private getInternal(key: Uint8Array, sequence: number): Uint8Array | undefined {
    const m = this.mem.get(key, sequence);
    if (m !== undefined) return m.kind === 'put' ? m.value.slice() : undefined;
    if (this.imm !== undefined) {
      const i = this.imm.get(key, sequence);
      if (i !== undefined) return i.kind === 'put' ? i.value.slice() : undefined;
    }
    // Synchronous from here to the return, so no job can delete a file this loop reads.
    const files = this.versions.current().filesForGet(key);
    for (let i = 0; i < files.length; i++) {
      const table = this.tableCache.get(files[i]!.file.number);
      const kind = table.find(key, sequence);
      // find() returns a kind (>= 0) or FIND_NONE (< 0); a hit's value is copied out of the block.
      if (kind >= 0) return kind === KIND_PUT ? table.foundData.slice(table.foundValueStart, table.foundValueEnd) : undefined;
    }
    return undefined;
  }

  /** A cursor over a range at a snapshot; pins the files it reads until closed. */
  iterator(options: RangeOptions = {}): TreeIterator {
    this.checkOpen();
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
    const version = this.versions.current();
    version.ref();
    const children: InternalIterator[] = [this.mem.iterator()];
    if (this.imm !== undefined) children.push(this.imm.iterator());
    for (const file of version.files(0)) children.push(this.tableCache.get(file.number).iterator());
    for (let level = 1; level < version.levelCount; level++) {
      const files = version.files(level);
      if (files.length > 0) children.push(new LevelIterator(files, (f) => this.tableCache.get(f.number).iterator()));
    }
    const inner = new DbIterator(new MergingIterator(children), sequence, bounds, options.reverse === true);
    this.counters.iterators++;
    const it: TreeIterator = new TreeIterator(inner, limit, () => {
      this.liveIterators.delete(it);
      version.unref();
      if (this.state === 'open') this.collectGarbage();
    });
    this.liveIterators.add(it);
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
    this.checkOpen();
    const sequence = this.lastSequence;
    this.snapshots.set(sequence, (this.snapshots.get(sequence) ?? 0) + 1);
    return new TreeSnapshot(sequence, (s) => {
      const n = this.snapshots.get(s.sequence)!;
      if (n <= 1) this.snapshots.delete(s.sequence);
      else this.snapshots.set(s.sequence, n - 1);
    });
  }

  private readSequence(options: ReadOptions | undefined): number {
    const snapshot = options?.snapshot;
    if (snapshot === undefined) return this.lastSequence;
    if (!(snapshot instanceof TreeSnapshot)) throw new InvalidArgumentError('snapshot must come from this tree\'s snapshot()');
    if (snapshot.isReleased) throw new InvalidArgumentError('snapshot was released');
    return snapshot.sequence;
  }

  private liveSnapshots(): number[] {
    return [...this.snapshots.keys()].sort((a, b) => a - b);
  }

  /** The metadata of the last flushed memtable's last write that carried `meta` (see WriteOptions). */
  get userMeta(): Uint8Array | undefined {
    return this.versions.userMeta;
  }

  // ---- background work -------------------------------------------------------------------------

  /**
   * Writes what was written before the call as L0 tables and waits until they are installed.
   * Writes that arrive meanwhile go to the next memtable and are not waited for.
   */
  async flush(): Promise<void> {
    this.checkOpen();
    let target = 0;
    // In queue order, between groups: every earlier write is in the memtable, none is half-way.
    await this.writes.runExclusive(async () => {
      // Each pass waits for the previous immutable memtable's flush (bounded by its retries).
      for (let pass = 0; this.imm !== undefined; pass++) {
        assert(pass < 1_000_000, 'flush() does not converge');
        this.checkOpen();
        if (this.lastFlushError !== undefined && this.flushing === undefined) throw new JobFailedError('flush failed', this.lastFlushError);
        this.maybeScheduleFlush();
        await this.waitForBackground();
      }
      if (this.mem.entryCount > 0 || this.memMeta !== undefined) await this.switchMemtable();
      target = this.switches;
    });
    // Each pass waits for one background event, until the memtable switched above is installed.
    for (let pass = 0; this.flushedSwitches < target; pass++) {
      assert(pass < 1_000_000, 'flush() does not converge');
      this.checkOpen();
      if (this.lastFlushError !== undefined && this.flushing === undefined) throw new JobFailedError('flush failed', this.lastFlushError);
      this.maybeScheduleFlush();
      await this.waitForBackground();
    }
  }

  /** Compacts the whole tree into its bottom-most level: afterwards each key has one version on disk. */
  async compact(): Promise<void> {
    await this.flush();
    this.manualCompactionActive = true;
    try {
      for (let step = 0; step < MANUAL_COMPACTION_STEPS_MAX; step++) {
        this.checkOpen();
        while (this.compacting !== undefined) await this.compacting;
        const c = pickManualCompaction(this.versions.current(), this.pickerOptions());
        if (c === null) return;
        const run = this.runCompaction(c);
        // The caller sees the failure through `run`; the tracking promise only marks the end.
        this.compacting = run.then(
          () => undefined,
          () => undefined,
        ).finally(() => {
          this.compacting = undefined;
        });
        await run;
      }
      assert(false, 'compact() did not converge');
    } finally {
      this.manualCompactionActive = false;
      this.maybeScheduleCompaction();
    }
  }

  private maybeScheduleFlush(): void {
    // Not while closing: the memtable is safe in the WAL (and without one, close() flushed it while
    // still open), and a failing flush must not be retried at once, pass after pass.
    if (this.flushing !== undefined || this.imm === undefined || this.state !== 'open' || this.retryTimer !== undefined) return;
    this.flushing = this.runFlush().finally(() => {
      this.flushing = undefined;
      this.notifyBackground();
      this.maybeScheduleFlush();
      this.maybeScheduleCompaction();
    });
  }

  private async runFlush(): Promise<void> {
    const imm = this.imm;
    assert(imm !== undefined, 'runFlush without an immutable memtable');
    const table = tableOptionsOf(this.options);
    const run = await packInSlices(imm);
    const numbers = this.versions.reserveFileNumbers(outputNumbersNeeded(runBytes(run), table.targetFileSizeBytes));
    for (const n of numbers) this.pendingOutputs.add(n);
    let installing = false;
    try {
      const result = await this.runner.run({ kind: 'flush', dir: this.dir, run, table, fileNumbers: numbers, snapshots: this.liveSnapshots() });
      const edit = new VersionEdit();
      for (const o of result.outputs) edit.addFile(0, toFileMetadata(o));
      if (this.wal !== undefined) edit.setLogNumber(this.walNumber);
      edit.setLastSequence(this.lastSequence);
      if (this.immMeta !== undefined) edit.setUserMeta(this.immMeta);
      installing = true;
      await this.versions.logAndApply(edit);
      this.uncertainOutputs.clear();
      this.imm = undefined;
      this.immMeta = undefined;
      this.flushedSwitches = this.switches;
      this.lastFlushError = undefined;
      this.retryDelayMs = RETRY_DELAY_MS_MIN;
      this.counters.flushes++;
      this.counters.flushBytes += result.outputBytes;
    } catch (err) {
      // A failed manifest write may still be on disk: its tables stay until an edit succeeds.
      if (installing) for (const n of numbers) this.uncertainOutputs.add(n);
      this.lastFlushError = err;
      this.counters.flushFailures++;
      this.recordBackgroundError(err);
    } finally {
      for (const n of numbers) this.pendingOutputs.delete(n);
      this.collectGarbage();
    }
  }

  private pickerOptions() {
    return {
      numLevels: this.versions.current().levelCount,
      l0CompactionTrigger: this.options.l0CompactionTrigger,
      l1MaxBytes: this.options.l1MaxBytes,
      levelSizeMultiplier: this.options.levelSizeMultiplier,
      targetFileSizeBytes: this.options.targetFileSizeBytes,
    };
  }

  private maybeScheduleCompaction(): void {
    if (this.compacting !== undefined || this.manualCompactionActive || this.state !== 'open' || this.retryTimer !== undefined) return;
    const c = pickCompaction(this.versions.current(), this.pickerOptions(), this.versions.compactPointers);
    if (c === null) return;
    this.compacting = this.runCompaction(c)
      .catch(() => {
        // Already recorded by runCompaction; the retry timer schedules the next attempt.
      })
      .finally(() => {
        this.compacting = undefined;
        this.notifyBackground();
        this.maybeScheduleCompaction();
      });
  }

  private async runCompaction(c: Compaction): Promise<void> {
    if (c.isTrivialMove) {
      try {
        await this.versions.logAndApply(c.toEdit([]));
      } catch (err) {
        this.counters.compactionFailures++;
        this.recordBackgroundError(err);
        throw err instanceof LsmraftError ? err : new JobFailedError('trivial move failed', err);
      }
      this.uncertainOutputs.clear();
      this.counters.trivialMoves++;
      return;
    }
    const inputs = c.inputs.flat().map((f) => f.number);
    let inputBytes = 0;
    for (const f of c.inputs.flat()) inputBytes += f.size;
    const table = tableOptionsOf(this.options);
    const numbers = this.versions.reserveFileNumbers(outputNumbersNeeded(inputBytes, table.targetFileSizeBytes));
    for (const n of numbers) this.pendingOutputs.add(n);
    let installing = false;
    try {
      const result: JobResult = await this.runner.run({
        kind: 'compaction', dir: this.dir, inputs, snapshots: this.liveSnapshots(), dropTombstones: c.isBottommost, table, fileNumbers: numbers,
      });
      installing = true;
      await this.versions.logAndApply(c.toEdit(result.outputs.map(toFileMetadata)));
      this.uncertainOutputs.clear();
      this.counters.compactions++;
      this.counters.compactionInputBytes += result.inputBytes;
      this.counters.compactionOutputBytes += result.outputBytes;
      this.retryDelayMs = RETRY_DELAY_MS_MIN;
    } catch (err) {
      if (installing) for (const n of numbers) this.uncertainOutputs.add(n);
      this.counters.compactionFailures++;
      this.recordBackgroundError(err);
      throw err instanceof LsmraftError ? err : new JobFailedError('compaction failed', err);
    } finally {
      for (const n of numbers) this.pendingOutputs.delete(n);
      this.collectGarbage();
    }
  }

  /** Records a failed job and retries background work after a backoff (bounded, doubling). */
  private recordBackgroundError(err: unknown): void {
    this.counters.backgroundErrors++;
    const code = err instanceof LsmraftError ? err.code : 'LSM_ERR_JOB_FAILED';
    const message = err instanceof Error ? err.message : String(err);
    this.lastBackgroundError = { code, message, at: Date.now() };
    if (this.state !== 'open' || this.retryTimer !== undefined) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_DELAY_MS_MAX);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.maybeScheduleFlush();
      this.maybeScheduleCompaction();
    }, delay);
    this.retryTimer.unref();
  }

  private waitForBackground(): Promise<void> {
    return new Promise((resolve) => this.backgroundWaiters.push(resolve));
  }

  private notifyBackground(): void {
    const waiters = this.backgroundWaiters;
    this.backgroundWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * deleteObsoleteFiles() for background paths: a failure to list or remove (the disk went away) is
   * recorded like a failed job and retried with the next one, not thrown into a detached promise.
   */
  private collectGarbage(): void {
    try {
      this.deleteObsoleteFiles();
    } catch (err) {
      if (!(err instanceof LsmraftError)) throw err;
      this.recordBackgroundError(err);
    }
  }

  /**
   * Deletes files nothing needs: tables no version references and no running job will install,
   * logs older than the oldest log a memtable still depends on, manifests other than the live one.
   * A deletion need not be durable: a file that reappears after a crash is deleted again at open.
   */
  private deleteObsoleteFiles(): void {
    const keep = this.uncertainOutputs.size === 0 ? this.pendingOutputs : new Set([...this.pendingOutputs, ...this.uncertainOutputs]);
    for (const name of this.versions.obsoleteFiles(this.fs.list(this.dir), keep)) {
      if (this.deleting.has(name)) continue;
      const parsed = parseFileName(name)!;
      if (parsed.type === 'table') this.tableCache.evict(parsed.number);
      this.deleting.add(name);
      const removal = this.fs.removeAsync(joinPath(this.dir, name)).then(
        () => {
          this.deleting.delete(name);
        },
        (err: unknown) => {
          this.deleting.delete(name);
          if (!(err instanceof LsmraftError)) throw err;
          this.recordBackgroundError(err);
        },
      );
      this.removals.add(removal);
      void removal.finally(() => this.removals.delete(removal));
    }
  }

  /**
   * Writes a consistent, openable copy of the tree to `targetDir` (a new directory): the memtable
   * is flushed first, then every live table is hard-linked (tables are immutable, so a link is a
   * copy that costs nothing) and a manifest describing exactly them is written and synced. This is
   * what a Raft snapshot of the state tree is. Returns the tree's last sequence and userMeta at
   * the checkpoint.
   */
  async checkpoint(targetDir: string): Promise<{ lastSequence: number; userMeta: Uint8Array | undefined; files: number; bytes: number }> {
    if (typeof targetDir !== 'string' || targetDir.length === 0) throw new InvalidArgumentError('targetDir must be a non-empty string');
    await this.flush();
    this.checkOpen();
    const version = this.versions.current();
    version.ref();
    try {
      const lastSequence = this.lastSequence;
      const userMeta = this.versions.userMeta;
      await this.versions.writeCheckpoint(targetDir, version, lastSequence, userMeta);
      let bytes = 0;
      let files = 0;
      for (let level = 0; level < version.levelCount; level++) {
        files += version.files(level).length;
        bytes += version.levelBytes(level);
      }
      return { lastSequence, userMeta, files, bytes };
    } finally {
      version.unref();
      if (this.state === 'open') this.collectGarbage();
    }
  }

  // ---- introspection and lifecycle -------------------------------------------------------------

  describe(): TreeDescription {
    this.checkOpen();
    return describeTree({
      dir: this.dir,
      engine: this.engine.name,
      lastSequence: this.lastSequence,
      memtable: { entries: this.mem.entryCount, bytes: this.mem.approximateBytes },
      immutable: this.imm === undefined ? undefined : { entries: this.imm.entryCount, bytes: this.imm.approximateBytes },
      version: this.versions.current(),
    });
  }

  stats(): TreeStats {
    const version = this.versions.current();
    const levels: TreeStats['levels'] = [];
    for (let level = 0; level < version.levelCount; level++) {
      levels.push({ level, files: version.files(level).length, bytes: version.levelBytes(level) });
    }
    const c = this.counters;
    return {
      engine: this.engine.name,
      lastSequence: this.lastSequence,
      writes: { puts: c.puts, deletes: c.deletes, batches: c.batches, groups: c.groups, syncs: c.syncs, walBytes: c.walBytes, stallMs: c.stallMs },
      reads: { gets: c.gets, iterators: c.iterators },
      memtable: { bytes: this.mem.approximateBytes, entries: this.mem.entryCount, immutableBytes: this.imm?.approximateBytes ?? 0 },
      flushes: { count: c.flushes, outputBytes: c.flushBytes, failures: c.flushFailures },
      compactions: {
        count: c.compactions, trivialMoves: c.trivialMoves, inputBytes: c.compactionInputBytes,
        outputBytes: c.compactionOutputBytes, failures: c.compactionFailures, running: this.compacting !== undefined,
      },
      blockCache: { capacityBytes: this.options.blockCacheBytes, usedBytes: this.blockCache.usedBytes, hits: this.blockCache.hits, misses: this.blockCache.misses },
      openTables: this.tableCache.openCount,
      levels,
      liveSnapshots: this.snapshots.size,
      backgroundErrors: c.backgroundErrors,
      lastBackgroundError: this.lastBackgroundError,
    };
  }

  get closed(): boolean {
    return this.state !== 'open';
  }

  get engineName(): EngineName {
    return this.engine.name;
  }

  /**
   * Waits for queued writes and running jobs, flushes the memtable when there is no WAL to recover
   * it from, and releases the directory. Iterators still open are closed with the tree.
   */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    await this.writes.whenIdle();
    if (!this.options.wal && (this.mem.entryCount > 0 || this.imm !== undefined || this.memMeta !== undefined)) {
      await this.flush();
    }
    this.state = 'closing';
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    // Each pass waits for one running job; no new job starts once closing.
    for (let pass = 0; pass < 1_000 && (this.flushing !== undefined || this.compacting !== undefined); pass++) {
      await Promise.allSettled([this.flushing, this.compacting]);
    }
    this.state = 'closed';
    for (const it of [...this.liveIterators]) it.close();
    await Promise.allSettled([this.previousWalSync, this.nextWal?.then(({ wal }) => wal.close()), ...this.removals]);
    this.wal?.close();
    this.tableCache.closeAll();
    await this.runner.close();
    this.lock.release();
    this.notifyBackground();
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new ClosedError();
  }
}

/** Entries packed per turn of the event loop: well under a millisecond of copying. */
const PACK_ENTRIES_PER_TURN = 1024;

/** Packs an immutable memtable for its flush a slice per turn, so the main thread keeps serving. */
async function packInSlices(mem: MemTable): Promise<EntryRun> {
  const packer = mem.packer();
  // Each pass packs a slice; bounded by the entry count.
  while (!packer.step(PACK_ENTRIES_PER_TURN)) await new Promise<void>((resolve) => setImmediate(resolve));
  return packer.run();
}

function tableOptionsOf(opts: ResolvedOptions): TableCutOptions {
  return {
    blockSizeBytes: opts.blockSizeBytes,
    restartInterval: opts.restartInterval,
    bloomBitsPerKey: opts.bloomBitsPerKey,
    targetFileSizeBytes: opts.targetFileSizeBytes,
  };
}

function toFileMetadata(o: JobResult['outputs'][number]): FileMetadata {
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

