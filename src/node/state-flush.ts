/**
 * When a node flushes its state tree between Ready turns, so that a restart re-applies a bounded
 * part of the log. The state tree has no WAL (state-machine.ts): only a flush records its applied
 * index, and after a crash the driver re-applies every committed entry after the last recorded
 * one. The tree flushes by itself when its memtable fills (memtableBytesMax), and a snapshot
 * flushes it (snapshotEntries); with a large memtable both can be far apart, and a restart then
 * replays most of the log. This is the checkpoint interval of write-ahead-log recovery (ARIES,
 * Mohan et al. 1992; etcd's SnapshotCount plays the part for etcd's backend): the redo work after
 * a crash is bounded by how often the recovery point is made durable.
 *
 * Policy, with `behind` = applied index - durable applied index:
 *   - behind >= entriesMax / 2 and no flush running: start a flush in the background (the tree's
 *     job runner: the worker pool on a real directory); the Ready loop goes on applying into the
 *     tree's next memtable. Not while the tree already flushes a full memtable (that flush records
 *     an applied index too, and a second memtable switch would wait for it, stalling the applies
 *     queued behind the switch), unless behind >= entriesMax.
 *   - behind >= entriesMax: the loop waits for the flush (back-pressure, as a tree stalls writes
 *     on a full memtable), so the bound holds even when applies outrun flushes.
 * One flush at a time.
 *
 * What must hold: a restart re-applies at most entriesMax entries plus those of one Ready turn.
 * A flush that fails with a storage error (typed) is logged and tried again after entriesMax / 2
 * more entries (the tree retries its jobs and stops writes when it must: an apply that fails then
 * stops the node); anything else is a bug and stops the node.
 */
import { LsmraftError } from '../errors.js';
import type { KvStateMachine } from './state-machine.js';

export interface StateFlushDeps {
  /** Bound on the applied entries past the durable applied index (see the header). */
  entriesMax: number;
  /** The node's state machine, undefined while a snapshot replaces it. */
  stateMachine(): KvStateMachine | undefined;
  log(line: string): void;
  fatal(err: unknown): void;
}

export class StateFlusher {
  /** Flushes started (tests, stats). */
  flushesStarted = 0;
  flushesFailed = 0;
  /** Times the loop waited for a flush at the bound. */
  waits = 0;
  /** The running flush, its failure handled: never rejects. */
  private running: Promise<void> | undefined;
  /** After a failed flush: the applied index before which no flush is tried again (no retry storm). */
  private retryAtApplied = 0;
  private readonly startEntries: number;

  constructor(private readonly d: StateFlushDeps) {
    this.startEntries = Math.max(1, Math.floor(d.entriesMax / 2));
  }

  /** Between Ready turns: starts a flush if one is due, waits for it at the bound. True if it did either. */
  async maintenance(): Promise<boolean> {
    const sm = this.d.stateMachine();
    if (sm === undefined) return false;
    const behind = sm.appliedIndex - sm.durableAppliedIndex;
    const atBound = behind >= this.d.entriesMax;
    if (this.running === undefined) {
      if (behind < this.startEntries || sm.appliedIndex < this.retryAtApplied) return false;
      if (!atBound && sm.lsm.stats().memtable.immutableBytes > 0) return false;
      this.start(sm, behind);
      if (!atBound) return true;
    } else if (!atBound) {
      // A flush in flight below the bound is no work done now: answering true here kept the
      // driver's loop (driver.ts run) turning with nothing ready until its turn bound.
      return false;
    }
    this.waits++;
    await this.running;
    return true;
  }

  private start(sm: KvStateMachine, behind: number): void {
    this.flushesStarted++;
    const running = sm.startFlush().then(
      () => undefined,
      (err: unknown) => {
        if (!(err instanceof LsmraftError)) {
          this.d.fatal(err);
          return;
        }
        this.flushesFailed++;
        this.retryAtApplied = sm.appliedIndex + this.startEntries;
        this.d.log(`state tree flush at ${behind} entries past its durable applied index failed (tried again later): ${err.message}`);
      },
    ).finally(() => {
      this.running = undefined;
    });
    this.running = running;
  }
}
