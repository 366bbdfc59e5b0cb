/**
 * The configuration of one Raft node (after etcd-io/raft's raft.go Config) and its validation,
 * done once at the edge: Raft (raft.ts) trusts a config that passed validateConfig, and RawNode
 * (raw-node.ts) only passes it on. Kept apart from both so they do not import each other.
 */
import { InvalidArgumentError } from '../errors.js';
import type { ReadOnlyOption } from './read-only.js';
import type { NodeId } from './types.js';

export interface RaftConfig {
  id: NodeId;
  /** Followers start an election after a random timeout in [electionTicks, 2*electionTicks). */
  electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks. Must be < electionTicks. */
  heartbeatTicks: number;
  /** Seeded source of randomness in [0, 1). */
  random: () => number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Bound on the payload bytes of one append message (at least one entry is always sent). */
  maxSizePerMsgBytes: number;
  /** Appends in flight to one follower in replicate state. */
  maxInflightMsgs: number;
  /** Payload bytes in flight to one follower; 0 = no limit. */
  maxInflightBytes: number;
  /** Bound on the payload bytes of uncommitted entries a leader accepts; undefined = no limit. */
  maxUncommittedEntriesBytes?: number;
  /** 'lease' requires checkQuorum and bounded clock drift; see read-only.ts. */
  readOnlyOption: ReadOnlyOption;
  /** The index the driver has applied up to, when restarting. */
  appliedIndex?: number;
  logger?: (line: string) => void;
  /**
   * Bound on the bytes (entrySizeBytes) of the committed entries handed out in one Ready, at least
   * one entry; the rest follow in the next Readys. After etcd's MaxCommittedSizePerReady. Default
   * MAX_COMMITTED_SIZE_PER_READY_BYTES_DEFAULT (4 MiB).
   */
  maxCommittedSizePerReadyBytes?: number;
}

/** Throws InvalidArgumentError for a configuration no Raft node can run with. */
export function validateConfig(c: RaftConfig): void {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`raft config: ${why}`, 'KV_ERR_INVALID_ARGUMENT');
  };
  if (!Number.isSafeInteger(c.id) || c.id <= 0) bad(`id must be a positive integer, got ${c.id}`);
  if (!Number.isSafeInteger(c.heartbeatTicks) || c.heartbeatTicks <= 0) bad('heartbeatTicks must be positive');
  if (!Number.isSafeInteger(c.electionTicks) || c.electionTicks <= c.heartbeatTicks) bad('electionTicks must be greater than heartbeatTicks');
  if (!Number.isSafeInteger(c.maxInflightMsgs) || c.maxInflightMsgs <= 0) bad('maxInflightMsgs must be positive');
  if (!(c.maxSizePerMsgBytes >= 0)) bad('maxSizePerMsgBytes must be >= 0');
  if (!(c.maxInflightBytes >= 0)) bad('maxInflightBytes must be >= 0 (0 = unlimited)');
  if (c.maxCommittedSizePerReadyBytes !== undefined && !(c.maxCommittedSizePerReadyBytes > 0)) bad('maxCommittedSizePerReadyBytes must be positive');
  if (c.readOnlyOption === 'lease' && !c.checkQuorum) bad("readOnlyOption 'lease' requires checkQuorum");
  if (typeof c.random !== 'function') bad('random must be a seeded function returning [0,1)');
}
