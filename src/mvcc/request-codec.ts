/**
 * The byte layout of an MVCC write (requests.ts: MvccWrite) inside a Raft command
 * (src/node/kv-command.ts, operation 5; docs/format/raft-log.md, "etcd write"). A compact layout
 * of this project's own, not protobuf: the state machine must decode it without the gRPC layer
 * (src/etcd sits above the node), and it carries only what the apply needs.
 *
 *   write      byte type (1 put, 2 deleteRange, 3 txn, 4 compact, 5 leaseGrant, 6 leaseRevoke,
 *              7 leaseCheckpoint, 8 alarm), then its body
 *   put        bytes key, bytes value, i64 lease, byte flags (1 prev_kv, 2 ignore_value, 4 ignore_lease)
 *   delete     bytes key, byte flags (1 prev_kv, 2 has range_end), [bytes range_end]
 *   range      bytes key, byte flags (1 keys_only, 2 count_only, 4 has range_end), [bytes range_end],
 *              i64 limit, i64 revision, byte sort order, byte sort target,
 *              i64 min_mod, i64 max_mod, i64 min_create, i64 max_create
 *   compare    byte result, byte target, bytes key, byte flags (1 has range_end), [bytes range_end],
 *              the operand: bytes (VALUE), else i64
 *   txn        varint n + n compares, varint n + n ops (success), varint n + n ops (failure);
 *              an op is a byte kind (1 range, 2 put, 3 delete, 4 txn) and its body
 *   compact    i64 revision;  leaseGrant i64 id, i64 ttl;  leaseRevoke i64 id;
 *   leaseCheckpoint i64 id, i64 remaining ttl
 *   alarm      byte action (1 activate, 2 deactivate), byte alarm type (etcd's AlarmType number,
 *              1 NOSPACE or 2 CORRUPT), i64 member id (the uint64's bits)
 *
 * bytes = varint length + bytes; i64 = 8 bytes big-endian two's complement. Numbers other than
 * lease ids must be safe integers. What must hold: decode(encode(w)) equals w for every valid w,
 * and decode throws InvalidArgumentError (KV_ERR_INVALID_ARGUMENT) on anything else, including txns
 * nested deeper than TXN_DEPTH_MAX, so every replica rejects the same bytes alike.
 */
import { InvalidArgumentError } from '../errors.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';
import { ALARM_TYPES, alarmTypeNumber } from './alarms.js';
import type { Compare, CompareResult, CompareTarget, MvccWrite, RangeRequest, RequestOp, SortOrder, SortTarget, TxnRequest } from './requests.js';

/** Deepest txn nesting a write may carry (the edge refuses deeper ones: requests.ts). */
export const TXN_DEPTH_MAX = 32;

const WRITE_TYPES = ['put', 'deleteRange', 'txn', 'compact', 'leaseGrant', 'leaseRevoke', 'leaseCheckpoint', 'alarm'] as const;
const ALARM_ACTIONS = ['activate', 'deactivate'] as const;
const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const RESULTS: readonly CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const TARGETS: readonly CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];

function bad(why: string): never {
  throw new InvalidArgumentError(`malformed etcd write: ${why}`, 'KV_ERR_INVALID_ARGUMENT');
}

