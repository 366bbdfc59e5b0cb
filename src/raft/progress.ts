/**
 * What the leader knows of one follower's log, after etcd-io/raft's tracker/progress.go.
 *
 *   probe      the leader does not know where the follower's log matches; it sends one append at a
 *              time and backs off on rejection. msgAppFlowPaused stops it after each append, until
 *              the follower answers it or the next heartbeat interval begins: at most one append
 *              per heartbeat interval, however many heartbeat responses arrive.
 *   replicate  the follower is known to match up to `match`; the leader pipelines appends,
 *              optimistically advancing `next`, bounded by the Inflights window (count and bytes).
 *              With the window full, msgAppFlowPaused lets one empty append through per heartbeat
 *              interval (it finds out whether the window's messages were lost).
 *   snapshot   the leader sent a snapshot and sends nothing else until it is reported.
 *
 * Invariants: match < next; in replicate state, inflight indexes lie in (match, next).
 */
import { assert } from '../util/assert.js';
import { Inflights } from './inflights.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match: number;
  next: number;
  state: ProgressState = 'probe';
  /**
   * etcd's MsgAppFlowPaused. Probe: an append was sent and neither an answer nor a new heartbeat
   * interval came since. Replicate: the inflight window was full when the last append was sent.
   * Cleared when the follower acknowledges or rejects (maybeUpdate, maybeDecrTo), and by the leader
   * at each heartbeat interval (Raft.stepLeader, 'beat').
   */
  msgAppFlowPaused = false;
  /**
   * `next` when the flow last paused, and the message batch (Raft.msgsBatch) of the append that
   * paused it: while that batch is still being built, clearing the pause (a new heartbeat
   * interval) does not let a second append of the same range join the first.
   */
  pausedAtNext = 0;
  pausedInBatch = -1;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. The leader's own progress is always active. */
  recentActive = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(match: number, next: number, isLearner: boolean, inflights: Inflights) {
    this.match = match;
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = inflights;
  }

  /** The follower answered: what it needs next is known again. */
  private resume(): void {
    this.msgAppFlowPaused = false;
    this.pausedInBatch = -1;
  }

  private resetState(state: ProgressState): void {
    this.resume();
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot: probe from just after it.
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged `n`; returns whether match moved forward. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.resume();
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Replicate state: an append ending at `n` was sent, so the next one starts after it. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * The follower rejected an append at `rejected`; `matchHint` is the highest index at which the
   * logs may match (etcd's findConflictByTerm on both sides). Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Stale: the rejection is for an index already known to match.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the last probe (at next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    assert(this.next >= 1, 'progress: next must stay >= 1');
    this.resume();
    return true;
  }

  /**
   * Records an append sent in probe or replicate state: `entries` entries, the last at `lastIndex`,
   * `bytes` of payload, put in message batch `batch`. After etcd's Progress.SentEntries.
   */
  sentAppend(entries: number, lastIndex: number, bytes: number, batch: number): void {
    switch (this.state) {
      case 'replicate':
        if (entries > 0) {
          this.optimisticUpdate(lastIndex);
          this.inflights.add(lastIndex, bytes);
        }
        // A full window (or an empty append sent through a full one) pauses the flow: only an
        // answer or the next heartbeat interval lets another message through.
        this.msgAppFlowPaused = this.inflights.full();
        break;
      case 'probe':
        // Every append in probe state is a probe, empty or not.
        this.msgAppFlowPaused = true;
        break;
      case 'snapshot':
        assert(false, 'progress: append sent in snapshot state');
    }
    if (this.msgAppFlowPaused) {
      this.pausedAtNext = this.next;
      this.pausedInBatch = batch;
    }
  }

  /**
   * Whether an append may be sent now in message batch `batch` (beyond an empty one through a full
   * window: see Raft.maybeSendAppend).
   */
  isPaused(batch: number): boolean {
    if (this.state === 'snapshot') return true;
    // The append that paused the flow, still waiting in this batch, is as good as a new one.
    return this.msgAppFlowPaused || (this.pausedInBatch === batch && this.pausedAtNext === this.next);
  }
}
