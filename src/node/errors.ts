/**
 * Errors of the node runtime a user can meet (KvNode, KvClient, the wire layer of frame.ts,
 * codec.ts and the transport), in the style of undici's lib/core/errors.js: each is an
 * LsmraftError with a stable code from src/errors.ts; callers match on `code`, never the message.
 *
 * Codes say truthfully whether the operation certainly did not happen (KV_ERR_NOT_LEADER,
 * KV_ERR_MEMBERSHIP, KV_ERR_STOPPED, KV_ERR_REMOVED, KV_ERR_BAD_FRAME, KV_ERR_INVALID_ARGUMENT,
 * KV_ERR_SESSION_EXPIRED, KV_ERR_SESSION_SEQ_DISCARDED) or its outcome is unknown (KV_ERR_TIMEOUT,
 * KV_ERR_CONNECTION_CLOSED). docs/client-guarantees.md is the user's version of this list.
 */
import { isLsmraftErrorCode, LsmraftError } from '../errors.js';

/**
 * Bytes received from the network are not a valid frame or payload: bad magic, unknown version,
 * oversized length, checksum mismatch, truncated or garbage payload, or a frame that this
 * connection may not carry (foreign cluster id, peer frame before HELLO). The transport closes the
 * connection that carried it and nothing else.
 */
export class BadFrameError extends LsmraftError {
  constructor(message: string) {
    super('KV_ERR_BAD_FRAME', message);
  }
}

/** A client request (or the connect before it) got no answer in time; its outcome is unknown. */
export class RequestTimeoutError extends LsmraftError {
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number, hint?: string) {
    super('KV_ERR_TIMEOUT', `${what} timed out after ${timeoutMs} ms${hint === undefined ? '' : ` (${hint})`}`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The connection to a node could not be opened or was closed while a request was in flight (the
 * node stopped, crashed or dropped the connection). An in-flight request's outcome is unknown.
 */
export class ConnectionClosedError extends LsmraftError {
  readonly address: string;
  constructor(address: string, why: string, options?: { cause?: unknown }) {
    super('KV_ERR_CONNECTION_CLOSED', `connection to ${address} closed: ${why}`, options);
    this.address = address;
  }
}

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

/**
 * A node could not listen at an address because another socket holds it (EADDRINUSE): the peer
 * port or the metrics port. `address` is the "host:port" asked for.
 */
export class AddressInUseError extends LsmraftError {
  readonly address: string;
  constructor(what: string, address: string, options?: { cause?: unknown }) {
    super('KV_ERR_ADDRESS_IN_USE', `cannot listen for ${what} on ${address}: the address is in use`, options);
    this.address = address;
  }
}

/**
 * The client session a write names is not in the session table (it expired, or never existed): the
 * state machine did not apply this request, and will never apply any request of that session.
 * Whether an EARLIER attempt of the same request was applied before the session expired is not
 * known to the state machine; only the client knows whether such an attempt may exist.
 */
export class SessionExpiredError extends LsmraftError {
  readonly sessionId: number;
  constructor(sessionId: number, what: string) {
    super('KV_ERR_SESSION_EXPIRED', `${what}: session ${sessionId} has expired (or never existed); not applied`);
    this.sessionId = sessionId;
  }
}

/**
 * A write's sequence number is below its session's first outstanding one: the client said it had
 * seen every answer below that, so the response was discarded. The request is not applied (again).
 */
export class SessionSeqDiscardedError extends LsmraftError {
  constructor(sessionId: number, seq: number, firstOutstandingSeq: number) {
    super('KV_ERR_SESSION_SEQ_DISCARDED', `session ${sessionId}: seq ${seq} is below the first outstanding seq ${firstOutstandingSeq}; its response was discarded and it is not applied again`);
  }
}

/**
 * This node was removed from the cluster (it applied its own removal): it serves nothing more, and
 * a request it refuses was certainly not applied. A client tries another member.
 */
export class NodeRemovedError extends LsmraftError {
  constructor(id: number) {
    super('KV_ERR_REMOVED', `node ${id} was removed from the cluster and serves no requests; ask another member`);
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
      return new LsmraftError(isLsmraftErrorCode(code) ? code : 'KV_ERR_INVALID_ARGUMENT', text);
  }
}
