/**
 * One simulated Raft node: the real core (an injected RawNode class, so a mutant core can be
 * dropped in) driven by the real Ready loop (an injected RaftDriver class, src/node/driver.ts, so a
 * mutant driver can be dropped in too) over the simulator's in-memory disk (log-store.ts) and
 * key-value state machine (state-machine.ts), as TigerBeetle's VOPR runs the real replica over
 * simulated storage and network. The driver's ordering (persist, send, apply, advance; committed
 * entries already durable applied while the turn's write is in flight) is thus what the
 * simulation checks.
 *
 * Determinism: the disk and the state machine settle their promises at once (microtasks only), and
 * the simulation awaits each node's turn before the next node's: a run depends only on the seed. A
 * slow disk's write stays in flight until a later step; the node's turn is suspended on it then.
 *
 * A crash throws away the RawNode, the driver (with any turn suspended on a write in flight), the
 * state machine, the hard state not synced, and the pending client requests. Restart rebuilds the
 * state machine from the storage's snapshot and lets the core re-deliver the committed entries
 * after it.
 */

import type { DriverCore, DriverHooks, DriverLogStore, DriverOptions, DriverStateMachine } from '../node/driver.js';
import type { RaftConfig } from '../raft/config.js';
import type { Storage } from '../raft/storage.js';
import { decodeConfChange, type ConfChange, type ConfState, type Message, type NodeId, type Role, type Snapshot } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { fromUtf8 } from '../util/bytes.js';
import type { SafetyChecker } from './invariants.js';
import { SimLogStore, type LandedWrite, type SimStorage, type SlowDisk } from './log-store.js';
import type { Random } from './random.js';
import { SimStateMachine, encodeKvSnapshot, type SimApplyResult } from './state-machine.js';

export type { SimStorage, SlowDisk } from './log-store.js';

/** The RawNode surface the simulator drives. */
export interface SimRawNode extends DriverCore {
  tick(): void;
  step(m: Message): void;
  propose(data: Uint8Array): void;
  proposeConfChange(cc: ConfChange): void;
  readIndex(context: Uint8Array): void;
  transferLeadership(to: NodeId): void;
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, ok: boolean): void;
}

/** The driver surface the simulator uses (src/node/driver.ts's RaftDriver). */
export interface SimDriver {
  kick(): void;
  whenIdle(): Promise<void>;
}

/**
 * The code under test, injected: the real core and driver, or mutant copies of them
 * (test/sim/mutants.test.ts).
 */
export interface RaftCore {
  RawNode: new (config: RaftConfig, storage: Storage) => SimRawNode;
  MemoryStorage: new () => SimStorage;
  RaftDriver: new (
    raw: SimRawNode,
    logStore: DriverLogStore,
    stateMachine: () => DriverStateMachine<SimApplyResult>,
    hooks: DriverHooks<SimApplyResult>,
    options?: DriverOptions,
  ) => SimDriver;
}

/** What a node needs from the simulation around it. */
export interface NodeHost {
  readonly checker: SafetyChecker;
  nowStep(): number;
  send(from: SimNode, m: Message): void;
  /** The entry carrying client operation `opId` was applied on `node`. */
  writeApplied(node: SimNode, opId: number): void;
  /** A linearizable read requested on `node` may now read `node.sm` (applied >= its read index). */
  readReady(node: SimNode, opId: number): void;
  log(line: string): void;
}

/** Driver turns (Readies handled) per node per step at most. */
const TURNS_PER_STEP_MAX = 4;

export class SimNode {
  readonly id: NodeId;
  readonly store: SimLogStore;
  private readonly core: RaftCore;
  private readonly host: NodeHost;
  private readonly configBase: Omit<RaftConfig, 'id' | 'random' | 'appliedIndex'>;
  private readonly rng: Random;

