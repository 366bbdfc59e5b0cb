/**
 * The leader's (and candidate's) view of the cluster: the configuration (voters, learners), one
 * Progress per member, and the votes of the current election. After etcd-io/raft's
 * tracker/tracker.go, without joint configurations (membership changes one node at a time).
 */
import { assert } from '../util/assert.js';
import { Inflights } from './inflights.js';
import { Progress } from './progress.js';
import { committedIndex, voteResult, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

export class ProgressTracker {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;

  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    this.maxInflightMsgs = maxInflightMsgs;
    this.maxInflightBytes = maxInflightBytes;
  }

  newProgress(match: number, next: number, isLearner: boolean): Progress {
    return new Progress(match, next, isLearner, new Inflights(this.maxInflightMsgs, this.maxInflightBytes));
  }

  confState(): ConfState {
    return {
      voters: [...this.voters].sort((a, b) => a - b),
      learners: [...this.learners].sort((a, b) => a - b),
    };
  }

  /** Ids of all members, sorted, so iteration order (and message order) is deterministic. */
  memberIds(): NodeId[] {
    return [...this.progress.keys()].sort((a, b) => a - b);
  }

  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  committed(): number {
    return committedIndex(this.voters, (id) => {
      const pr = this.progress.get(id);
      assert(pr !== undefined, () => `voter ${id} has no progress`);
      return pr.match;
    });
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote (the first one from each node counts) and returns the tally. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, v] of this.votes) {
      if (!this.voters.has(id)) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }

  /** Whether `ids` include a majority of the voters. */
  isQuorum(ids: ReadonlySet<NodeId>): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of ids) votes.set(id, true);
    return voteResult(this.voters, votes) === 'won';
  }

  /** Whether a quorum of voters was recently active (the leader counts itself as active). */
  quorumActive(selfId: NodeId): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      active.set(id, id === selfId || (pr !== undefined && pr.recentActive));
    }
    return voteResult(this.voters, active) === 'won';
  }
}
