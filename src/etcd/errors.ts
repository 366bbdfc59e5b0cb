/**
 * The gRPC statuses the etcd API answers with: the code and message etcd v3.4 sends for each
 * error (server/etcdserver/api/v3rpc/rpctypes/error.go), which etcd clients match on (clientv3's
 * rpctypes.Error compares the message), mapped from this project's typed errors.
 */
import * as grpc from '@grpc/grpc-js';
import { LsmraftError, type LsmraftErrorCode } from '../errors.js';
import type { MvccErrorCode } from '../mvcc/errors.js';
import { MVCC_KEY_BYTES_MAX } from '../mvcc/keys.js';

export interface EtcdStatus {
  code: grpc.status;
  details: string;
}

const MVCC: Record<MvccErrorCode, EtcdStatus> = {
  MVCC_ERR_COMPACTED: { code: grpc.status.OUT_OF_RANGE, details: 'etcdserver: mvcc: required revision has been compacted' },
  MVCC_ERR_FUTURE_REV: { code: grpc.status.OUT_OF_RANGE, details: 'etcdserver: mvcc: required revision is a future revision' },
  MVCC_ERR_LEASE_NOT_FOUND: { code: grpc.status.NOT_FOUND, details: 'etcdserver: requested lease not found' },
  MVCC_ERR_LEASE_EXISTS: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: lease already exists' },
  MVCC_ERR_KEY_NOT_FOUND: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: key not found' },
  MVCC_ERR_EMPTY_KEY: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided' },
  MVCC_ERR_TOO_MANY_OPS: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: too many operations in txn request' },
  MVCC_ERR_DUPLICATE_KEY: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: duplicate key given in txn request' },
  MVCC_ERR_VALUE_PROVIDED: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: value is provided' },
  MVCC_ERR_LEASE_PROVIDED: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: lease is provided' },
  MVCC_ERR_REQUEST_TOO_LARGE: { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: request is too large' },
  MVCC_ERR_NO_SPACE: { code: grpc.status.RESOURCE_EXHAUSTED, details: 'etcdserver: mvcc: database space exceeded' },
  // Not an etcd error (etcd bounds keys by the request size only): lsmraft's history keys need room.
  MVCC_ERR_KEY_TOO_LONG: { code: grpc.status.INVALID_ARGUMENT, details: `etcdserver: key is too long (at most ${MVCC_KEY_BYTES_MAX} bytes)` },
};

export const NO_LEADER: EtcdStatus = { code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' };
export const TIMED_OUT: EtcdStatus = { code: grpc.status.UNAVAILABLE, details: 'etcdserver: request timed out' };
export const STOPPED: EtcdStatus = { code: grpc.status.UNAVAILABLE, details: 'etcdserver: server stopped' };
export const MEMBER_NOT_FOUND: EtcdStatus = { code: grpc.status.NOT_FOUND, details: 'etcdserver: member not found' };
export const MEMBER_BAD_URLS: EtcdStatus = { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: given member URLs are invalid' };
/** etcd's membership refusals (rpctypes/error.go), by the code of the node's refusal (src/node/member-rules.ts). */
const MEMBERSHIP: Partial<Record<LsmraftErrorCode, EtcdStatus>> = {
  KV_ERR_MEMBER_NOT_FOUND: MEMBER_NOT_FOUND,
  KV_ERR_PEER_ADDRESS_EXISTS: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: Peer URLs already exists' },
  KV_ERR_NOT_ENOUGH_STARTED: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: re-configuration failed due to not enough started members' },
  KV_ERR_MEMBER_NOT_LEARNER: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: can only promote a learner member' },
  KV_ERR_LEARNER_NOT_READY: { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: can only promote a learner member which is in sync with leader' },
};

/** A request argument the wire format allows but etcd refuses (a malformed number, say). */
export class EtcdArgumentError extends LsmraftError {
  constructor(message: string) {
    super('KV_ERR_INVALID_ARGUMENT', message);
  }
}

/** An error answered with a given etcd status (e.g. member not found). */
export class EtcdStatusError extends LsmraftError {
  constructor(readonly status: EtcdStatus, code: LsmraftErrorCode) {
    super(code, status.details);
  }
}

/**
 * The status for `err`. `leaderKnown`: whether the node knows a leader now (a timed-out request
 * with no leader is etcd's "no leader"). Anything not a typed error is a bug and is rethrown.
 */
export function etcdStatusOf(err: unknown, leaderKnown: boolean): EtcdStatus {
  if (!(err instanceof LsmraftError)) throw err;
  if (err instanceof EtcdStatusError) return err.status;
  if (err.code.startsWith('MVCC_ERR_')) return MVCC[err.code as MvccErrorCode];
  const membership = MEMBERSHIP[err.code];
  if (membership !== undefined) return membership;
  switch (err.code) {
    case 'KV_ERR_INVALID_ARGUMENT':
      return { code: grpc.status.INVALID_ARGUMENT, details: `etcdserver: ${err.message}` };
    case 'KV_ERR_TIMEOUT':
    case 'KV_ERR_NOT_LEADER':
    case 'RAFT_ERR_PROPOSAL_DROPPED':
      return leaderKnown ? TIMED_OUT : NO_LEADER;
    case 'KV_ERR_STOPPED':
    case 'KV_ERR_REMOVED':
    case 'LSM_ERR_CLOSED':
      return STOPPED;
    case 'KV_ERR_MEMBERSHIP':
      return { code: grpc.status.FAILED_PRECONDITION, details: `etcdserver: ${err.message}` };
    default:
      return { code: grpc.status.UNAVAILABLE, details: `etcdserver: ${err.message}` };
  }
}
