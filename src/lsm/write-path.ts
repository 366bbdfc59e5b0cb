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
 */
import { ClosedError, JobFailedError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { Background } from './background.js';
import { joinPath, logFileName } from './filenames.js';
import { LogKind, LogWriter } from './log-format.js';
import { MemTable } from './memtable.js';
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
      core.wal.addRecords(payloads);
      for (const p of payloads) core.counters.walBytes += p.length;
      if (sync) {
        core.counters.syncs++;
        const synced = this.previousWalSync === undefined ? core.wal.sync() : Promise.all([core.wal.sync(), this.previousWalSync]);
        return synced.then(() => this.applyGroup(group));
      }
    }
    this.applyGroup(group);
    return undefined;
  }

  private applyGroup(group: PendingWrite[]): void {
    const core = this.core;
    const mem = core.mem;
    let sequence = core.lastSequence + 1;
    for (const w of group) {
      // The batch itself, not its logged payload: the tree built it, so it needs no validation.
      w.batch.forEach((kind, key, value) => {
        mem.add(sequence++, kind, key, value);
      });
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
      const wal = new LogWriter(core.fs.create(joinPath(core.dir, logFileName(number))), LogKind.Wal);
      await wal.sync();
      await core.fs.syncDir(core.dir);
      return { wal, number };
    })();
    // A failure is reported by the switch that awaits this; meanwhile it counts as a background error.
    prepared.catch((err: unknown) => this.background.recordError(err));
    return prepared;
  }

  private async makeRoomSlow(): Promise<void> {
    const core = this.core;
    const started = Date.now();
    try {
      // Each pass waits for a background job to finish, or switches the memtable and returns.
      for (;;) {
        if (core.state === 'closed') throw new ClosedError();
        if (core.versions.current().files(0).length >= core.options.l0StopWritesTrigger) {
          this.background.maybeScheduleCompaction();
          await this.background.waitForEvent();
          continue;
        }
        if (core.mem.approximateBytes < core.options.memtableBytesMax) return;
        if (core.imm !== undefined) {
          const failure = this.background.flushFailure();
          if (failure !== undefined) {
            throw new JobFailedError('flush of the immutable memtable is failing; retrying in the background', failure);
          }
          await this.background.waitForEvent();
          continue;
        }
        await this.switchMemtable();
        return;
      }
    } finally {
      core.counters.stallMs += Date.now() - started;
    }
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
      const retired = old.sync().finally(() => old.close());
      this.previousWalSync = retired;
      core.immWalSync = retired;
      // Once durable, synced groups need not wait for it any more.
      retired.then(
        () => {
          if (this.previousWalSync === retired) this.previousWalSync = undefined;
        },
        (err: unknown) => this.background.recordError(err),
      );
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