class Writer {
  private buf: Uint8Array;
  /** A view of buf, made again only when buf grows (not one per 8-byte field). */
  private view: DataView;
  private pos = 0;
  /** `sizeHint`: the bytes expected (a put's key and value and a little), so most writes never grow. */
  constructor(sizeHint = 256) {
    this.buf = new Uint8Array(sizeHint);
    this.view = new DataView(this.buf.buffer);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }
  varint(v: number): void {
    this.room(varintLength(v));
    this.pos = putVarint(this.buf, this.pos, v);
  }
  i64(v: number | bigint): void {
    this.room(8);
    this.view.setBigInt64(this.pos, typeof v === 'bigint' ? v : BigInt(v));
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** The bytes written: a view of the writer's own buffer, which nothing else holds (no copy). */
  done(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  private readonly r: VarintRead = { value: 0, pos: 0 };
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.b.length) bad('truncated');
    return this.b[this.pos++]!;
  }
  varint(): number {
    getVarint(this.b, this.pos, this.b.length, this.r);
    if (this.r.pos < 0 || !Number.isSafeInteger(this.r.value)) bad('bad varint');
    this.pos = this.r.pos;
    return this.r.value;
  }
  /** A big-endian signed 64-bit integer, read as two 32-bit halves (no DataView made per field). */
  bigint(): bigint {
    const b = this.b;
    const p = this.pos;
    if (p + 8 > b.length) bad('truncated');
    const hi = (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!; // signed
    const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
    this.pos = p + 8;
    return hi === 0 ? BigInt(lo) : BigInt(hi) * 0x1_0000_0000n + BigInt(lo);
  }
  i64(): number {
    const v = this.bigint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) bad('number beyond 2^53');
    return Number(v);
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (n > this.b.length - this.pos) bad('length past the end');
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A count of items each taking at least one byte: bounded by what remains. */
  count(): number {
    const n = this.varint();
    if (n > this.b.length - this.pos) bad('count larger than the bytes left');
    return n;
  }
  pick<T>(table: readonly T[], what: string): T {
    const i = this.byte();
    if (i >= table.length) bad(`unknown ${what} ${i}`);
    return table[i]!;
  }
  end(): void {
    if (this.pos !== this.b.length) bad(`${this.b.length - this.pos} trailing bytes`);
  }
}

function putRange(w: Writer, r: RangeRequest): void {
  w.bytes(r.key);
  const hasEnd = r.rangeEnd !== undefined && r.rangeEnd.length > 0;
  w.byte((r.keysOnly === true ? 1 : 0) | (r.countOnly === true ? 2 : 0) | (hasEnd ? 4 : 0));
  if (hasEnd) w.bytes(r.rangeEnd!);
  w.i64(r.limit ?? 0);
  w.i64(r.revision ?? 0);
  w.byte(SORT_ORDERS.indexOf(r.sortOrder ?? 'NONE'));
  w.byte(SORT_TARGETS.indexOf(r.sortTarget ?? 'KEY'));
  for (const v of [r.minModRevision, r.maxModRevision, r.minCreateRevision, r.maxCreateRevision]) w.i64(v ?? 0);
}

function getRange(r: Reader): RangeRequest {
  const key = r.bytes();
  const flags = r.byte();
  if (flags > 7) bad('range flags');
  const req: RangeRequest = { key };
  if ((flags & 4) !== 0) req.rangeEnd = r.bytes();
  req.limit = r.i64();
  req.revision = r.i64();
  req.sortOrder = r.pick(SORT_ORDERS, 'sort order');
  req.sortTarget = r.pick(SORT_TARGETS, 'sort target');
  req.minModRevision = r.i64();
  req.maxModRevision = r.i64();
  req.minCreateRevision = r.i64();
  req.maxCreateRevision = r.i64();
  if ((flags & 1) !== 0) req.keysOnly = true;
  if ((flags & 2) !== 0) req.countOnly = true;
  return req;
}

function putPut(w: Writer, p: { key: Uint8Array; value: Uint8Array; lease?: bigint; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean }): void {
  w.bytes(p.key);
  w.bytes(p.value);
  w.i64(p.lease ?? 0n);
  w.byte((p.prevKv === true ? 1 : 0) | (p.ignoreValue === true ? 2 : 0) | (p.ignoreLease === true ? 4 : 0));
}

function getPut(r: Reader): { key: Uint8Array; value: Uint8Array; lease: bigint; prevKv: boolean; ignoreValue: boolean; ignoreLease: boolean } {
  const key = r.bytes();
  const value = r.bytes();
  const lease = r.bigint();
  const flags = r.byte();
  if (flags > 7) bad('put flags');
  return { key, value, lease, prevKv: (flags & 1) !== 0, ignoreValue: (flags & 2) !== 0, ignoreLease: (flags & 4) !== 0 };
}

function putDelete(w: Writer, d: { key: Uint8Array; rangeEnd?: Uint8Array; prevKv?: boolean }): void {
  w.bytes(d.key);
  const hasEnd = d.rangeEnd !== undefined && d.rangeEnd.length > 0;
  w.byte((d.prevKv === true ? 1 : 0) | (hasEnd ? 2 : 0));
  if (hasEnd) w.bytes(d.rangeEnd!);
}

function getDelete(r: Reader): { key: Uint8Array; rangeEnd?: Uint8Array; prevKv: boolean } {
  const key = r.bytes();
  const flags = r.byte();
  if (flags > 3) bad('delete flags');
  return (flags & 2) !== 0 ? { key, rangeEnd: r.bytes(), prevKv: (flags & 1) !== 0 } : { key, prevKv: (flags & 1) !== 0 };
}

function putCompare(w: Writer, c: Compare): void {
  w.byte(RESULTS.indexOf(c.result));
  w.byte(TARGETS.indexOf(c.target));
  w.bytes(c.key);
  const hasEnd = c.rangeEnd !== undefined && c.rangeEnd.length > 0;
  w.byte(hasEnd ? 1 : 0);
  if (hasEnd) w.bytes(c.rangeEnd!);
  if (c.target === 'VALUE') w.bytes(c.value ?? new Uint8Array(0));
  else if (c.target === 'LEASE') w.i64(c.lease ?? 0n);
  else w.i64((c.target === 'VERSION' ? c.version : c.target === 'CREATE' ? c.createRevision : c.modRevision) ?? 0);
}

function getCompare(r: Reader): Compare {
  const result = r.pick(RESULTS, 'compare result');
  const target = r.pick(TARGETS, 'compare target');
  const c: Compare = { result, target, key: r.bytes() };
  const flags = r.byte();
  if (flags > 1) bad('compare flags');
  if (flags === 1) c.rangeEnd = r.bytes();
  if (target === 'VALUE') c.value = r.bytes();
  else if (target === 'LEASE') c.lease = r.bigint();
  else if (target === 'VERSION') c.version = r.i64();
  else if (target === 'CREATE') c.createRevision = r.i64();
  else c.modRevision = r.i64();
  return c;
}

function putOps(w: Writer, ops: readonly RequestOp[], depth: number): void {
  w.varint(ops.length);
  for (const op of ops) {
    if ('range' in op) {
      w.byte(1);
      putRange(w, op.range);
    } else if ('put' in op) {
      w.byte(2);
      putPut(w, op.put);
    } else if ('deleteRange' in op) {
      w.byte(3);
      putDelete(w, op.deleteRange);
    } else {
      w.byte(4);
      putTxn(w, op.txn, depth + 1);
    }
  }
}

function getOps(r: Reader, depth: number): RequestOp[] {
  const n = r.count();
  const ops: RequestOp[] = [];
  for (let i = 0; i < n; i++) {
    const kind = r.byte();
    if (kind === 1) ops.push({ range: getRange(r) });
    else if (kind === 2) ops.push({ put: getPut(r) });
    else if (kind === 3) ops.push({ deleteRange: getDelete(r) });
    else if (kind === 4) ops.push({ txn: getTxn(r, depth + 1) });
    else bad(`unknown op kind ${kind}`);
  }
  return ops;
}

function putTxn(w: Writer, t: TxnRequest, depth: number): void {
  if (depth > TXN_DEPTH_MAX) throw new InvalidArgumentError(`txns nested deeper than ${TXN_DEPTH_MAX}`, 'KV_ERR_INVALID_ARGUMENT');
  w.varint(t.compare.length);
  for (const c of t.compare) putCompare(w, c);
  putOps(w, t.success, depth);
  putOps(w, t.failure, depth);
}

function getTxn(r: Reader, depth: number): TxnRequest {
  if (depth > TXN_DEPTH_MAX) bad(`txns nested deeper than ${TXN_DEPTH_MAX}`);
  const n = r.count();
  const compare: Compare[] = [];
  for (let i = 0; i < n; i++) compare.push(getCompare(r));
  const success = getOps(r, depth);
  const failure = getOps(r, depth);
  return { compare, success, failure };
}

/** Room for a put's fields beside its key and value: a type byte, two length varints, the lease, the flags. */
const PUT_FIXED_BYTES_MAX = 1 + 2 * 5 + 8 + 1;

export function encodeMvccWrite(write: MvccWrite): Uint8Array {
  const w = new Writer(write.type === 'put' ? write.put.key.length + write.put.value.length + PUT_FIXED_BYTES_MAX : undefined);
  w.byte(WRITE_TYPES.indexOf(write.type) + 1);
  switch (write.type) {
    case 'put':
      putPut(w, write.put);
      break;
    case 'deleteRange':
      putDelete(w, write.deleteRange);
      break;
    case 'txn':
      putTxn(w, write.txn, 1);
      break;
    case 'compact':
      w.i64(write.revision);
      break;
    case 'leaseGrant':
      w.i64(write.id);
      w.i64(write.ttlSeconds);
      break;
    case 'leaseRevoke':
      w.i64(write.id);
      break;
    case 'leaseCheckpoint':
      w.i64(write.id);
      w.i64(write.remainingTtlSeconds);
      break;
    case 'alarm':
      w.byte(ALARM_ACTIONS.indexOf(write.action) + 1);
      w.byte(alarmTypeNumber(write.member.alarm));
      w.i64(BigInt.asIntN(64, write.member.memberId));
      break;
  }
  return w.done();
}

export function decodeMvccWrite(b: Uint8Array): MvccWrite {
  const r = new Reader(b);
  const t = r.byte();
  if (t < 1 || t > WRITE_TYPES.length) bad(`unknown write type ${t}`);
  let w: MvccWrite;
  switch (WRITE_TYPES[t - 1]!) {
    case 'put':
      w = { type: 'put', put: getPut(r) };
      break;
    case 'deleteRange':
      w = { type: 'deleteRange', deleteRange: getDelete(r) };
      break;
    case 'txn':
      w = { type: 'txn', txn: getTxn(r, 1) };
      break;
    case 'compact':
      w = { type: 'compact', revision: r.i64() };
      break;
    case 'leaseGrant':
      w = { type: 'leaseGrant', id: r.bigint(), ttlSeconds: r.i64() };
      break;
    case 'leaseRevoke':
      w = { type: 'leaseRevoke', id: r.bigint() };
      break;
    case 'leaseCheckpoint':
      w = { type: 'leaseCheckpoint', id: r.bigint(), remainingTtlSeconds: r.i64() };
      break;
    case 'alarm': {
      const action = r.byte();
      if (action < 1 || action > ALARM_ACTIONS.length) bad(`unknown alarm action ${action}`);
      const alarm = r.byte();
      if (alarm < 1 || alarm >= ALARM_TYPES.length) bad(`unknown alarm type ${alarm}`);
      w = { type: 'alarm', action: ALARM_ACTIONS[action - 1]!, member: { alarm: ALARM_TYPES[alarm]!, memberId: BigInt.asUintN(64, r.bigint()) } };
      break;
    }
  }
  r.end();
  return w;
}
