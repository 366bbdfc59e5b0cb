/**
 * The requests and responses of the MVCC store, after etcd v3.4's etcdserverpb (rpc.proto: Range,
 * Put, DeleteRange, Txn, Compaction, LeaseGrant, LeaseRevoke, LeaseCheckpoint) as plain values; the
 * gRPC layer (src/etcd) maps the wire messages to these, and the Raft command (request-codec.ts)
 * carries the writes.
 *
 * checkWrite/checkRange are the edge checks etcd makes before a request reaches Raft
 * (server/etcdserver/api/v3rpc/key.go: an empty key, too many txn operations, ignore_value with a
 * value, ignore_lease with a lease, and a txn writing a key twice or a key it also deletes); the
 * apply (apply.ts) repeats them, so a request that passes on one replica passes on all.
 */
import { compareBytes } from '../util/bytes.js';
import type { AlarmMember } from './alarms.js';
import { MvccError } from './errors.js';
import { MVCC_KEY_BYTES_MAX, inKeyRange, isFromKey } from './keys.js';
import type { KeyValue } from './types.js';

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeRequest {
  key: Uint8Array;
  /** Empty or absent: `key` alone; "\0": every key >= key; else [key, rangeEnd). */
  rangeEnd?: Uint8Array;
  /** 0: no limit. */
  limit?: number;
  /** <= 0: the current revision. */
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

/** One txn guard; the operand is the field of `target` (absent fields compare as 0 / empty). */
export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Uint8Array;
  lease?: bigint;
}

export type RequestOp = { range: RangeRequest } | { put: PutRequest } | { deleteRange: DeleteRangeRequest } | { txn: TxnRequest };
export type ResponseOp = { range: RangeResponse } | { put: PutResponse } | { deleteRange: DeleteRangeResponse } | { txn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  succeeded: boolean;
  responses: ResponseOp[];
}

/** The writes a Raft entry carries (request-codec.ts). */
export type MvccWrite =
  | { type: 'put'; put: PutRequest }
  | { type: 'deleteRange'; deleteRange: DeleteRangeRequest }
  | { type: 'txn'; txn: TxnRequest }
  | { type: 'compact'; revision: number }
  | { type: 'leaseGrant'; id: bigint; ttlSeconds: number }
  | { type: 'leaseRevoke'; id: bigint }
  | { type: 'leaseCheckpoint'; id: bigint; remainingTtlSeconds: number }
  | { type: 'alarm'; action: 'activate' | 'deactivate'; member: AlarmMember };

export type MvccWriteResponse =
  | { type: 'put'; put: PutResponse }
  | { type: 'deleteRange'; deleteRange: DeleteRangeResponse }
  | { type: 'txn'; txn: TxnResponse }
  | { type: 'compact' }
  | { type: 'leaseGrant'; id: bigint; ttlSeconds: number }
  | { type: 'leaseRevoke'; id: bigint }
  | { type: 'leaseCheckpoint'; id: bigint; remainingTtlSeconds: number }
  /** The alarms the command changed (etcd's AlarmResponse): none when it changed nothing. */
  | { type: 'alarm'; alarms: AlarmMember[] };

/** etcd's limit on the operations of one txn level (its --max-txn-ops default). */
export const TXN_OPS_MAX = 128;

function emptyKey(): never {
  throw new MvccError('MVCC_ERR_EMPTY_KEY', 'key is not provided');
}

/** A key and range end the history can hold (keys.ts: MVCC_KEY_BYTES_MAX); the key must not be empty. */
function checkKeys(key: Uint8Array, rangeEnd?: Uint8Array): void {
  if (key.length === 0) emptyKey();
  if (key.length > MVCC_KEY_BYTES_MAX || (rangeEnd !== undefined && rangeEnd.length > MVCC_KEY_BYTES_MAX)) {
    throw new MvccError('MVCC_ERR_KEY_TOO_LONG', `key or range end longer than ${MVCC_KEY_BYTES_MAX} bytes`);
  }
}

export function checkRange(r: RangeRequest): void {
  checkKeys(r.key, r.rangeEnd);
}

function checkPut(p: PutRequest): void {
  checkKeys(p.key);
  if (p.ignoreValue === true && p.value.length !== 0) throw new MvccError('MVCC_ERR_VALUE_PROVIDED', 'value is provided');
  if (p.ignoreLease === true && (p.lease ?? 0n) !== 0n) throw new MvccError('MVCC_ERR_LEASE_PROVIDED', 'lease is provided');
}

