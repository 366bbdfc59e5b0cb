/**
 * One simulated Raft node: the real core (an injected RawNode class, so a mutant core can be
 * dropped in), its durable storage, and the key-value state machine it applies to. It follows the
 * Ready contract of etcd-io/raft's rawnode.go exactly as a real driver would: persist (snapshot,
 * entries, hard state), then send, then apply, then answer reads, then advance.
 *
 * Durability model: the storage object IS the disk. It is written only when a Ready is persisted;
 * a crash throws away the RawNode, the state machine, a Ready taken but not yet persisted, a hard
 * state written by a Ready that did not ask for a sync (rd.mustSync false) and not synced since,
 * and the pending client requests. A "slow disk" holds a Ready for a few steps before persisting it, and
 * none of its messages leaves before that (the node keeps ticking and stepping meanwhile, as etcd
 * allows between ready() and advance()). Restart rebuilds the state machine from the storage's
 * snapshot and lets the core re-deliver the committed entries after it.
 */

import type { RaftConfig } from '../raft/config.js';
import type { Storage } from '../raft/storage.js';
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Ready, Role, Snapshot } from '../raft/types.js';
import { decodeConfChange } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { fromUtf8, utf8 } from '../util/bytes.js';
import { SafetyViolation, type SafetyChecker } from './invariants.js';
import type { Random } from './random.js';

/** The RawNode surface the simulator drives. */
export interface SimRawNode {
  tick(): void;
  step(m: Message): void;
  propose(data: Uint8Array): void;
  proposeConfChange(cc: ConfChange): void;
  applyConfChange(cc: ConfChange): ConfState;
  readIndex(context: Uint8Array): void;
  transferLeadership(to: NodeId): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(rd: Ready): void;
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, ok: boolean): void;
}

/** The MemoryStorage surface the simulator writes. */
export interface SimStorage extends Storage {
  setHardState(hs: HardState): void;
  setConfState(cs: ConfState): void;
  append(entries: Entry[]): void;
  applySnapshot(s: Snapshot): void;
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot;
  compact(index: number): void;
}

/** The core under test, injected: the real one from src/raft, or a mutant copy. */
export interface RaftCore {
  RawNode: new (config: RaftConfig, storage: Storage) => SimRawNode;
  MemoryStorage: new () => SimStorage;
}

/** A client command as carried in a log entry. */
export type KvCommand = { opId: number; kind: 'put'; key: string; value: string } | { opId: number; kind: 'delete'; key: string };

