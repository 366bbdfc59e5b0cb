/**
 * Group commit for the write-ahead log (after leveldb's DBImpl::Write writer queue and
 * BuildBatchGroup). Writers that arrive in the same turn of the event loop, or while the previous
 * group is waiting for its fsync, form one group: their batches go to the log in ONE append call
 * (one write(2)) and, if any of them asked for `sync`, share ONE fsync. Only then are they applied to
 * the memtable and made visible, in sequence order, and their promises resolved.
 *
 * What must hold:
 * - groups commit strictly one after another, so sequence numbers become visible in order;
 * - a writer's promise resolves only after its record is in the log (and synced if it asked);
 * - a failed log write fails its whole group: nothing of it becomes visible. Later writes go on
 *   through makeRoomForWrite, which first moves the tree to a fresh log (write-path.ts; the failed
 *   log's state is unknown, as leveldb's bg_error_ says, but the tree recovers from it rather than
 *   refusing writes until reopened).
 */
import { assert } from '../util/assert.js';
import type { WriteBatch } from './write-batch.js';

export interface PendingWrite {
  batch: WriteBatch;
  sync: boolean;
  /** Opaque user metadata recorded with the memtable this write lands in (see LsmTreeOptions.wal). */
  meta: Uint8Array | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** What the tree does for a group; implemented by LsmTree. */
export interface GroupCommitter {
  /** Resolves once there is room in the memtable for more writes (may wait for a flush). */
  makeRoomForWrite(): Promise<void> | undefined;
  /** Logs, syncs if asked, applies and publishes one group. */
  commitGroup(group: PendingWrite[]): Promise<void> | undefined;
}

/** Writers in one group, at most: bounds the size of one log append. */
export const GROUP_WRITERS_MAX = 4096;

/** Groups committed from microtasks before one waits for an event-loop turn. */
export const GROUPS_PER_YIELD = 64;

/** Work that must run between groups, alone: a memtable switch asked for by flush(). */
interface PendingTask {
  task: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

type PendingItem = PendingWrite | PendingTask;

function isTask(item: PendingItem): item is PendingTask {
  return 'task' in item;
}

export class WriteQueue {
  private pending: PendingItem[] = [];
  private scheduled = false;
  private running = false;
  private idleWaiters: Array<() => void> = [];
  private groupsSinceYield = 0;

  constructor(private readonly committer: GroupCommitter) {}

  get idle(): boolean {
    return !this.running && !this.scheduled && this.pending.length === 0;
  }

  enqueue(batch: WriteBatch, sync: boolean, meta: Uint8Array | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batch, sync, meta, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Runs `task` in queue order: after every write queued before it has committed, before any
   * queued after it, with no group in progress. The tree switches memtables this way (and only
   * this way, or from makeRoomForWrite, which also runs between groups), so a switch never lands
   * between a group's log write and its memtable insert, and two switches never overlap.
   */
  runExclusive(task: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ task, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // Groups are scheduled as microtasks (a put costs no event-loop turn), but a caller that
    // awaits put after put in a loop would then never let the event loop run: flush results,
    // timers and sockets would starve. Every GROUPS_PER_YIELD groups, one waits for a turn.
    if (++this.groupsSinceYield >= GROUPS_PER_YIELD) {
      this.groupsSinceYield = 0;
      setImmediate(() => void this.drain());
    } else {
      queueMicrotask(() => void this.drain());
    }
  }

  /** Resolves when no write is queued or in progress. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    this.scheduled = false;
    assert(!this.running, 'WriteQueue.drain re-entered');
    this.running = true;
    try {
      // Each pass runs one task or commits at least one writer, so the loop ends once the queue
      // stops refilling.
      while (this.pending.length > 0) {
        const first = this.pending[0]!;
        if (isTask(first)) {
          this.pending.shift();
          try {
            await first.task();
            first.resolve();
          } catch (err) {
            first.reject(err);
          }
          continue;
        }
        const room = this.committer.makeRoomForWrite();
        if (room !== undefined) {
          try {
            await room;
          } catch (err) {
            // No room (background work keeps failing, or the tree is read-only): the queued
            // writes fail, nothing was logged.
            this.failAll(this.takeWrites(Infinity), err);
            continue;
          }
        }
        const group = this.takeWrites(GROUP_WRITERS_MAX);
        if (group.length === 0) continue;
        try {
          const done = this.committer.commitGroup(group);
          if (done !== undefined) await done;
        } catch (err) {
          // The group may be in the log (a failed fsync after the append); its outcome is unknown.
          this.failAll(group, err);
          continue;
        }
        for (const w of group) w.resolve();
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** The writes at the front of the queue, up to the first task and at most `max` of them. */
  private takeWrites(max: number): PendingWrite[] {
    let n = 0;
    while (n < this.pending.length && n < max && !isTask(this.pending[n]!)) n++;
    return this.pending.splice(0, n) as PendingWrite[];
  }

  private failAll(writers: PendingWrite[], err: unknown): void {
    for (const w of writers) w.reject(err);
  }
}
