/**
 * Background work of a tree: flushing the immutable memtable, compacting levels, and what happens
 * when either fails (after leveldb's DBImpl::MaybeScheduleCompaction / BackgroundCall and Pebble's
 * compaction.go). Jobs run through the tree's JobRunner (inline or in the worker pool); the main
 * thread installs each result as one manifest edit.
 *
 * What must hold:
 * - at most one flush and one compaction run at once; their edits are applied one at a time;
 * - a failed job goes to the ErrorHandler (error-handler.ts): retried after a backoff, or the tree
 *   turns read-only; no job starts while a retry is pending, while read-only, or while closing;
 * - the outputs of a job whose manifest edit failed stay on disk until a later edit succeeds;
 * - every waiter (waitForEvent) is woken when a job ends, a retry is due, or the tree closes.
 */
import { JobFailedError, LsmraftError } from '../errors.js';
import { assert } from '../util/assert.js';
import { pickCompaction, pickManualCompaction, type Compaction } from './compaction-picker.js';
import { outputNumbersNeeded, tableOptionsOf, toFileMetadata, type JobResult } from './jobs.js';
import { ErrorHandler, type ErrorSummary } from './error-handler.js';
import type { MemTable } from './memtable.js';
import { ObsoleteFiles } from './obsolete-files.js';
import { subcompactionRanges } from './subcompactions.js';
import type { TreeCore } from './tree-core.js';
import { VersionEdit } from './version-edit.js';
import type { EntryRun } from '../engine/types.js';

/** Compaction steps of one compactAll() call, at most: more means the picker does not converge. */
const MANUAL_COMPACTION_STEPS_MAX = 100_000;
/** Background events one waitForFlushes() call waits for, at most (bounded by flush retries). */
const FLUSH_WAIT_EVENTS_MAX = 1_000_000;
/**
 * Output size at which a flush would cut its table: above any memtable's (memtableBytesMax is at
 * most 1 GiB, and a table holds its entries in fewer bytes than the memtable's arena).
 */
const FLUSH_TABLE_BYTES_MAX = 2 ** 31;
/** Jobs close() waits for, one pass each: no new job starts once closing. */
const CLOSE_WAIT_PASSES_MAX = 1_000;
/** Entries packed per turn of the event loop: well under a millisecond of copying. */
const PACK_ENTRIES_PER_TURN = 1024;