  raw: SimRawNode | undefined;
  private driver: SimDriver | undefined;
  /** Resolves the wait of the current step (settle()) early: the turn is suspended on a write. */
  private wake: (() => void) | undefined;
  /** Whether the driver's loop has a run in progress (possibly suspended on a write). */
  private busy = false;
  /** The error that stopped the driver (a safety violation or a core bug), thrown to the simulation. */
  private fatal: { err: unknown } | undefined;
  sm: SimStateMachine;
  conf: ConfState = { voters: [], learners: [] };
  role: Role = 'follower';
  lead: NodeId = 0;
  term = 0;
  /** The term this node is leader of, 0 if it is not leader (as of its last persisted turn). */
  leaderTerm = 0;
  /** Reads waiting for their ReadState, by context. */
  private readonly readsByContext = new Map<string, number>();
  /** Reads that have a read index and wait for the state machine to reach it. */
  private readsAwaitingApply: Array<{ index: number; opId: number }> = [];
  restartAtStep = 0;
  readiesHandled = 0;
  snapshotsInstalled = 0;

  constructor(id: NodeId, core: RaftCore, host: NodeHost, configBase: Omit<RaftConfig, 'id' | 'random' | 'appliedIndex'>, rng: Random, slowDisk: SlowDisk) {
    this.id = id;
    this.core = core;
    this.host = host;
    this.configBase = configBase;
    this.rng = rng;
    this.store = new SimLogStore(new core.MemoryStorage(), rng, slowDisk, () => host.nowStep(), (w) => this.onLanded(w), () => this.wake?.());
    this.sm = this.newStateMachine(this.storage.snapshot());
  }

  get storage(): SimStorage {
    return this.store.storage;
  }

  get alive(): boolean {
    return this.raw !== undefined;
  }

  get applied(): number {
    return this.sm.appliedIndex;
  }

  /** Writes an initial configuration to an empty disk: a snapshot at index 1, term 1. */
  bootstrap(voters: readonly NodeId[]): void {
    assert(this.storage.lastIndex() === 0, 'bootstrap on a non-empty disk');
    const snap: Snapshot = { meta: { index: 1, term: 1, conf: { voters: [...voters], learners: [] } }, data: encodeKvSnapshot({ kv: new Map(), appliedOps: new Set() }) };
    this.storage.applySnapshot(snap);
    this.storage.setHardState({ term: 1, vote: 0, commit: 1 });
  }

  /** Starts (or restarts) the node from what its disk holds. */
  start(): void {
    assert(this.raw === undefined, 'start of a running node');
    const snap = this.storage.snapshot();
    this.sm = this.newStateMachine(snap);
    this.conf = { voters: [...snap.meta.conf.voters], learners: [...snap.meta.conf.learners] };
    // The state machine restarts from the snapshot, so the configuration does too; the committed
    // conf changes after it are re-delivered and re-applied.
    this.storage.setConfState(this.conf);
    this.term = this.storage.initialState().hardState.term;
    this.role = 'follower';
    this.lead = 0;
    this.leaderTerm = 0;
    this.fatal = undefined;
    const rng = this.rng;
    const raw = new this.core.RawNode({ ...this.configBase, id: this.id, random: () => rng.next(), appliedIndex: this.sm.appliedIndex }, this.storage);
    this.raw = raw;
    // The simulation kicks every node each step, so the loop needs no self-scheduling.
    this.driver = new this.core.RaftDriver(raw, this.store, () => this.sm, this.driverHooks(), { turnsPerRunMax: TURNS_PER_STEP_MAX, schedule: () => undefined });
  }

  /** Loses everything not on disk. */
  crash(): void {
    assert(this.raw !== undefined, 'crash of a stopped node');
    this.raw = undefined;
    // A turn suspended on a write in flight is abandoned with its driver: the write never lands.
    this.driver = undefined;
    this.busy = false;
    this.wake = undefined;
    this.store.crash();
    this.sm = this.newStateMachine(this.storage.snapshot());
    this.readsByContext.clear();
    this.readsAwaitingApply = [];
    this.role = 'follower';
    this.lead = 0;
    this.leaderTerm = 0;
  }

  /** Registers a read request made through raw.readIndex with this context. */
  expectRead(context: Uint8Array, opId: number): void {
    this.readsByContext.set(fromUtf8(context), opId);
  }

