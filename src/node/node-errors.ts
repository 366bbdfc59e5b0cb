/**
 * Errors of the node runtime (KvNode, KvClient) a user can meet, in the style of undici's
 * lib/core/errors.js: each is an LsmraftError with a stable code from src/errors.ts, matched on
 * `code`. Wire-layer errors live in src/node/errors.ts.
 */
import { LsmraftError } from '../errors.js';

/** A leader hint: who this node believes leads, and where it listens. */
export interface LeaderInfo {
  id: number;
  address: string;
}

/**
 * This node could not get the request to a leader in time (no leader is known: an election is
 * running, or this node is cut off). `leader` is the best hint, if any; a client retries there or
 * at another member.
 */
export class NotLeaderError extends LsmraftError {
  readonly leader: LeaderInfo | undefined;
  constructor(message: string, leader?: LeaderInfo) {
    super('KV_ERR_NOT_LEADER', message);
    this.leader = leader;
  }
}

/** A membership change was refused: the target holds data, is already a member, is unreachable... */
export class MembershipError extends LsmraftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KV_ERR_MEMBERSHIP', message, options);
  }
}

/** The node is stopped (or stopping); the request was not served. */
export class NodeStoppedError extends LsmraftError {
  constructor(what: string) {
    super('KV_ERR_STOPPED', what);
  }
}

/** Builds the typed error for a code received over the wire (KvClient, forwarded requests). */
export function errorFromWire(code: string | undefined, message: string | undefined, leader?: LeaderInfo): LsmraftError {
  const text = message ?? code ?? 'unknown error';
  switch (code) {
    case 'KV_ERR_NOT_LEADER':
      return new NotLeaderError(text, leader);
    case 'KV_ERR_MEMBERSHIP':
      return new MembershipError(text);
    case 'KV_ERR_STOPPED':
      return new NodeStoppedError(text);
    default:
      return new LsmraftError(isKnownCode(code) ? code : 'KV_ERR_INVALID_ARGUMENT', text);
  }
}

const KNOWN_CODES = new Set<string>([
  'LSM_ERR_CORRUPTION', 'LSM_ERR_CLOSED', 'LSM_ERR_LOCKED', 'LSM_ERR_INVALID_ARGUMENT', 'LSM_ERR_IO', 'LSM_ERR_JOB_FAILED',
  'LSM_ERR_BACKGROUND', 'LSM_ERR_WASM', 'KV_ERR_NOT_LEADER', 'KV_ERR_TIMEOUT', 'KV_ERR_INVALID_ARGUMENT', 'KV_ERR_BAD_FRAME',
  'KV_ERR_CLUSTER_MISMATCH', 'KV_ERR_MEMBERSHIP', 'KV_ERR_STOPPED', 'RAFT_ERR_COMPACTED', 'RAFT_ERR_UNAVAILABLE',
  'RAFT_ERR_SNAPSHOT_OUT_OF_DATE', 'RAFT_ERR_PROPOSAL_DROPPED',
]);

function isKnownCode(code: string | undefined): code is import('../errors.js').LsmraftErrorCode {
  return code !== undefined && KNOWN_CODES.has(code);
}
