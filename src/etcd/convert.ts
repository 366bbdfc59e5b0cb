/**
 * The etcd wire messages (as @grpc/proto-loader gives them with the options of protos.ts: int64 as
 * decimal strings, bytes as Buffers, enums by name, oneofs naming their member) to and from the
 * MVCC store's values (src/mvcc/requests.ts, types.ts). Validation at the edge: a number that is
 * not an integer within 2^53 (a lease id within int64) is refused with INVALID_ARGUMENT.
 */
import type { Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResponse } from '../mvcc/requests.js';
import type { KeyValue } from '../mvcc/types.js';
import type { EtcdHeader } from '../node/etcd-api.js';
import { EtcdArgumentError } from './errors.js';

/** A decoded message: fields by their .proto names. */
export type Wire = Record<string, unknown>;

export function int(v: unknown, name: string): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isSafeInteger(n)) throw new EtcdArgumentError(`${name} must be an integer within 2^53, got ${String(v)}`);
  return n;
}

export function int64(v: unknown, name: string): bigint {
  if (typeof v !== 'string' && typeof v !== 'number') throw new EtcdArgumentError(`${name} must be an int64`);
  const b = BigInt(v);
  if (BigInt.asIntN(64, b) !== b) throw new EtcdArgumentError(`${name} must be an int64, got ${String(v)}`);
  return b;
}

/** An enum value by name; the loader gives a number for a value the .proto does not name. */
function oneOf<T extends string>(v: unknown, allowed: readonly T[], fallback: T, name: string): T {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new EtcdArgumentError(`${name} must be one of ${allowed.join(', ')}, got ${String(v)}`);
}

const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const RESULTS: readonly CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const TARGETS: readonly CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];

function bytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(0);
}

function optionalEnd(v: unknown): { rangeEnd?: Uint8Array } {
  const b = bytes(v);
  return b.length > 0 ? { rangeEnd: b } : {};
}

/*
 * Outgoing 64-bit fields are given as numbers (safe integers) and bigints, not decimal strings:
 * protobufjs turns each into a Long to encode it (Long.fromValue), and from a string that is a
 * decimal parse with 64-bit multiplications, several times the cost of the whole rest of a small
 * response's encoding. The bytes on the wire are the same.
 */

export function header(h: EtcdHeader, revision: number): Wire {
  return { cluster_id: h.clusterId, member_id: h.memberId, revision, raft_term: h.raftTerm };
}

export function kvToWire(kv: KeyValue): Wire {
  return {
    key: Buffer.from(kv.key),
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: Buffer.from(kv.value),
    lease: kv.lease,
  };
}

export function rangeFromWire(w: Wire): RangeRequest {
  return {
    key: bytes(w.key),
    ...optionalEnd(w.range_end),
    limit: int(w.limit ?? '0', 'limit'),
    revision: int(w.revision ?? '0', 'revision'),
    sortOrder: oneOf(w.sort_order, SORT_ORDERS, 'NONE', 'sort_order'),
    sortTarget: oneOf(w.sort_target, SORT_TARGETS, 'KEY', 'sort_target'),
    keysOnly: w.keys_only === true,
    countOnly: w.count_only === true,
    minModRevision: int(w.min_mod_revision ?? '0', 'min_mod_revision'),
    maxModRevision: int(w.max_mod_revision ?? '0', 'max_mod_revision'),
    minCreateRevision: int(w.min_create_revision ?? '0', 'min_create_revision'),
    maxCreateRevision: int(w.max_create_revision ?? '0', 'max_create_revision'),
  };
}

export function putFromWire(w: Wire): PutRequest {
  return {
    key: bytes(w.key),
    value: bytes(w.value),
    lease: int64(w.lease ?? '0', 'lease'),
    prevKv: w.prev_kv === true,
    ignoreValue: w.ignore_value === true,
    ignoreLease: w.ignore_lease === true,
  };
}

export function deleteFromWire(w: Wire): DeleteRangeRequest {
  return { key: bytes(w.key), ...optionalEnd(w.range_end), prevKv: w.prev_kv === true };
}

function compareFromWire(w: Wire): Compare {
  const target = oneOf(w.target, TARGETS, 'VERSION', 'compare target');
  const c: Compare = { result: oneOf(w.result, RESULTS, 'EQUAL', 'compare result'), target, key: bytes(w.key), ...optionalEnd(w.range_end) };
  // The operand is the union member matching the target; an unset member compares as zero.
  if (target === 'VALUE') c.value = bytes(w.value);
  else if (target === 'LEASE') c.lease = int64(w.lease ?? '0', 'lease');
  else if (target === 'VERSION') c.version = int(w.version ?? '0', 'version');
  else if (target === 'CREATE') c.createRevision = int(w.create_revision ?? '0', 'create_revision');
  else c.modRevision = int(w.mod_revision ?? '0', 'mod_revision');
  return c;
}

function opFromWire(w: Wire, depth: number): RequestOp {
  switch (w.request) {
    case 'request_range':
      return { range: rangeFromWire(w.request_range as Wire) };
    case 'request_put':
      return { put: putFromWire(w.request_put as Wire) };
    case 'request_delete_range':
      return { deleteRange: deleteFromWire(w.request_delete_range as Wire) };
    case 'request_txn':
      return { txn: txnFromWire(w.request_txn as Wire, depth + 1) };
    default:
      throw new EtcdArgumentError('a txn operation without a request');
  }
}

export function txnFromWire(w: Wire, depth = 1): TxnRequest {
  const list = (v: unknown): Wire[] => (Array.isArray(v) ? (v as Wire[]) : []);
  return {
    compare: list(w.compare).map(compareFromWire),
    success: list(w.success).map((op) => opFromWire(op, depth)),
    failure: list(w.failure).map((op) => opFromWire(op, depth)),
  };
}

export function rangeResponseToWire(h: Wire, r: RangeResponse): Wire {
  return { header: h, kvs: r.kvs.map(kvToWire), more: r.more, count: r.count };
}

/** A txn's response; the responses inside carry only the revision in their headers, as etcd's do. */
export function txnResponseToWire(h: Wire, r: TxnResponse): Wire {
  const inner: Wire = { revision: h.revision };
  const op = (o: ResponseOp): Wire => {
    if ('range' in o) return { response_range: rangeResponseToWire(inner, o.range) };
    if ('put' in o) return { response_put: { header: inner, ...(o.put.prevKv !== undefined ? { prev_kv: kvToWire(o.put.prevKv) } : {}) } };
    if ('deleteRange' in o) return { response_delete_range: { header: inner, deleted: o.deleteRange.deleted, prev_kvs: o.deleteRange.prevKvs.map(kvToWire) } };
    return { response_txn: txnResponseToWire(inner, o.txn) };
  };
  return { header: h, succeeded: r.succeeded, responses: r.responses.map(op) };
}