  /**
   * This node's turn in a step: lands a slow write that is due, runs the driver's loop, and returns
   * once the loop is idle or suspended on a write in flight. Throws what stopped the driver.
   */
  async handleReadies(): Promise<void> {
    const driver = this.driver;
    if (driver === undefined) return;
    this.store.landDue();
    if (!this.busy) {
      // An idle loop with nothing ready would only run maintenance, which is the simulation's.
      if (!this.raw?.hasReady()) return;
      this.busy = true;
      driver.kick();
    }
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      void driver.whenIdle().then(() => {
        if (this.driver === driver) this.busy = false;
        resolve();
      });
      if (this.store.writeInFlight) resolve();
    });
    this.wake = undefined;
    if (this.fatal !== undefined) throw this.fatal.err;
  }

  /** Makes a snapshot of the state machine at the applied index and compacts the log before it. */
  compact(keepEntries: number): boolean {
    // Like the real driver's maintenance, only between turns: never under a turn in progress.
    if (this.raw === undefined || this.busy) return false;
    const applied = this.sm.appliedIndex;
    const snapIndex = this.storage.snapshot().meta.index;
    if (applied <= snapIndex) return false;
    // applied > snapshot index >= firstIndex - 1, so firstIndex <= compactTo <= applied.
    const compactTo = Math.max(applied - keepEntries, this.storage.firstIndex());
    this.store.snapshotAndCompact(applied, this.conf, encodeKvSnapshot(this.sm), compactTo);
    this.host.log(`node ${this.id} snapshot at ${applied}, log compacted to ${compactTo}`);
    return true;
  }

  private newStateMachine(snap: Snapshot): SimStateMachine {
    return new SimStateMachine(this.id, this.host.checker, (line) => this.host.log(line), snap);
  }

  private driverHooks(): DriverHooks<SimApplyResult> {
    return {
      send: (m) => this.host.send(this, m),
      softState: (ss) => {
        this.role = ss.role;
        this.lead = ss.leader;
      },
      applied: (results) => {
        for (const opId of results) if (opId !== undefined) this.host.writeApplied(this, opId);
      },
      confChangeApplied: (cc: ConfChange, conf: ConfState, index: number) => {
        this.conf = conf;
        this.host.log(`node ${this.id} applied conf change ${cc.type} ${cc.nodeId} at ${index}: voters [${conf.voters.join(',')}]`);
        return Promise.resolve();
      },
      readStates: (rs) => {
        for (const r of rs) {
          const key = fromUtf8(r.context);
          const opId = this.readsByContext.get(key);
          if (opId === undefined) continue;
          this.readsByContext.delete(key);
          this.readsAwaitingApply.push({ index: r.index, opId });
        }
        this.releaseReads();
      },
      appliedTo: () => {
        this.readiesHandled++;
        // A turn that wrote nothing can still end a leadership (check quorum).
        this.setLeaderTerm(this.role === 'leader' ? this.term : 0);
        this.releaseReads();
      },
      term: (term) => {
        this.term = term;
      },
      installSnapshot: (s) => {
        this.store.installSnapshot(s);
        this.sm.install(s);
        this.conf = { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] };
        this.snapshotsInstalled++;
        this.host.log(`node ${this.id} installed snapshot at ${s.meta.index}`);
        return Promise.resolve();
      },
      maintenance: () => Promise.resolve(false),
      fatal: (err) => {
        this.fatal = { err };
      },
    };
  }

  /** A write reached the disk: the checker sees it before any message of its turn leaves. */
  private onLanded(w: LandedWrite): void {
    const leaderTermAfter = this.role === 'leader' ? this.term : 0;
    this.host.checker.onPersist({
      nodeId: this.id,
      leaderTermBefore: this.leaderTerm,
      leaderTermAfter,
      lastIndexBefore: w.lastIndexBefore,
      appliedIndex: this.sm.appliedIndex,
      entries: w.entries,
      snapshot: w.snapshot,
      hardState: w.hardState,
      storage: this.storage,
      commitBefore: w.commitBefore,
    });
    this.setLeaderTerm(leaderTermAfter);
  }

  private setLeaderTerm(term: number): void {
    const before = this.leaderTerm;
    this.leaderTerm = term;
    if (term !== 0 && term !== before) {
      this.host.log(`node ${this.id} is leader of term ${term}`);
      this.host.checker.onLeader(this.id, term, this.storage);
    }
  }

  private releaseReads(): void {
    if (this.readsAwaitingApply.length === 0) return;
    const still: Array<{ index: number; opId: number }> = [];
    for (const r of this.readsAwaitingApply) {
      if (r.index <= this.sm.appliedIndex) this.host.readReady(this, r.opId);
      else still.push(r);
    }
    this.readsAwaitingApply = still;
  }
}
