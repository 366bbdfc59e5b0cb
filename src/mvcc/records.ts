/**
 * The values stored under the MVCC namespaces (keys.ts; docs/format/raft-log.md, "State tree keys"):
 *
 *   history record ('r')   kind byte (1 put, 2 tombstone), varint sub-revision, and for a put:
 *                          varint create revision, varint version, 8-byte big-endian lease
 *                          (two's complement), then the value to the end
 *   current ('k')          varint create revision, varint mod revision, varint version, 8-byte
 *                          big-endian lease (two's complement)
 *   meta ('m')             version byte (1), varint revision, varint compact revision, then the
 *                          compaction left to do (compaction.ts): varint its revision (0: none)
 *                          and, if any, varint length + its cursor key
 *   lease ('l')            varint granted TTL seconds, varint remaining TTL seconds (0: none
 *                          checkpointed)
 *
 * Decoders assert: these bytes are written by this module alone and checked by the tree's block
 * checksums, so a malformed record is a bug, not user input.
 */
import { assert } from '../util/assert.js';
import { getVarint, putVarint, varintLength, type VarintRead } from '../util/bytes.js';

const KIND_PUT = 1;
const KIND_TOMBSTONE = 2;
const META_VERSION = 1;

export interface HistoryRecord {
  /** Order of this change within its revision (0, 1, ...). */
  sub: number;
  /** False: the key was deleted at this revision. */
  live: boolean;
  createRevision: number;
  version: number;
  lease: bigint;
  value: Uint8Array;
}

const EMPTY = new Uint8Array(0);

function reader(b: Uint8Array, pos: number): { r: VarintRead; next(): number } {
  const r: VarintRead = { value: 0, pos };
  return {
    r,
    next(): number {
      getVarint(b, r.pos, b.length, r);
      assert(r.pos > 0, 'malformed mvcc record');
      return r.value;
    },
  };
}

export function encodeHistoryRecord(rec: HistoryRecord): Uint8Array {
  if (!rec.live) {
    const out = new Uint8Array(1 + varintLength(rec.sub));
    out[0] = KIND_TOMBSTONE;
    putVarint(out, 1, rec.sub);
    return out;
  }
  const head = 1 + varintLength(rec.sub) + varintLength(rec.createRevision) + varintLength(rec.version) + 8;
  const out = new Uint8Array(head + rec.value.length);
  out[0] = KIND_PUT;
  let pos = putVarint(out, 1, rec.sub);
  pos = putVarint(out, pos, rec.createRevision);
  pos = putVarint(out, pos, rec.version);
  new DataView(out.buffer).setBigUint64(pos, BigInt.asUintN(64, rec.lease));
  out.set(rec.value, head);
  return out;
}

export function decodeHistoryRecord(b: Uint8Array): HistoryRecord {
  const rd = reader(b, 1);
  const sub = rd.next();
  if (b[0] === KIND_TOMBSTONE) {
    assert(rd.r.pos === b.length, 'tombstone record with trailing bytes');
    return { sub, live: false, createRevision: 0, version: 0, lease: 0n, value: EMPTY };
  }
  assert(b[0] === KIND_PUT, () => `history record of kind ${b[0]}`);
  const createRevision = rd.next();
  const version = rd.next();
  const pos = rd.r.pos;
  assert(pos + 8 <= b.length, 'truncated history record');
  const lease = BigInt.asIntN(64, new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(pos));
  return { sub, live: true, createRevision, version, lease, value: b.slice(pos + 8) };
}

/** Compaction work left (compaction.ts): removing what compaction at `revision` made unreachable, from `cursor` on. */
export interface PhysicalCompaction {
  revision: number;
  /** The next tree key to look at: in the history ('r') first, then the event index ('e'). */
  cursor: Uint8Array;
}

/** A key's current metadata ('k'); its value is under 'u'. */
export interface CurrentRecord {
  createRevision: number;
  modRevision: number;
  version: number;
  lease: bigint;
}

export function encodeCurrent(c: CurrentRecord): Uint8Array {
  const n = varintLength(c.createRevision) + varintLength(c.modRevision) + varintLength(c.version);
  const out = new Uint8Array(n + 8);
  putVarint(out, putVarint(out, putVarint(out, 0, c.createRevision), c.modRevision), c.version);
  new DataView(out.buffer).setBigUint64(n, BigInt.asUintN(64, c.lease));
  return out;
}

export function decodeCurrent(b: Uint8Array): CurrentRecord {
  const rd = reader(b, 0);
  const createRevision = rd.next();
  const modRevision = rd.next();
  const version = rd.next();
  assert(rd.r.pos + 8 === b.length, 'malformed current record');
  const lease = BigInt.asIntN(64, new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(rd.r.pos));
  return { createRevision, modRevision, version, lease };
}

export interface MvccMeta {
  revision: number;
  compactRevision: number;
  /** Physical compaction still to do (compaction.ts). */
  compacting?: PhysicalCompaction | undefined;
}

export function encodeMeta(m: MvccMeta): Uint8Array {
  const w = m.compacting;
  const tail = w === undefined ? 1 : varintLength(w.revision) + varintLength(w.cursor.length) + w.cursor.length;
  const out = new Uint8Array(1 + varintLength(m.revision) + varintLength(m.compactRevision) + tail);
  out[0] = META_VERSION;
  let pos = putVarint(out, putVarint(out, 1, m.revision), m.compactRevision);
  if (w === undefined) {
    out[pos] = 0;
  } else {
    pos = putVarint(out, putVarint(out, pos, w.revision), w.cursor.length);
    out.set(w.cursor, pos);
  }
  return out;
}

/**
 * An empty store is at revision 1, as etcd's (mvcc/kvstore.go starts currentRev at 1): the first
 * write is revision 2, and clients that compare revisions with a real etcd's see the same numbers.
 */
export const FIRST_REVISION = 1;

export function decodeMeta(b: Uint8Array | undefined): MvccMeta {
  if (b === undefined) return { revision: FIRST_REVISION, compactRevision: 0 };
  assert(b[0] === META_VERSION, () => `mvcc meta of version ${b[0]}`);
  const rd = reader(b, 1);
  const revision = rd.next();
  const compactRevision = rd.next();
  const workRevision = rd.next();
  if (workRevision === 0) {
    assert(rd.r.pos === b.length, 'mvcc meta with trailing bytes');
    return { revision, compactRevision };
  }
  const n = rd.next();
  assert(rd.r.pos + n === b.length, 'mvcc meta with a bad cursor length');
  return { revision, compactRevision, compacting: { revision: workRevision, cursor: b.slice(rd.r.pos) } };
}

export interface LeaseRecord {
  ttlSeconds: number;
  /** The remaining TTL the leader last checkpointed; 0 when none. */
  remainingTtlSeconds: number;
}

export function encodeLease(l: LeaseRecord): Uint8Array {
  const out = new Uint8Array(varintLength(l.ttlSeconds) + varintLength(l.remainingTtlSeconds));
  putVarint(out, putVarint(out, 0, l.ttlSeconds), l.remainingTtlSeconds);
  return out;
}

export function decodeLease(b: Uint8Array): LeaseRecord {
  const rd = reader(b, 0);
  const ttlSeconds = rd.next();
  const remainingTtlSeconds = rd.next();
  assert(rd.r.pos === b.length, 'lease record with trailing bytes');
  return { ttlSeconds, remainingTtlSeconds };
}
