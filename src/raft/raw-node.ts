/**
 * The driver's handle on one Raft group, after etcd-io/raft's rawnode.go: a synchronous wrapper
 * around the state machine that batches its outputs into Ready structs.
 *
 * Driver contract, per turn:
 *   rd = node.ready();
 *   persist rd.snapshot, rd.entries, rd.hardState into Storage (fsync when rd.mustSync);
 *   send rd.messages (only now: they may grant a vote or acknowledge entries persisted just above);
 *   apply rd.committedEntries in order, calling applyConfChange for confChange entries;
 *   answer rd.readStates;
 *   node.advance(rd).
 * ready() may be called again only after advance() of the previous Ready.
 *
 * Time is tick() (the driver decides the tick length); randomness is config.random. Nothing here
 * blocks, awaits, or reads a clock.
 */
import { INVARIANTS, assert } from '../util/assert.js';
import { InvalidArgumentError } from '../errors.js';
import { ProposalDroppedError } from './errors.js';
import type { RaftConfig } from './config.js';
import { Raft } from './raft.js';
import type { ProgressState } from './progress.js';
import type { Storage } from './storage.js';
import {
  NONE,
  cloneConfState,
  encodeConfChange,
  hardStateEqual,
  isEmptyHardState,
  isLocalMessage,
  isResponseMessage,
  makeMessage,
  type ConfChange,
  type ConfState,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Role,
  type SoftState,
} from './types.js';

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: Role;
  /** Only on the leader. */
  progress?: Map<NodeId, ProgressStatus>;
  conf: ConfState;
  leadTransferee: NodeId;
}

/**
 * The status without the configuration and the followers' progress (etcd raft's BasicStatus,
 * status.go): no arrays or maps to copy, cheap enough to ask on every request.
 */
export type RaftBasicStatus = Omit<RaftStatus, 'progress' | 'conf'>;

export class RawNode {
  /** The state machine. Exposed for tests and the simulator's invariant checks; drivers use the methods. */
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** Set between ready() and advance(). */
  private readyOutstanding = false;

  constructor(config: RaftConfig, storage: Storage) {
    this.raft = new Raft(config, storage);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first if configured). */
  campaign(): void {
    this.raft.step(makeMessage({ type: 'hup', from: this.raft.id }));
  }

