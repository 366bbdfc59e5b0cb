/**
 * The errors of etcd's MVCC model a client can meet, one code each (src/errors.ts). The etcd gRPC
 * layer (src/etcd/errors.ts) maps each code to the status code and message etcd v3.4 sends
 * (server/etcdserver/api/v3rpc/rpctypes/error.go), which clients match on.
 */
import { LsmraftError, type LsmraftErrorCode } from '../errors.js';

export type MvccErrorCode = Extract<LsmraftErrorCode, `MVCC_ERR_${string}`>;

export class MvccError extends LsmraftError {
  declare readonly code: MvccErrorCode;
  constructor(code: MvccErrorCode, message: string) {
    super(code, message);
  }
}

export function compactedError(revision: number, compactRevision: number): MvccError {
  return new MvccError('MVCC_ERR_COMPACTED', `revision ${revision} has been compacted (compact revision ${compactRevision})`);
}

export function futureRevisionError(revision: number, current: number): MvccError {
  return new MvccError('MVCC_ERR_FUTURE_REV', `revision ${revision} is a future revision (current ${current})`);
}

export function leaseNotFoundError(id: bigint): MvccError {
  return new MvccError('MVCC_ERR_LEASE_NOT_FOUND', `lease ${id} not found`);
}
