/**
 * The Ready loop: the one place a node drives its Raft core, after etcd's raft README ("the
 * Ready contract") and etcdserver's raftNode.start loop. Each turn:
 *   1. persist: install rd.snapshot (state tree, then log), then append rd.entries and rd.hardState
 *      in ONE batch of the log tree, fsynced when rd.mustSync (group commit: the proposals that
 *      arrived while the previous turn was waiting on its fsync all share this one);
 *   2. send rd.messages, which may grant votes or acknowledge entries made durable in step 1.
 *      Messages that claim nothing about this node's disk leave BEFORE step 1 instead (earlySend):
 *      a request forwarded to the leader ('prop', 'readIndex'), which would otherwise wait for this
 *      node's fsyncs of the leader's appends; and a leader's appends, heartbeats and read index
 *      answers (Raft thesis §10.2.1; etcd's raftNode sends a leader's messages before its WAL
 *      save), so the followers' fsyncs overlap the leader's. Safe: the core counts a leader's own
 *      unsynced entries toward its commit index, but that index leaves this node (and its entries
 *      are applied) only in a LATER turn, which starts after this turn's sync; an ack still means
 *      durable on the follower that sends it;
 *   3. apply rd.committedEntries in order: runs of normal entries as one state-tree batch each;
 *      a conf change through RawNode.applyConfChange, its conf state synced in the log store BEFORE
 *      the state tree records its index (so a restart never skips a membership change);
 *   4. hand rd.readStates to the node (linearizable reads wait for the applied index);
 *   5. advance.
 * One overlap is allowed: committed entries already durable here before the turn are applied while
 * the turn's new entries are synced (they cannot depend on them).
 * Between turns the loop does maintenance: it makes snapshots (log compaction, or one a lagging
 * follower needs) while no apply runs, and starts flushes of the state tree in the background so a
 * restart re-applies a bounded part of the log (the node's: src/node/state-flush.ts). Maintenance
 * may hold the loop (a snapshot's checkpoint; a flush that fell behind its bound): that is the
 * back-pressure on applies.
 *
 * The driver sees its core, log store and state machine only through the small interfaces below
 * (RawNode, RaftLogStore and KvStateMachine satisfy them structurally), so the simulator in
 * src/sim runs this same object over in-memory ones, as TigerBeetle's VOPR runs the real replica
 * over simulated storage and network (src/testing/storage.zig).
 *
 * What must hold: one turn at a time (the loop is the only caller of ready/advance); no message of
 * a turn leaves before its persistence resolved; entries are applied exactly once per incarnation,
 * in index order; a failed write stops the node (fail-stop: the disk state is unknown).
 */
import type { RawNode } from '../raft/raw-node.js';
import {
  decodeConfChange,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
} from '../raft/types.js';
import { assert } from '../util/assert.js';
import type { ApplyResult } from './state-machine.js';

/** Turns per loop run before yielding to the event loop (so sockets and timers are served). */
const TURNS_PER_RUN_MAX = 64;

/** What the driver needs of the Raft core (src/raft/raw-node.ts's RawNode). */
export interface DriverCore {
  hasReady(): boolean;
  ready(): Ready;
  advance(rd: Ready): void;
  applyConfChange(cc: ConfChange): ConfState;
}

/** What the driver needs of the durable log (src/node/log-store.ts's RaftLogStore). */
export interface DriverLogStore {
  /** The last index written (durable once the append that wrote it resolved). */
  lastIndex(): number;
  /** Writes entries and hard state as one batch; with sync, durable when this resolves. */
  append(entries: Entry[], hardState: HardState | undefined, sync: boolean): Promise<void>;
  /** Durable when this resolves. */
  setConfState(cs: ConfState): Promise<void>;
}

/** What the driver needs of the state machine (src/node/state-machine.ts's KvStateMachine). */
export interface DriverStateMachine<R> {
  readonly appliedIndex: number;
  /** Applies committed entries in index order; one result per entry. */
  apply(entries: readonly Entry[]): Promise<R[]>;
}

export interface DriverOptions {
  /** Turns per loop run (default TURNS_PER_RUN_MAX). */
  turnsPerRunMax?: number;
  /** Runs `fn` later, after pending IO (default setImmediate); the loop re-kicks itself with it. */
  schedule?: (fn: () => void) => void;
}

