/**
 * The write path of a tree (after leveldb's DBImpl::Write / MakeRoomForWrite and Pebble's
 * commit pipeline): WriteQueue groups writers (group commit) -> one WAL append (+ one fsync when
 * any writer asked for sync) -> memtable -> visible. A full memtable becomes the immutable one and
 * a new WAL, created ahead of time, takes over; background.ts flushes the immutable memtable.
 *
 * What must hold:
 * - a write is visible only after its WAL record is written (and synced, if it asked);
 * - sequence numbers become visible in order (WriteQueue commits groups one at a time);
 * - a synced write to a new WAL is acknowledged only once the retired WAL is synced too (prefix
 *   durability: recovery never shows a gap);
 * - the memtable switches only between write groups, one switch at a time.
 *
 * After a failed WAL write (an append or fsync that fails, e.g. ENOSPC), after RocksDB's recovery
 * from a WAL write error (switch the memtable to a new log, then flush it):
 * - the failed group is rejected; its outcome is unknown (its bytes may be in the log, and a crash
 *   before the recovery below ends replays them). Its sequence numbers are never reused;
 * - the failed log's state is unknown (a torn tail; a failed fsync may have dropped dirty pages),
 *   so the next write, or flush(), switches to a fresh WAL without syncing the failed one, and the
 *   memtable that log covered is flushed to tables;
 * - no write is acknowledged until that flush is installed (which also retires the failed log):
 *   a synced write then never outlives an earlier acknowledged one. Writes wait for it as for any
 *   stall; while background work keeps failing, for backgroundErrorStallMsMax at most, then fail
 *   with LSM_ERR_JOB_FAILED (not applied). Once space is free the tree resumes by itself.
 */
