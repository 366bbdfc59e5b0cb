/**
 * Errors the Raft core reports to its driver, after etcd-io/raft's storage.go (ErrCompacted,
 * ErrUnavailable, ErrSnapOutOfDate) and raft.go (ErrProposalDropped). Each carries a stable code
 * from src/errors.ts; a driver matches on `code`.
 */
import { LsmraftError } from '../errors.js';

/** The requested index is at or below the storage's snapshot: its entry was compacted away. */
export class CompactedError extends LsmraftError {
  readonly index: number;
  constructor(index: number, firstIndex: number) {
    super('RAFT_ERR_COMPACTED', `raft log index ${index} is compacted (first index ${firstIndex})`);
    this.index = index;
  }
}

/** The requested index is past the storage's last index. */
export class UnavailableError extends LsmraftError {
  readonly index: number;
  constructor(index: number, lastIndex: number) {
    super('RAFT_ERR_UNAVAILABLE', `raft log index ${index} is unavailable (last index ${lastIndex})`);
    this.index = index;
  }
}

/** A snapshot older than the one the storage already holds was offered. */
export class SnapshotOutOfDateError extends LsmraftError {
  constructor(index: number, currentIndex: number) {
    super('RAFT_ERR_SNAPSHOT_OUT_OF_DATE', `snapshot at index ${index} is older than the current snapshot at ${currentIndex}`);
  }
}

/**
 * A proposal (or conf change, or read) was not accepted: no leader is known, a leadership transfer
 * is in progress, or the uncommitted tail is over its byte limit. The caller may retry elsewhere.
 */
export class ProposalDroppedError extends LsmraftError {
  constructor(why: string) {
    super('RAFT_ERR_PROPOSAL_DROPPED', `raft proposal dropped: ${why}`);
  }
}