export class Background {
  /** Deletes what jobs made obsolete; its failures are background errors too. */
  readonly obsolete: ObsoleteFiles;
  /** The state after failures: ok, retrying, or read-only. */
  readonly errors: ErrorHandler;
  private flushing: Promise<void> | undefined = undefined;
  private compacting: Promise<void> | undefined = undefined;
  private manualCompactionActive = false;
  private lastFlushError: unknown = undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly core: TreeCore) {
    this.errors = new ErrorHandler(
      () => {
        this.maybeScheduleFlush();
        this.maybeScheduleCompaction();
        this.notify();
      },
      () => core.counters.backgroundErrors++,
    );
    // A failed unlink is retried by the next collection pass; it changes no state.
    this.obsolete = new ObsoleteFiles(core, (err) => this.errors.record(err));
  }

  get compactionRunning(): boolean {
    return this.compacting !== undefined;
  }

  get lastError(): ErrorSummary | undefined {
    return this.errors.lastError;
  }

  /** The last flush's error while no flush is running to retry it (undefined otherwise). */
  flushFailure(): unknown {
    return this.flushing === undefined ? this.lastFlushError : undefined;
  }

  /**
   * Resolves at the next background event (a job ended, a retry is due, the tree closed), or after
   * `timeoutMs` if given. While it waits, a pending retry keeps the process alive.
   */
  waitForEvent(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      const release = this.errors.hold();
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        clearTimeout(timer);
        release();
        resolve();
      };
      this.waiters.push(wake);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          wake();
        }, timeoutMs);
      }
    });
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Waits, scheduling flushes, until `done()`; throws JobFailedError while the flush is failing
   * (it is retried in the background), BackgroundError once the tree is read-only and ClosedError
   * once it closes.
   */
  async waitForFlushes(done: () => boolean): Promise<void> {
    for (let events = 0; !done(); events++) {
      assert(events < FLUSH_WAIT_EVENTS_MAX, 'flush() does not converge');
      this.core.checkOpen();
      this.errors.checkWritable();
      const failure = this.flushFailure();
      if (failure !== undefined) throw new JobFailedError('flush failed', failure);
      this.maybeScheduleFlush();
      await this.waitForEvent();
    }
  }

  maybeScheduleFlush(): void {
    // Not while closing: the memtable is safe in the WAL (and without one, close() flushed it while
    // still open), and a failing flush must not be retried at once, pass after pass.
    if (this.flushing !== undefined || this.core.imm === undefined || !this.mayStartJob()) return;
    this.flushing = this.runFlush(this.core.imm).finally(() => {
      this.flushing = undefined;
      this.notify();
      this.maybeScheduleFlush();
      this.maybeScheduleCompaction();
    });
  }

  private async runFlush(imm: MemTable): Promise<void> {
    const core = this.core;
    // One table per flush (as leveldb and RocksDB write one): L0's file count, what its score and
    // the write stall count, is then the number of flushed memtables, whatever their size.
    const table = { ...tableOptionsOf(core.options), targetFileSizeBytes: FLUSH_TABLE_BYTES_MAX };
    // A worker gets the memtable's arenas, shared, not copied (the walk over its scattered nodes
    // would cost the main thread far more): the WASM twin reads the skiplist in place, the JS twin
    // packs it there (src/lsm/jobs.ts). Inline, it is packed here, a slice per turn.
    const input = core.runner.kind === 'pool' ? { image: imm.image() } : { run: await packInSlices(imm) };
    // Settled either way: after a failed WAL fsync the flush is what makes these writes durable.
    await Promise.allSettled([core.immWalSync]);
    const numbers = core.versions.reserveFileNumbers(outputNumbersNeeded(imm.packedBytes, core.options.targetFileSizeBytes));
    for (const n of numbers) core.pendingOutputs.add(n);
    let installing = false;
    try {
      const snapshots = core.liveSnapshots();
      const result = await core.runner.run({ kind: 'flush', dir: core.dir, ...input, table, fileNumbers: numbers, snapshots });
      const edit = new VersionEdit();
      for (const o of result.outputs) edit.addFile(0, toFileMetadata(o));
      if (core.wal !== undefined) edit.setLogNumber(core.walNumber);
      edit.setLastSequence(core.lastSequence);
      if (core.immMeta !== undefined) edit.setUserMeta(core.immMeta);
      installing = true;
      await core.versions.logAndApply(edit);
      core.uncertainOutputs.clear();
      if (snapshots.length === 0) for (const o of result.outputs) core.oneVersionTables.add(o.number);
      core.imm = undefined;
      core.immMeta = undefined;
      core.flushedSwitches = core.switches;
      this.lastFlushError = undefined;
      this.errors.succeeded('flush');
      if (core.walRecoveryTarget !== undefined && core.flushedSwitches >= core.walRecoveryTarget) {
        // The memtables a failed WAL covered are tables now: writes may be acknowledged again.
        core.walRecoveryTarget = undefined;
        this.errors.succeeded('wal');
      }
      core.counters.flushes++;
      core.counters.flushBytes += result.outputBytes;
    } catch (err) {
      // A failed manifest write may still be on disk: its tables stay until an edit succeeds.
      if (installing) for (const n of numbers) core.uncertainOutputs.add(n);
      this.lastFlushError = err;
      core.counters.flushFailures++;
      // Only typed errors are the tree's to handle; a bug goes on as it is.
      if (!(err instanceof LsmraftError)) throw err;
      this.errors.report('flush', err);
    } finally {
      for (const n of numbers) core.pendingOutputs.delete(n);
      this.obsolete.collect();
    }
  }

  maybeScheduleCompaction(): void {
    if (this.compacting !== undefined || this.manualCompactionActive || !this.mayStartJob()) return;
    const c = pickCompaction(this.core.versions.current(), this.core.pickerOptions(), this.core.versions.compactPointers);
    if (c === null) return;
    this.compacting = this.runCompaction(c)
      .catch((err: unknown) => {
        // Recorded by runCompaction (the retry timer schedules the next attempt); only bugs go on.
        if (!(err instanceof LsmraftError)) throw err;
      })
      .finally(() => {
        this.compacting = undefined;
        this.notify();
        this.maybeScheduleCompaction();
      });
  }

  /** Jobs start only while open, not read-only, and not waiting out a retry's backoff. */
  private mayStartJob(): boolean {
    return this.core.state === 'open' && !this.errors.readOnly && !this.errors.retryPending;
  }

  /** Compacts the whole tree into its bottom-most level, one picked compaction after another. */
  async compactAll(): Promise<void> {
    this.manualCompactionActive = true;
    try {
      for (let step = 0; step < MANUAL_COMPACTION_STEPS_MAX; step++) {
        this.core.checkOpen();
        this.errors.checkWritable();
        while (this.compacting !== undefined) await this.compacting;
        const oneVersion = this.core.oneVersionTables;
        const c = pickManualCompaction(this.core.versions.current(), this.core.pickerOptions(), undefined, {}, (f) => oneVersion.has(f.number));
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

  private async runCompaction(c: Compaction): Promise<void> {
    const core = this.core;
    if (c.isTrivialMove) {
      try {
        await core.versions.logAndApply(c.toEdit([]));
      } catch (err) {
        core.counters.compactionFailures++;
        throw this.compactionFailed(err);
      }
      core.uncertainOutputs.clear();
      core.counters.trivialMoves++;
      this.errors.succeeded('compaction');
      return;
    }
    const files = c.inputs.flat();
    const inputs = files.map((f) => f.number);
    let inputBytes = 0;
    for (const f of files) inputBytes += f.size;
    const table = tableOptionsOf(core.options);
    // A piece writes at least about one whole table: smaller pieces would only add short tables.
    const pieceBytesMin = Math.max(core.options.subcompactionBytesMin, table.targetFileSizeBytes);
    let ranges;
    try {
      ranges = await subcompactionRanges(files, (n) => core.tableCache.get(n), this.subcompactionsMax(), pieceBytesMin);
    } catch (err) {
      // An input table that does not open fails the compaction as its job would.
      core.counters.compactionFailures++;
      throw this.compactionFailed(err);
    }
    // Each piece may need as many as the whole job (its share of the bytes is an estimate).
    const perPiece = outputNumbersNeeded(inputBytes, table.targetFileSizeBytes);
    const numbers = core.versions.reserveFileNumbers(perPiece * ranges.length);
    for (const n of numbers) core.pendingOutputs.add(n);
    let installing = false;
    try {
      const snapshots = core.liveSnapshots();
      const result = await runPieces(ranges.map((r, i) => core.runner.run({
        kind: 'compaction', dir: core.dir, inputs, snapshots, dropTombstones: c.isBottommost, table,
        fileNumbers: numbers.slice(i * perPiece, (i + 1) * perPiece),
        ...(r.lower !== undefined && { lowerUserKey: r.lower }),
        ...(r.upper !== undefined && { upperUserKey: r.upper }),
        ...(ranges.length > 1 && { inputBounds: files.map((f) => ({ smallest: f.smallest, largest: f.largest })) }),
      })));
      if (ranges.length > 1) core.counters.subcompactions += ranges.length;
      installing = true;
      await core.versions.logAndApply(c.toEdit(result.outputs.map(toFileMetadata)));
      core.uncertainOutputs.clear();
      for (const n of inputs) core.oneVersionTables.delete(n);
      if (snapshots.length === 0) for (const o of result.outputs) core.oneVersionTables.add(o.number);
      core.counters.compactions++;
      core.counters.compactionInputBytes += inputBytes;
      core.counters.compactionOutputBytes += result.outputBytes;
      this.errors.succeeded('compaction');
    } catch (err) {
      if (installing) for (const n of numbers) core.uncertainOutputs.add(n);
      core.counters.compactionFailures++;
      throw this.compactionFailed(err);
    } finally {
      for (const n of numbers) core.pendingOutputs.delete(n);
      this.obsolete.collect();
    }
  }

  /**
   * Pieces a compaction may be split into: the option, else one per started worker of the pool (a
   * piece that waited for a cold worker would cost more than it saves, docs/lsm-options.md).
   */
  private subcompactionsMax(): number {
    const { subcompactionsMax, workerPool } = this.core.options;
    if (subcompactionsMax !== undefined) return subcompactionsMax;
    if (this.core.runner.kind !== 'pool' || workerPool === false) return 1;
    return Math.max(1, Math.min(workerPool.maxThreads, this.core.runner.liveWorkers));
  }

  /** Reports a failed compaction; returns what compact() rejects with (a bug goes on as it is). */
  private compactionFailed(err: unknown): unknown {
    if (err instanceof LsmraftError) this.errors.report('compaction', err);
    return err;
  }

  /** REQUIRES: the tree is closing. Cancels the retry timer and waits for the running jobs. */
  async stop(): Promise<void> {
    assert(this.core.state === 'closing', 'Background.stop() while the tree is not closing');
    this.errors.close();
    // Each pass waits for one running job; no new job starts once closing.
    for (let pass = 0; pass < CLOSE_WAIT_PASSES_MAX && (this.flushing !== undefined || this.compacting !== undefined); pass++) {
      await Promise.allSettled([this.flushing, this.compacting]);
    }
  }
}

/**
 * The pieces of one compaction as one result: outputs in key order (the pieces' ranges ascend), or,
 * once every piece has ended (none is still writing), the failure of the first failed one, a bug
 * before a typed error. A failed piece fails the whole job: no output is installed, and the pieces'
 * tables, referenced by no version, are deleted as obsolete.
 */
async function runPieces(pieces: Promise<JobResult>[]): Promise<JobResult> {
  const settled = await Promise.allSettled(pieces);
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length > 0) throw failures.find((f) => !(f instanceof LsmraftError)) ?? failures[0];
  const result: JobResult = { outputs: [], inputBytes: 0, outputBytes: 0, inputEntries: 0, outputEntries: 0 };
  for (const s of settled) {
    const r = (s as PromiseFulfilledResult<JobResult>).value;
    result.outputs.push(...r.outputs);
    result.inputBytes += r.inputBytes;
    result.outputBytes += r.outputBytes;
    result.inputEntries += r.inputEntries;
    result.outputEntries += r.outputEntries;
  }
  return result;
}

/** Packs an immutable memtable for its flush a slice per turn, so the main thread keeps serving. */
async function packInSlices(mem: MemTable): Promise<EntryRun> {
  const packer = mem.packer();
  // Each pass packs a slice; bounded by the entry count.
  while (!packer.step(PACK_ENTRIES_PER_TURN)) await new Promise<void>((resolve) => setImmediate(resolve));
  return packer.run();
}