import { ClosedError, JobFailedError, LsmraftError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { Background } from './background.js';
import { BatchInserter } from './batch-insert.js';
import { joinPath, logFileName } from './filenames.js';
import { createWalWriter, type LogWriter } from './log-format.js';
import { MemTable } from './memtable.js';
import { VersionEdit } from './version-edit.js';
import type { TreeCore } from './tree-core.js';
import type { WriteBatch } from './write-batch.js';
import { WriteQueue, type PendingWrite } from './write-queue.js';

export class WritePath {
  private readonly queue: WriteQueue;
  /** The next WAL, being created ahead of the switch that will use it. */
  private nextWal: Promise<{ wal: LogWriter; number: number }> | undefined = undefined;
  /** The fsync of the WAL the last switch retired; synced writes to the new one wait for it. */
  private previousWalSync: Promise<void> | undefined = undefined;
  private switching = false;
  /** The error of a failed WAL write: the next switch retires that log unsynced (see the header). */
  private walFailure: unknown = undefined;
  /**
   * The WAL the last switch retired: its final size (nothing is appended after the switch) and
   * whether its fsync succeeded. A close with that memtable still unflushed records it too.
   */
  private retiredWal: { number: number; sizeBytes: number; synced: boolean } | undefined = undefined;
  /** close() has begun: a write stalled behind failing background work stops waiting. */
  private closeRequested = false;
  private readonly inserter = new BatchInserter();

  constructor(
    private readonly core: TreeCore,
    private readonly background: Background,
  ) {
    this.queue = new WriteQueue({
      makeRoomForWrite: () => this.makeRoomForWrite(),
      commitGroup: (group) => this.commitGroup(group),
    });
  }

  /** Queues a batch the tree owns (never reused by the caller); resolves once it is visible. */
  enqueue(batch: WriteBatch, sync: boolean, meta: Uint8Array | undefined): Promise<void> {
    this.background.errors.checkWritable();
    return this.queue.enqueue(batch, sync, meta);
  }

  /**
   * Switches the memtable holding every write queued before the call (waiting out the previous
   * immutable memtable's flush first), in queue order between groups. Returns the switch count
   * to wait for: the caller's writes are on disk once core.flushedSwitches reaches it.
   */
  async switchForFlush(): Promise<number> {
    const core = this.core;
    let target = 0;
    // In queue order, between groups: every earlier write is in the memtable, none is half-way.
    await this.queue.runExclusive(async () => {
      await this.background.waitForFlushes(() => core.imm === undefined);
      if (core.mem.entryCount > 0 || core.memMeta !== undefined) await this.switchMemtable();
      target = core.switches;
    });
    return target;
  }

  /** Resolves once no write is queued or being committed. */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /**
   * fsyncs the current WAL and waits for the retired one's fsync, so every write committed so far
   * is durable (close({ sync: true })). Rejects with the typed error of a failed fsync.
   * REQUIRES: no write group is being committed (after whenIdle()).
   */
  async syncWal(): Promise<void> {
    await Promise.all([this.core.wal?.sync(), this.previousWalSync]);
  }

  /**
   * close() has begun: writes stalled behind failing background work fail with ClosedError at
   * their next wake-up (the caller notifies), so close() waits for no retry. Other writes finish.
   */
  beginClose(): void {
    this.closeRequested = true;
  }

  /**
   * A clean close's last step for the WAL (after RocksDB's track_and_verify_wals_in_manifest for
   * closed WALs): fsyncs the current WAL, then records its number and final size in one manifest
   * edit (with the retired WAL of a memtable no flush installed, once that WAL's fsync succeeded), so open tells a WAL a disk cut short (or lengthened) from one a crash tore, and reads it
   * strictly (src/lsm/open.ts). If the fsync fails, nothing is recorded and the close goes on, as
   * a close without { sync: true } always did: unsynced writes are left to the OS (docs/durability.md).
   *
   * A crash anywhere in here is harmless: before the edit is durable the manifest records no size
   * (a torn edit is dropped by recovery), and the WAL keeps the torn-tail rule; once it is durable
   * the WAL is synced at exactly the recorded size and nothing appends to it again (the next open
   * replays it into tables and starts a new WAL, whose edit drops the size). A failed edit is not
   * an error of the close: the size is a check, not data, and whether the record landed or not,
   * what it says is true. Skipped after a failed WAL write (the log's state is unknown) and when
   * the tree is read-only (nothing is written to a tree held to be corrupt).
   * REQUIRES: the tree is closed (no write, switch or job runs any more).
   */
  async recordClosedWal(): Promise<void> {
    const core = this.core;
    const wal = core.wal;
    if (wal === undefined || this.walFailure !== undefined || this.background.errors.readOnly) return;
    try {
      // The recorded size is the file's size on disk: the preallocated zeros go first.
      wal.trimPreallocation();
      await wal.sync();
    } catch (err) {
      if (!(err instanceof LsmraftError) || err.code !== 'LSM_ERR_IO') throw err;
      return;
    }
    const edit = new VersionEdit();
    // The retired WAL of a memtable no flush installed (its flush kept failing) is finished too,
    // and synced once its fsync succeeded: recorded alike. (No record is made at the switch itself:
    // it would cost a manifest edit per switch, and the flush's edit soon makes that WAL obsolete.)
    await Promise.allSettled([this.previousWalSync]);
    const retired = this.retiredWal;
    if (core.imm !== undefined && retired !== undefined && retired.synced && retired.number >= core.versions.logNumber) {
      edit.recordWalSize(retired.number, retired.sizeBytes);
    }
    edit.recordWalSize(core.walNumber, wal.size());
    edit.setLastSequence(core.lastSequence);
    try {
      await core.versions.logAndApply(edit);
    } catch (err) {
      if (!(err instanceof LsmraftError) || err.code !== 'LSM_ERR_IO') throw err;
    }
  }

  /** REQUIRES: the tree is closed. Waits for the retired WAL's sync and closes a pre-created WAL. */
  async close(): Promise<void> {
    await Promise.allSettled([this.previousWalSync, this.nextWal?.then(({ wal }) => wal.close())]);
    this.core.wal?.close();
  }

  /** REQUIRES: called by WriteQueue only, one group at a time. */
  private commitGroup(group: PendingWrite[]): Promise<void> | undefined {
    const core = this.core;
    let sequence = core.lastSequence + 1;
    const payloads: Uint8Array[] = [];
    let sync = false;
    for (const w of group) {
      // The tree owns every queued batch (write() clones the caller's), so a view is safe.
      payloads.push(w.batch.encodeView(sequence));
      sequence += w.batch.count;
      sync ||= w.sync;
    }
    core.counters.groups++;
    if (core.wal !== undefined) {
      const groupLastSequence = sequence - 1;
      try {
        core.wal.addRecords(payloads);
      } catch (err) {
        this.walWriteFailed(err, groupLastSequence);
      }
      for (const p of payloads) core.counters.walBytes += p.length;
      if (sync) {
        core.counters.syncs++;
        const synced = this.previousWalSync === undefined ? core.wal.sync() : Promise.all([core.wal.sync(), this.previousWalSync]);
        return synced.then(
          () => this.applyGroup(group),
          (err: unknown) => this.walWriteFailed(err, groupLastSequence),
        );
      }
    }
    this.applyGroup(group);
    return undefined;
  }

  /**
   * A WAL append or sync failed: the group's outcome is unknown and so is the log's state (see the
   * header). Its sequence numbers are skipped, so a replay of the failed log after a crash cannot
   * put two writes at one sequence number. Rethrows `err` to fail the group.
   */
  private walWriteFailed(err: unknown, groupLastSequence: number): never {
    // Anything but an IO error (a bug, an oversized record refused before any byte was written)
    // leaves the log as it was.
    if (!(err instanceof LsmraftError) || err.code !== 'LSM_ERR_IO') throw err;
    // Groups commit one at a time (WriteQueue), so no later group has taken a sequence number yet.
    assert(this.core.lastSequence <= groupLastSequence, 'a group committed while a failed one was pending');
    this.core.lastSequence = groupLastSequence;
    this.walFailure ??= err;
    this.background.errors.report('wal', err);
    throw err;
  }

  private applyGroup(group: PendingWrite[]): void {
    const core = this.core;
    const mem = core.mem;
    let sequence = core.lastSequence + 1;
    for (const w of group) {
      // Straight from the batch's bytes, the ones just logged, in key order (batch-insert.ts); the
      // tree built the batch, so it needs no validation.
      this.inserter.insert(mem, w.batch, sequence);
      sequence += w.batch.count;
      if (w.meta !== undefined) core.memMeta = w.meta;
    }
    core.lastSequence = sequence - 1;
  }

  /**
   * Before a group is logged: turns a full memtable into the immutable one (starting a new WAL),
   * waiting for the previous flush if it is still running, and stalls while L0 holds too many files.
   */
  private makeRoomForWrite(): Promise<void> | undefined {
    const core = this.core;
    if (this.walFailure !== undefined || this.core.walRecoveryTarget !== undefined || this.background.errors.readOnly) return this.makeRoomSlow();
    const l0Files = core.versions.current().files(0).length;
    const memBytes = core.mem.approximateBytes;
    if (memBytes >= core.options.memtableBytesMax / 2 && core.wal !== undefined && this.nextWal === undefined) {
      this.nextWal = this.prepareNextWal();
    }
    if (memBytes < core.options.memtableBytesMax && l0Files < core.options.l0StopWritesTrigger) return undefined;
    return this.makeRoomSlow();
  }

  /**
   * Creates the next WAL ahead of the memtable switch that will use it (half-way through the
   * current memtable), with its header and directory entry made durable in the background, so
   * the switch itself waits for no fsync (after RocksDB's pre-created log files).
   */
  private prepareNextWal(): Promise<{ wal: LogWriter; number: number }> {
    const core = this.core;
    const prepared = (async () => {
      const number = core.versions.newFileNumber();
      const wal = createWalWriter(core.fs, joinPath(core.dir, logFileName(number)), core.engine);
      await wal.sync();
      await core.fs.syncDir(core.dir);
      return { wal, number };
    })();
    // A failure is reported by the switch that awaits this; meanwhile it counts as a background error.
    prepared.catch((err: unknown) => this.background.errors.record(err));
    return prepared;
  }

  private async makeRoomSlow(): Promise<void> {
    const core = this.core;
    const errors = this.background.errors;
    const started = Date.now();
    /** When this write started waiting behind failing background work (bounded by the option). */
    let failingSince: number | undefined;
    try {
      // Each pass makes progress and returns or loops, or waits for a background event; the waits
      // are bounded by backgroundErrorStallMsMax while background work fails.
      for (;;) {
        if (core.state === 'closed') throw new ClosedError();
        errors.checkWritable();
        if (this.walFailure !== undefined || core.walRecoveryTarget !== undefined) {
          if (await this.recoverFromWalFailure()) continue;
        } else if (core.versions.current().files(0).length >= core.options.l0StopWritesTrigger) {
          this.background.maybeScheduleCompaction();
        } else if (core.mem.approximateBytes < core.options.memtableBytesMax) {
          return;
        } else if (core.imm === undefined) {
          await this.switchMemtable();
          return;
        }
        const failure = errors.failure;
        if (failure === undefined) {
          failingSince = undefined;
          await this.background.waitForEvent();
          continue;
        }
        if (this.closeRequested) throw new ClosedError();
        failingSince ??= Date.now();
        const leftMs = core.options.backgroundErrorStallMsMax - (Date.now() - failingSince);
        if (leftMs <= 0) {
          throw new JobFailedError(
            `a write waited ${core.options.backgroundErrorStallMsMax} ms behind failing background work ` +
              '(retried in the background); it was not applied',
            failure,
          );
        }
        await this.background.waitForEvent(leftMs);
      }
    } finally {
      core.counters.stallMs += Date.now() - started;
    }
  }

  /**
   * One step of the recovery from a failed WAL write (see the header): switch to a fresh WAL once
   * no earlier immutable memtable is left, then wait for the flush of the memtable the failed log
   * covered. Returns true when it made progress, false when the caller must wait for an event.
   */
  private async recoverFromWalFailure(): Promise<boolean> {
    const core = this.core;
    if (this.walFailure !== undefined) {
      if (core.imm !== undefined) {
        this.background.maybeScheduleFlush();
        return false;
      }
      try {
        await this.switchMemtable();
      } catch (err) {
        // Still no space for a new log: retried after the backoff (its timer wakes the waiter).
        if (!(err instanceof LsmraftError)) throw err;
        this.background.errors.report('wal', err);
        return false;
      }
      return true;
    }
    // The flush that installs it ends the recovery (background.ts).
    if (core.walRecoveryTarget === undefined) return true;
    this.background.maybeScheduleFlush();
    return false;
  }

  /**
   * REQUIRES: no immutable memtable; called between groups of the write queue only (from
   * makeRoomForWrite or switchForFlush), so no group is between its log write and its memtable
   * insert and no other switch is running. The current memtable becomes immutable; a new WAL starts.
   */
  private async switchMemtable(): Promise<void> {
    assert(this.core.imm === undefined, 'switchMemtable with an immutable memtable still unflushed');
    assert(!this.switching, 'two memtable switches at once');
    this.switching = true;
    try {
      await this.switchMemtableNow();
    } finally {
      this.switching = false;
    }
  }

  private async switchMemtableNow(): Promise<void> {
    const core = this.core;
    if (core.wal !== undefined) {
      // The new log's header and directory entry are durable once its preparation resolves.
      const prepared = this.nextWal ?? this.prepareNextWal();
      this.nextWal = undefined;
      const { wal, number } = await prepared;
      // The old log is synced too before any synced write to the new one is acknowledged (see
      // commitGroup): a synced write then implies every earlier write is durable (prefix
      // durability), which recovery relies on to never show a gap.
      const old = core.wal;
      if (this.walFailure === undefined) {
        const retiredWal = { number: core.walNumber, sizeBytes: old.size(), synced: false };
        this.retiredWal = retiredWal;
        // Nothing is appended to it any more: its preallocated zeros go, durably with its sync, so
        // a close that records its size (recordClosedWal) records its size on disk.
        let retired: Promise<void>;
        try {
          old.trimPreallocation();
          retired = old.sync();
        } catch (err) {
          retired = Promise.reject(err);
        }
        retired = retired.finally(() => old.close());
        this.previousWalSync = retired;
        core.immWalSync = retired;
        // Once durable, synced groups need not wait for it any more. A failure fails the synced
        // groups that wait for it (a failed WAL write, recovered from as the header says).
        retired.then(
          () => {
            retiredWal.synced = true;
            if (this.previousWalSync === retired) this.previousWalSync = undefined;
          },
          (err: unknown) => this.background.errors.record(err),
        );
      } else {
        // The failed log is not synced: its memtable's flush makes it durable, and writes wait
        // for that flush (TreeCore.walRecoveryTarget) before any is acknowledged.
        old.close();
        this.retiredWal = undefined;
        this.previousWalSync = undefined;
        core.immWalSync = undefined;
        this.walFailure = undefined;
        core.walRecoveryTarget = core.switches + 1;
      }
      core.wal = wal;
      core.walNumber = number;
    }
    core.imm = core.mem;
    core.immMeta = core.memMeta;
    core.memMeta = undefined;
    core.mem = new MemTable();
    core.switches++;
    this.background.maybeScheduleFlush();
  }
}
