/**
 * Majority quorum arithmetic over one set of voters, after etcd-io/raft's quorum/majority.go:
 * the committed index is the highest index acknowledged by a majority; a vote is won once a
 * majority granted it, lost once a majority can no longer grant it.
 *
 * lsmraft changes membership one voter at a time (Raft thesis §4.1), so there is no joint quorum:
 * any two majorities of consecutive configurations overlap.
 */
import type { NodeId } from './types.js';

export type VoteResult = 'pending' | 'won' | 'lost';

export function majoritySize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that a majority of `voters` has acknowledged, by `acked(id)`. For an empty voter
 * set this is +Infinity (etcd's convention: an empty config commits everything; callers never have one
 * while leading).
 */
export function committedIndex(voters: ReadonlySet<NodeId>, acked: (id: NodeId) => number): number {
  const n = voters.size;
  if (n === 0) return Number.POSITIVE_INFINITY;
  const matches: number[] = [];
  for (const id of voters) matches.push(acked(id));
  matches.sort((a, b) => b - a);
  // With matches sorted descending, the entry at position q-1 is acknowledged by q voters.
  return matches[majoritySize(n) - 1]!;
}

/** Tallies `votes` (id -> granted) over `voters`; votes from non-voters do not count. */
export function voteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = majoritySize(voters.size);
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}