function checkDelete(d: DeleteRangeRequest): void {
  checkKeys(d.key, d.rangeEnd);
}

function duplicateKey(): never {
  throw new MvccError('MVCC_ERR_DUPLICATE_KEY', 'duplicate key given in txn request');
}

interface Interval {
  key: Uint8Array;
  end: Uint8Array | undefined;
}

function hits(dels: readonly Interval[], key: Uint8Array): boolean {
  return dels.some((d) => inKeyRange(key, d.key, d.end));
}

/**
 * The keys `ops` put and the ranges they delete, refusing a key put twice on one path or put and
 * deleted: after etcd's checkIntervals (v3rpc/key.go), where the success and failure branches of a
 * nested txn may put the same key, since only one of them runs.
 */
function intervals(ops: readonly RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) if ('deleteRange' in op) dels.push({ key: op.deleteRange.key, end: op.deleteRange.rangeEnd });
  const puts = new Set<string>();
  const keyOf = (s: string): Uint8Array => Buffer.from(s, 'latin1');
  for (const op of ops) {
    if (!('txn' in op)) continue;
    const then = intervals(op.txn.success);
    const otherwise = intervals(op.txn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || hits(dels, keyOf(k))) duplicateKey();
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) duplicateKey();
      if (hits(dels, keyOf(k))) duplicateKey();
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (!('put' in op)) continue;
    const k = Buffer.from(op.put.key).toString('latin1');
    if (puts.has(k) || hits(dels, op.put.key)) duplicateKey();
    puts.add(k);
  }
  return { puts, dels };
}

function checkOps(ops: readonly RequestOp[]): void {
  for (const op of ops) {
    if ('range' in op) checkRange(op.range);
    else if ('put' in op) checkPut(op.put);
    else if ('deleteRange' in op) checkDelete(op.deleteRange);
    else checkTxn(op.txn);
  }
}

function checkTxn(t: TxnRequest): void {
  if (t.compare.length > TXN_OPS_MAX || t.success.length > TXN_OPS_MAX || t.failure.length > TXN_OPS_MAX) {
    throw new MvccError('MVCC_ERR_TOO_MANY_OPS', 'too many operations in txn request');
  }
  for (const c of t.compare) checkKeys(c.key, c.rangeEnd);
  checkOps(t.success);
  checkOps(t.failure);
  intervals(t.success);
  intervals(t.failure);
}

/** The edge checks of a write (throws MvccError), the same on every replica. */
export function checkWrite(w: MvccWrite): void {
  if (w.type === 'put') checkPut(w.put);
  else if (w.type === 'deleteRange') checkDelete(w.deleteRange);
  else if (w.type === 'txn') checkTxn(w.txn);
}

/** Whether a txn writes nothing on either path (etcd serves such a txn like a read). */
export function isReadOnlyTxn(t: TxnRequest): boolean {
  const readOnly = (ops: readonly RequestOp[]): boolean => ops.every((op) => 'range' in op || ('txn' in op && isReadOnlyTxn(op.txn)));
  return readOnly(t.success) && readOnly(t.failure);
}

/**
 * Whether a txn puts on either path, nested txns included: one a NOSPACE alarm refuses (alarms.ts;
 * etcd's applierV3Capped refuses a txn whose puts cost space, counting the top level only: lsmraft
 * also counts nested puts, which take space all the same).
 */
export function txnPuts(t: TxnRequest): boolean {
  const puts = (ops: readonly RequestOp[]): boolean => ops.some((op) => 'put' in op || ('txn' in op && txnPuts(op.txn)));
  return puts(t.success) || puts(t.failure);
}

/** Whether a write takes space: one a NOSPACE alarm refuses (a put, a txn that puts, a lease grant). */
export function takesSpace(w: MvccWrite): boolean {
  return w.type === 'put' || w.type === 'leaseGrant' || (w.type === 'txn' && txnPuts(w.txn));
}

/** A range bound ordering helper: whether `key` is past the end of [.., end). */
export function pastEnd(key: Uint8Array, end: Uint8Array | undefined): boolean {
  if (end === undefined || end.length === 0 || isFromKey(end)) return false;
  return compareBytes(key, end) >= 0;
}
