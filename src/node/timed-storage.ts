/**
 * The driver's log store and state machine with their durations observed (metrics.ts): a synced
 * append of the log tree is etcd's WAL fsync (etcd_disk_wal_fsync_duration_seconds; here the whole
 * group-committed batch, write and fsync), a state-tree apply batch its backend commit
 * (etcd_disk_backend_commit_duration_seconds). Wrapping at the driver's interfaces (driver.ts)
 * keeps the clock out of the trees and the driver.
 */
import { performance } from 'node:perf_hooks';
import type { Entry } from '../raft/types.js';
import type { DriverLogStore, DriverStateMachine } from './driver.js';

export function timedLogStore(store: DriverLogStore, synced: (seconds: number) => void): DriverLogStore {
  return {
    lastIndex: () => store.lastIndex(),
    append: async (entries, hardState, sync) => {
      const t0 = performance.now();
      await store.append(entries, hardState, sync);
      if (sync) synced((performance.now() - t0) / 1000);
    },
    setConfState: (cs) => store.setConfState(cs),
  };
}

/** One wrapper per state machine instance (a snapshot install replaces the instance). */
export class TimedStateMachine<R> implements DriverStateMachine<R> {
  constructor(
    readonly inner: DriverStateMachine<R>,
    private readonly committed: (seconds: number) => void,
  ) {}

  get appliedIndex(): number {
    return this.inner.appliedIndex;
  }

  async apply(entries: readonly Entry[]): Promise<R[]> {
    const t0 = performance.now();
    const results = await this.inner.apply(entries);
    this.committed((performance.now() - t0) / 1000);
    return results;
  }
}