  /** Proposes `data`. Throws ProposalDroppedError when no leader is known or a transfer is in progress. */
  propose(data: Uint8Array): void {
    const r = this.raft.step(makeMessage({
      type: 'prop',
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: 'normal', data }],
    }));
    if (r === 'dropped') throw new ProposalDroppedError(this.dropReason());
  }

  /**
   * Proposes each of `data`, in order, as the entries of ONE proposal: a leader appends them and
   * broadcasts one append for all, a follower forwards one message. Throws ProposalDroppedError as
   * propose() does; then none of them was proposed.
   */
  proposeAll(data: readonly Uint8Array[]): void {
    assert(data.length > 0, 'proposeAll of nothing');
    const r = this.raft.step(makeMessage({
      type: 'prop',
      from: this.raft.id,
      entries: data.map((d) => ({ term: 0, index: 0, type: 'normal' as const, data: d })),
    }));
    if (r === 'dropped') throw new ProposalDroppedError(this.dropReason());
  }

  /**
   * Proposes a membership change. The leader turns it into an empty entry if another change is
   * still unapplied or it has not yet committed an entry of its term; watch for the change to be
   * applied (applyConfChange) to know it took effect.
   */
  proposeConfChange(cc: ConfChange): void {
    const r = this.raft.step(makeMessage({
      type: 'prop',
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: 'confChange', data: encodeConfChange(cc) }],
    }));
    if (r === 'dropped') throw new ProposalDroppedError(this.dropReason());
  }

  /** Applies a committed conf change (the driver calls this while applying the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Steps a message received from a peer. Local message types ('hup', 'beat', 'unreachable',
   * 'snapStatus', 'checkQuorum') are refused with InvalidArgumentError; use the methods instead.
   * 'prop', 'readIndex' and 'transferLeader' are accepted: followers forward them to the leader.
   * Responses from nodes outside the configuration are ignored; a forwarded proposal the leader
   * cannot accept is dropped silently (the proposer times out and retries).
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) {
      throw new InvalidArgumentError(`raft: cannot step local message type ${m.type} from the network`, 'KV_ERR_INVALID_ARGUMENT');
    }
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) return;
    this.raft.step(m);
  }

  /**
   * Requests a linearizable read. When it is safe to read, a ReadState with the same context appears
   * in a Ready (on this node): the driver serves the read once it has applied up to its index.
   * Throws ProposalDroppedError when no leader is known. No ReadState appears if leadership is lost
   * meanwhile: the driver times the request out.
   */
  readIndex(context: Uint8Array): void {
    // Requests are matched to heartbeat acknowledgements by context, so it must be non-empty and
    // unique among the node's outstanding reads.
    if (context.length === 0) throw new InvalidArgumentError('raft: readIndex context must not be empty', 'KV_ERR_INVALID_ARGUMENT');
    const r = this.raft.step(makeMessage({ type: 'readIndex', from: this.raft.id, context }));
    if (r === 'dropped') throw new ProposalDroppedError(this.dropReason());
  }

  /** Asks the leader to hand leadership to `to` (forwarded if this node is a follower). */
  transferLeadership(to: NodeId): void {
    this.raft.step(makeMessage({ type: 'transferLeader', from: to }));
  }

  /** The driver could not deliver a message to `id`. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: 'unreachable', from: id }));
  }

  /** Outcome of sending a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(makeMessage({ type: 'snapStatus', from: id, reject: !ok }));
  }

  private dropReason(): string {
    if (this.raft.leadTransferee !== NONE) return `leadership transfer to ${this.raft.leadTransferee} in progress`;
    if (this.raft.lead === NONE) return `no leader at term ${this.raft.term}`;
    return `proposal not accepted by node ${this.raft.id} (uncommitted bytes limit or removed)`;
  }

  hasReady(): boolean {
    const r = this.raft;
    const ss = r.softState();
    if (ss.leader !== this.prevSoftState.leader || ss.role !== this.prevSoftState.role) return true;
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState)) return true;
    if (r.raftLog.unstable.snapshot !== undefined) return true;
    if (r.msgs.length > 0 || r.raftLog.unstableEntries().length > 0 || r.raftLog.hasNextEnts()) return true;
    return r.readStates.length > 0;
  }

  /** The work to do this turn. Call advance(rd) when it is done. */
  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    const r = this.raft;
    const rd: Ready = {
      readStates: r.readStates,
      entries: [...r.raftLog.unstableEntries()],
      committedEntries: r.raftLog.nextEnts(),
      messages: r.takeMessages(),
      mustSync: false,
    };
    const ss = r.softState();
    if (ss.leader !== this.prevSoftState.leader || ss.role !== this.prevSoftState.role) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = r.hardState();
    if (!hardStateEqual(hs, this.prevHardState)) {
      rd.hardState = hs;
    }
    if (r.raftLog.unstable.snapshot !== undefined) rd.snapshot = r.raftLog.unstable.snapshot;
    // A new vote or term must be durable before any message is sent; so must new entries. A commit
    // index change alone need not be synced (it can be recomputed from a quorum).
    rd.mustSync = rd.entries.length > 0 || hs.vote !== this.prevHardState.vote || hs.term !== this.prevHardState.term;
    if (rd.hardState !== undefined) this.prevHardState = hs;
    r.readStates = [];
    this.readyOutstanding = true;
    return rd;
  }

  /** Tells the node the Ready was persisted, sent and applied. */
  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without a ready()');
    this.readyOutstanding = false;
    const log = this.raft.raftLog;
    if (rd.committedEntries.length > 0) {
      log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    } else if (rd.snapshot !== undefined && rd.snapshot.meta.index > log.applied) {
      log.appliedTo(rd.snapshot.meta.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      log.stableTo(last.index, last.term);
    }
    if (rd.snapshot !== undefined) log.stableSnapTo(rd.snapshot.meta.index);
    this.raft.reduceUncommittedBytes(rd.committedEntries);
    assert(log.applied <= log.committed, () => `applied ${log.applied} > committed ${log.committed}`);
    if (INVARIANTS) log.checkInvariants();
  }

  basicStatus(): RaftBasicStatus {
    const r = this.raft;
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.raftLog.committed,
      applied: r.raftLog.applied,
      lead: r.lead,
      role: r.role,
      leadTransferee: r.leadTransferee,
    };
  }

  status(): RaftStatus {
    const r = this.raft;
    const st: RaftStatus = { ...this.basicStatus(), conf: cloneConfState(r.trk.confState()) };
    if (r.role === 'leader') {
      st.progress = new Map();
      for (const id of r.trk.memberIds()) {
        const pr = r.trk.progress.get(id)!;
        st.progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
      }
    }
    return st;
  }
}
