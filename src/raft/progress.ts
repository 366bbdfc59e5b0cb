/**
 * What the leader knows of one follower's log, after etcd-io/raft's tracker/progress.go.
 *
 *   probe      the leader does not know where the follower's log matches; it sends one append at a
 *              time (msgAppProbeSent pauses it) and backs off on rejection.
 *   replicate  the follower is known to match up to `match`; the leader pipelines appends,
 *              optimistically advancing `next`, bounded by the Inflights window.
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
  /** In probe state: an append was sent and no answer came yet; pauses further appends. */
  probeSent = false;
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

  private resetState(state: ProgressState): void {
    this.probeSent = false;
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
      this.probeSent = false;
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
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