export function encodeCommand(c: KvCommand): Uint8Array {
  return utf8(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const c = JSON.parse(fromUtf8(data)) as KvCommand;
  assert(typeof c.opId === 'number' && typeof c.key === 'string', 'malformed command in a log entry');
  return c;
}

/**
 * The replicated state machine: the key-value map plus the ids of the commands already applied.
 * A command can reach the log twice (the network duplicates a forwarded proposal), and applying
 * it twice could undo a later write; like a real store's client sessions (Raft thesis 6.3), the
 * state machine applies each command id once.
 */
export interface KvStateMachine {
  kv: Map<string, string>;
  appliedOps: Set<number>;
}

export function emptyStateMachine(): KvStateMachine {
  return { kv: new Map(), appliedOps: new Set() };
}

/** The state machine's snapshot bytes: its pairs sorted by key, and its applied command ids. */
export function encodeKvSnapshot(sm: KvStateMachine): Uint8Array {
  const kv = [...sm.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return utf8(JSON.stringify({ kv, ops: [...sm.appliedOps].sort((a, b) => a - b) }));
}

export function decodeKvSnapshot(data: Uint8Array): KvStateMachine {
  if (data.length === 0) return emptyStateMachine();
  const o = JSON.parse(fromUtf8(data)) as { kv: Array<[string, string]>; ops: number[] };
  return { kv: new Map(o.kv), appliedOps: new Set(o.ops) };
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

export interface SlowDisk {
  /** Probability that a Ready is held before it is persisted. */
  rate: number;
  maxDelaySteps: number;
}

/** Readies handled per node per step at most (each handles everything pending at the time). */
const READIES_PER_STEP_MAX = 4;

export class SimNode {
  readonly id: NodeId;
  readonly storage: SimStorage;
  private readonly core: RaftCore;
  private readonly host: NodeHost;
  private readonly configBase: Omit<RaftConfig, 'id' | 'random' | 'appliedIndex'>;
  private readonly rng: Random;

  raw: SimRawNode | undefined;
  sm: KvStateMachine = emptyStateMachine();
  applied = 0;
  conf: ConfState = { voters: [], learners: [] };
  role: Role = 'follower';
  lead: NodeId = 0;
  term = 0;
  /** The term this node is leader of, 0 if it is not leader (as of the last handled Ready). */
  leaderTerm = 0;
  /** The newest hard state written but not yet synced: a crash loses it. */
  private unsyncedHardState: HardState | undefined;
  /** A Ready taken from the core but not yet persisted (slow disk). */
  private held: { rd: Ready; persistAtStep: number } | undefined;
  /** Reads waiting for their ReadState, by context. */
  private readonly readsByContext = new Map<string, number>();
  /** Reads that have a read index and wait for the state machine to reach it. */
  private readsAwaitingApply: Array<{ index: number; opId: number }> = [];
  restartAtStep = 0;
  readiesHandled = 0;
  snapshotsInstalled = 0;

  constructor(id: NodeId, core: RaftCore, host: NodeHost, configBase: Omit<RaftConfig, 'id' | 'random' | 'appliedIndex'>, rng: Random) {
    this.id = id;
    this.core = core;
    this.host = host;
    this.configBase = configBase;
    this.rng = rng;
    this.storage = new core.MemoryStorage();
  }

  get alive(): boolean {
    return this.raw !== undefined;
  }

  /** Writes an initial configuration to an empty disk: a snapshot at index 1, term 1. */
  bootstrap(voters: readonly NodeId[]): void {
    assert(this.storage.lastIndex() === 0, 'bootstrap on a non-empty disk');
    const snap: Snapshot = { meta: { index: 1, term: 1, conf: { voters: [...voters], learners: [] } }, data: encodeKvSnapshot(emptyStateMachine()) };
    this.storage.applySnapshot(snap);
    this.storage.setHardState({ term: 1, vote: 0, commit: 1 });
  }

  /** Starts (or restarts) the node from what its disk holds. */
  start(): void {
    assert(this.raw === undefined, 'start of a running node');
    const snap = this.storage.snapshot();
    this.sm = decodeKvSnapshot(snap.data);
    this.applied = snap.meta.index;
    this.conf = { voters: [...snap.meta.conf.voters], learners: [...snap.meta.conf.learners] };
    // The state machine restarts from the snapshot, so the configuration does too; the committed
    // conf changes after it are re-delivered and re-applied.
    this.storage.setConfState(this.conf);
    const hs = this.storage.initialState().hardState;
    this.term = hs.term;
    this.role = 'follower';
    this.lead = 0;
    this.leaderTerm = 0;
    const rng = this.rng;
    this.raw = new this.core.RawNode({ ...this.configBase, id: this.id, random: () => rng.next(), appliedIndex: this.applied }, this.storage);
  }

  /** Loses everything not on disk. */
  crash(): void {
    assert(this.raw !== undefined, 'crash of a stopped node');
    this.raw = undefined;
    this.held = undefined;
    this.unsyncedHardState = undefined;
    this.sm = emptyStateMachine();
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

  /** Takes and handles Readies, honouring the slow disk. */
  handleReadies(slowDisk: SlowDisk): void {
    const now = this.host.nowStep();
    for (let i = 0; i < READIES_PER_STEP_MAX; i++) {
      if (this.raw === undefined) return;
      if (this.held !== undefined) {
        if (now < this.held.persistAtStep) return;
        const rd = this.held.rd;
        this.held = undefined;
        this.finishReady(rd);
        continue;
      }
      if (!this.raw.hasReady()) return;
      const rd = this.raw.ready();
      if (slowDisk.rate > 0 && this.rng.chance(slowDisk.rate)) {
        this.held = { rd, persistAtStep: now + 1 + this.rng.int(slowDisk.maxDelaySteps) };
        return;
      }
      this.finishReady(rd);
    }
  }

  /** Makes a snapshot of the state machine at the applied index and compacts the log before it. */
  compact(keepEntries: number): boolean {
    if (this.raw === undefined) return false;
    const snapIndex = this.storage.snapshot().meta.index;
    if (this.applied <= snapIndex) return false;
    // Taking a snapshot syncs: a snapshot must never be ahead of the durable commit index.
    this.syncHardState();
    this.storage.createSnapshot(this.applied, this.conf, encodeKvSnapshot(this.sm));
    // applied > snapshot index >= firstIndex - 1, so firstIndex <= compactTo <= applied.
    const compactTo = Math.max(this.applied - keepEntries, this.storage.firstIndex());
    this.storage.compact(compactTo);
    this.host.log(`node ${this.id} snapshot at ${this.applied}, log compacted to ${compactTo}`);
    return true;
  }

  private syncHardState(): void {
    if (this.unsyncedHardState === undefined) return;
    this.storage.setHardState(this.unsyncedHardState);
    this.unsyncedHardState = undefined;
  }

  private commitBefore(): number {
    return (this.unsyncedHardState ?? this.storage.initialState().hardState).commit;
  }

  private finishReady(rd: Ready): void {
    const raw = this.raw;
    assert(raw !== undefined, 'finishReady on a stopped node');
    this.readiesHandled++;
    const checker = this.host.checker;
    const leaderTermBefore = this.leaderTerm;

    // 1. Persist.
    const lastIndexBefore = this.storage.lastIndex();
    const commitBefore = this.commitBefore();
    const hasSnapshot = rd.snapshot !== undefined && rd.snapshot.meta.index > 0;
    if (hasSnapshot) this.storage.applySnapshot(rd.snapshot!);
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) {
      this.term = rd.hardState.term;
      this.unsyncedHardState = rd.hardState;
    }
    // Only a synced write survives a crash. The core asks for a sync (mustSync) when the vote or
    // term changed or entries were appended; a commit-only change may stay in the page cache.
    if (this.unsyncedHardState !== undefined && (rd.mustSync || hasSnapshot)) this.syncHardState();
    if (rd.softState !== undefined) {
      this.role = rd.softState.role;
      this.lead = rd.softState.leader;
    }
    this.leaderTerm = this.role === 'leader' ? this.term : 0;
    checker.onPersist({
      nodeId: this.id,
      leaderTermBefore,
      leaderTermAfter: this.leaderTerm,
      lastIndexBefore,
      appliedIndex: this.applied,
      entries: rd.entries,
      snapshot: hasSnapshot ? rd.snapshot : undefined,
      hardState: rd.hardState,
      storage: this.storage,
      commitBefore,
    });
    if (this.leaderTerm !== 0 && this.leaderTerm !== leaderTermBefore) {
      this.host.log(`node ${this.id} is leader of term ${this.leaderTerm}`);
      checker.onLeader(this.id, this.leaderTerm, this.storage);
    }

    // 2. Send.
    for (const m of rd.messages) this.host.send(this, m);

    // 3. Apply.
    if (hasSnapshot) {
      const s = rd.snapshot!;
      this.sm = decodeKvSnapshot(s.data);
      this.applied = s.meta.index;
      this.conf = { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] };
      this.snapshotsInstalled++;
      this.host.log(`node ${this.id} installed snapshot at ${s.meta.index}`);
    }
    for (const e of rd.committedEntries) {
      if (e.index !== this.applied + 1) {
        throw new SafetyViolation('apply-order', `node ${this.id} applies index ${e.index} after ${this.applied}`);
      }
      checker.onApply(this.id, e);
      this.applied = e.index;
      this.applyEntry(raw, e);
    }

    // 4. Reads.
    for (const rs of rd.readStates) {
      const key = fromUtf8(rs.context);
      const opId = this.readsByContext.get(key);
      if (opId === undefined) continue;
      this.readsByContext.delete(key);
      this.readsAwaitingApply.push({ index: rs.index, opId });
    }
    if (this.readsAwaitingApply.length > 0) {
      const still: Array<{ index: number; opId: number }> = [];
      for (const r of this.readsAwaitingApply) {
        if (r.index <= this.applied) {
          this.host.readReady(this, r.opId);
        } else {
          still.push(r);
        }
      }
      this.readsAwaitingApply = still;
    }

    // 5. Advance.
    raw.advance(rd);
  }

  private applyEntry(raw: SimRawNode, e: Entry): void {
    if (e.type === 'confChange') {
      const cc = decodeConfChange(e.data);
      this.conf = raw.applyConfChange(cc);
      this.host.log(`node ${this.id} applied conf change ${cc.type} ${cc.nodeId} at ${e.index}: voters [${this.conf.voters.join(',')}]`);
      return;
    }
    if (e.data.length === 0) return; // a new leader's empty entry, or a refused conf change
    const c = decodeCommand(e.data);
    if (this.sm.appliedOps.has(c.opId)) {
      this.host.log(`node ${this.id} skips duplicate command ${c.opId} at ${e.index}`);
      return;
    }
    this.sm.appliedOps.add(c.opId);
    if (c.kind === 'put') this.sm.kv.set(c.key, c.value);
    else this.sm.kv.delete(c.key);
    this.host.writeApplied(this, c.opId);
  }
}
