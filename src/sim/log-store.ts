/**
 * The simulator's disk for one node's Raft log: the driver's log store (DriverLogStore in
 * src/node/driver.ts) over an in-memory raft Storage, with a crash model in the manner of
 * TigerBeetle's simulated storage (src/testing/storage.zig) and Pebble's vfs.NewCrashableMem.
 *
 * Durability model: `storage` IS the disk the core reads. An append lands in it when its write
 * completes; a hard state written without a sync (a commit-only change: the core asks for a sync
 * when the vote or term changed or entries were appended) stays volatile until the next synced
 * write, a snapshot, or a compaction. A crash drops the volatile hard state and a write still in
 * flight. A "slow disk" keeps a write in flight for a few simulation steps: the driver's turn is
 * suspended on it (none of its messages may leave), while the node keeps ticking and stepping, as
 * etcd allows between ready() and advance().
 */

import type { DriverLogStore } from '../node/driver.js';
import type { Storage } from '../raft/storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.js';
import { assert } from '../util/assert.js';
import type { Random } from './random.js';

/** The MemoryStorage surface the simulator writes. */
export interface SimStorage extends Storage {
  setHardState(hs: HardState): void;
  setConfState(cs: ConfState): void;
  append(entries: Entry[]): void;
  applySnapshot(s: Snapshot): void;
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot;
  compact(index: number): void;
}

export interface SlowDisk {
  /** Probability that a write stays in flight for some steps. */
  rate: number;
  maxDelaySteps: number;
}

/** One write as it lands on the disk (for the safety checker). */
export interface LandedWrite {
  entries: Entry[];
  hardState: HardState | undefined;
  snapshot: Snapshot | undefined;
  lastIndexBefore: number;
  commitBefore: number;
}

export class SimLogStore implements DriverLogStore {
  /** The newest hard state written but not yet synced: a crash loses it. */
  private unsyncedHardState: HardState | undefined;
  /** The write in flight on a slow disk: it lands at `atStep`. */
  private inFlight: { atStep: number; land: () => void } | undefined;

  constructor(
    readonly storage: SimStorage,
    private readonly rng: Random,
    private readonly slowDisk: SlowDisk,
    private readonly nowStep: () => number,
    /** Called as each write lands, before the driver's turn goes on. */
    private readonly landed: (w: LandedWrite) => void,
    /** Called when a write goes in flight (the driver's turn is suspended on it). */
    private readonly suspended: () => void,
  ) {}

  get writeInFlight(): boolean {
    return this.inFlight !== undefined;
  }

  lastIndex(): number {
    return this.storage.lastIndex();
  }

  /** The commit index a restart would read now. */
  commitIndex(): number {
    return (this.unsyncedHardState ?? this.storage.initialState().hardState).commit;
  }

  append(entries: Entry[], hardState: HardState | undefined, sync: boolean): Promise<void> {
    assert(this.inFlight === undefined, 'a second write while one is in flight');
    const write = (): void => this.write(entries, hardState, sync, undefined);
    if (!(this.slowDisk.rate > 0 && this.rng.chance(this.slowDisk.rate))) {
      write();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.inFlight = {
        atStep: this.nowStep() + 1 + this.rng.int(this.slowDisk.maxDelaySteps),
        land: () => {
          write();
          resolve();
        },
      };
      this.suspended();
    });
  }

  setConfState(cs: ConfState): Promise<void> {
    this.storage.setConfState(cs);
    return Promise.resolve();
  }

  /** Installs a snapshot durably (with the hard state written before it). */
  installSnapshot(s: Snapshot): void {
    this.write([], undefined, true, s);
  }

  /** Lands the write in flight if its step has come; its turn resumes in the next microtasks. */
  landDue(): void {
    const w = this.inFlight;
    if (w === undefined || this.nowStep() < w.atStep) return;
    this.inFlight = undefined;
    w.land();
  }

  /** Makes a snapshot of the state at `index` and drops the log before `compactTo`. */
  snapshotAndCompact(index: number, conf: ConfState, data: Uint8Array, compactTo: number): void {
    // Taking a snapshot syncs: a snapshot must never be ahead of the durable commit index.
    this.syncHardState();
    this.storage.createSnapshot(index, conf, data);
    this.storage.compact(compactTo);
  }

  /** Loses what was not synced; the write in flight never lands (its turn is never resumed). */
  crash(): void {
    this.unsyncedHardState = undefined;
    this.inFlight = undefined;
  }

  private write(entries: Entry[], hardState: HardState | undefined, sync: boolean, snapshot: Snapshot | undefined): void {
    const lastIndexBefore = this.storage.lastIndex();
    const commitBefore = this.commitIndex();
    if (snapshot !== undefined) this.storage.applySnapshot(snapshot);
    this.storage.append(entries);
    if (hardState !== undefined) this.unsyncedHardState = hardState;
    if (sync || snapshot !== undefined) this.syncHardState();
    this.landed({ entries, hardState, snapshot, lastIndexBefore, commitBefore });
  }

  private syncHardState(): void {
    if (this.unsyncedHardState === undefined) return;
    this.storage.setHardState(this.unsyncedHardState);
    this.unsyncedHardState = undefined;
  }
}