export interface DriverHooks<R = ApplyResult> {
  /** Step 2: sends one message (a 'snap' message too: the node streams the files first). */
  send(m: Message): void;
  softState(ss: SoftState): void;
  /** Results of applied normal entries (put/del/noop/rejected), in order. */
  applied(results: readonly R[]): void;
  /** A conf change was applied (conf state already durable). */
  confChangeApplied(cc: ConfChange, conf: ConfState, index: number): Promise<void>;
  readStates(rs: readonly ReadState[]): void;
  /** After each turn: the applied index and the term of the entry (or snapshot) at it. */
  appliedTo(index: number, term: number): void;
  /** The term this node is at (from the turn's hard state). */
  term(term: number): void;
  /** Step 1 for a snapshot: makes it the state machine's and the log's. */
  installSnapshot(s: Snapshot): Promise<void>;
  /** Work between turns; resolves true if it did something (the loop then checks again). */
  maintenance(): Promise<boolean>;
  /** The loop failed (IO error, or a bug): the node must stop. */
  fatal(err: unknown): void;
}

/**
 * Whether `m` may be sent before this turn's persist: it claims nothing about this node's log or
 * hard state being durable (driver header, step 2).
 */
export function earlySend(m: Message, leading: boolean): boolean {
  if (m.type === 'prop' || m.type === 'readIndex') return true;
  return leading && (m.type === 'app' || m.type === 'heartbeat' || m.type === 'readIndexResp');
}

export class RaftDriver<N extends DriverCore = RawNode, R = ApplyResult> {
  private running = false;
  private stopped = false;
  /** Set while the loop must stay idle (a join resets the node under it). */
  private pauseWaiters: Array<() => void> | undefined;
  private idleWaiters: Array<() => void> = [];
  private turns = 0;
  private syncs = 0;
  /** Term of the last entry (or snapshot) applied. */
  private appliedTerm = 0;
  /** Whether the core was leader at its last soft state (its appends may leave before the sync). */
  private leading = false;

  private readonly turnsPerRunMax: number;
  private readonly schedule: (fn: () => void) => void;

  constructor(
    private raw: N,
    private readonly logStore: DriverLogStore,
    private readonly stateMachine: () => DriverStateMachine<R>,
    private readonly hooks: DriverHooks<R>,
    options: DriverOptions = {},
  ) {
    this.turnsPerRunMax = options.turnsPerRunMax ?? TURNS_PER_RUN_MAX;
    assert(this.turnsPerRunMax > 0, 'turnsPerRunMax must be positive');
    this.schedule = options.schedule ?? ((fn) => setImmediate(fn));
  }

  get rawNode(): N {
    return this.raw;
  }

  get stats(): { turns: number; syncs: number } {
    return { turns: this.turns, syncs: this.syncs };
  }

  /** Something changed in the core (tick, step, propose): run the loop if it is not running. */
  kick(): void {
    if (this.running || this.stopped || this.pauseWaiters !== undefined) return;
    this.running = true;
    void this.run();
  }

  /** Stops the loop after the current turn; resolves when it is idle. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.whenIdle();
  }

  /** Keeps the loop idle until resume(); resolves once the current turn is over. */
  async pause(): Promise<void> {
    assert(this.pauseWaiters === undefined, 'pause() twice');
    this.pauseWaiters = [];
    await this.whenIdle();
  }

  /** Ends a pause, with a new RawNode if the node was reset meanwhile. */
  resume(raw?: N): void {
    assert(this.pauseWaiters !== undefined, 'resume() without pause()');
    if (raw !== undefined) {
      this.raw = raw;
      this.leading = false; // a new core reports its role in its first soft state
    }
    this.pauseWaiters = undefined;
    this.kick();
  }

  /** Resolves when no loop run is in progress. */
  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    try {
      for (let turn = 0; turn < this.turnsPerRunMax; turn++) {
        if (this.stopped || this.pauseWaiters !== undefined) break;
        const ready = this.raw.hasReady();
        if (ready) await this.turn(this.raw.ready());
        // After every turn, not only when idle: under a steady load the core is never idle, and
        // log compaction and snapshots for followers must still happen. Cheap when nothing is due.
        if (this.stopped || this.pauseWaiters !== undefined) break;
        const maintained = await this.hooks.maintenance();
        if (!ready && !maintained) break;
      }
    } catch (err) {
      this.stopped = true;
      this.hooks.fatal(err);
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
    // More may have become ready while the last turn awaited; yield, then look again.
    if (!this.stopped && this.pauseWaiters === undefined && this.raw.hasReady()) {
      this.schedule(() => this.kick());
    }
  }

  private async turn(rd: Ready): Promise<void> {
    const raw = this.raw;
    this.turns++;
    if (rd.softState !== undefined) {
      this.hooks.softState(rd.softState);
      this.leading = rd.softState.role === 'leader';
    }
    if (rd.hardState !== undefined) this.hooks.term(rd.hardState.term);

    // 2 (what may leave before the persist, see the header).
    const later: Message[] = [];
    for (const m of rd.messages) {
      if (earlySend(m, this.leading)) this.hooks.send(m);
      else later.push(m);
    }

    // 1. Persist. Committed entries that were already durable here before this turn (a prefix of
    // normal entries below the first new one) are applied while the new ones are synced: they do
    // not depend on this turn's writes, and applying them early answers their clients one fsync
    // sooner. The rest is applied after the sync, as the contract says.
    let early = 0;
    if (rd.snapshot === undefined || rd.snapshot.meta.index === 0) {
      const durableLast = Math.min(this.logStore.lastIndex(), rd.entries.length > 0 ? rd.entries[0]!.index - 1 : Number.MAX_SAFE_INTEGER);
      while (early < rd.committedEntries.length && rd.committedEntries[early]!.index <= durableLast && rd.committedEntries[early]!.type === 'normal') early++;
    }
    const applyEarly = early > 0 ? this.apply(raw, rd.committedEntries.slice(0, early)) : undefined;
    // Its failure is handled below (awaited in `finally`), even if it fails while the write runs.
    applyEarly?.catch(() => undefined);
    try {
      if (rd.snapshot !== undefined && rd.snapshot.meta.index > 0) {
        await this.hooks.installSnapshot(rd.snapshot);
        this.appliedTerm = rd.snapshot.meta.term;
      }
      if (rd.entries.length > 0 || rd.hardState !== undefined) {
        await this.logStore.append(rd.entries, rd.hardState, rd.mustSync);
        if (rd.mustSync) this.syncs++;
      }
    } finally {
      // Never leave an apply running behind a failed write: the error surfaces after it settles.
      if (applyEarly !== undefined) await applyEarly;
    }

    // 2. Send (the rest).
    for (const m of later) this.hooks.send(m);

    // 3. Apply (what was not applied early).
    if (rd.committedEntries.length > early) await this.apply(raw, rd.committedEntries.slice(early));

    // 4. Reads.
    if (rd.readStates.length > 0) this.hooks.readStates(rd.readStates);

    // 5. Advance.
    raw.advance(rd);
    this.hooks.appliedTo(this.stateMachine().appliedIndex, this.appliedTerm);
  }

  private async apply(raw: N, entries: Entry[]): Promise<void> {
    const sm = this.stateMachine();
    // Entries at or below the state machine's index are already in it: after a restart the core
    // re-delivers from its applied index, which is at least the state tree's durable one.
    let start = 0;
    while (start < entries.length && entries[start]!.index <= sm.appliedIndex) start++;
    if (start < entries.length) this.appliedTerm = entries[entries.length - 1]!.term;
    // Each pass applies one run of normal entries or one conf change.
    for (let i = start; i < entries.length;) {
      const e = entries[i]!;
      if (e.type === 'confChange') {
        const cc = decodeConfChange(e.data);
        const conf = raw.applyConfChange(cc);
        await this.logStore.setConfState(conf);
        await sm.apply([e]);
        await this.hooks.confChangeApplied(cc, conf, e.index);
        i++;
        continue;
      }
      let j = i;
      while (j < entries.length && entries[j]!.type === 'normal') j++;
      const results = await sm.apply(entries.slice(i, j));
      this.hooks.applied(results);
      i = j;
    }
  }
}
