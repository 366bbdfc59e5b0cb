/**
 * The MVCC store's key namespaces in the state tree (docs/format/raft-log.md, "State tree keys").
 * Each begins with its own byte, beside the node's session namespace 's' (src/node/state-keys.ts):
 *
 *   'u' ++ key                                    the key's current value (also the native API's key)
 *   'k' ++ key                                    the key's current create / mod revision, version, lease
 *   'r' ++ esc(key) ++ 0x00 0x01 ++ BE64(rev)     a history record: the key as of revision rev
 *   'e' ++ BE64(rev) ++ BE32(sub)                 the event index: which key changed at (rev, sub)
 *   'l' ++ BE64(leaseId)                          a granted lease
 *   'a' ++ BE64(leaseId) ++ key                   a key attached to a lease (empty value)
 *   'm'                                           the store's revision and compact revision
 *   'w' ++ byte(alarm) ++ BE64(memberId)          an active alarm of a member (empty value: alarms.ts)
 *
 * esc(key) doubles every 0x00 byte of the key into 0x00 0xFF and the terminator is 0x00 0x01, so
 * the history keys sort first by user key (bytewise, as etcd orders keys), then by revision: a
 * range at a past revision is one forward scan, and a key's latest record at or below a revision is
 * one reverse seek. (The escape is the order-preserving byte-string encoding of FoundationDB's tuple
 * layer and CockroachDB's encoding.go, with other byte values.) Lease ids are int64; BE64 of their
 * two's-complement bits keeps one record per id.
 *
 * What must hold: every key a client gives is 1..MVCC_KEY_BYTES_MAX bytes, so the longest history
 * key stays within the tree's KEY_BYTES_MAX.
 */
import { printableKey } from '../lsm/describe.js';
import { KEY_BYTES_MAX } from '../lsm/options.js';
import { assert } from '../util/assert.js';
import { compareBytes } from '../util/bytes.js';

export const VALUE_PREFIX = 0x75; // 'u'
export const HISTORY_PREFIX = 0x72; // 'r'
export const EVENT_PREFIX = 0x65; // 'e'
export const LEASE_PREFIX = 0x6c; // 'l'
export const ATTACH_PREFIX = 0x61; // 'a'
export const META_PREFIX = 0x6d; // 'm'
export const CURRENT_PREFIX = 0x6b; // 'k'
export const ALARM_PREFIX = 0x77; // 'w'

/** Longest key: its escaped form (at most twice as long), terminator and revision fit a tree key. */
export const MVCC_KEY_BYTES_MAX = Math.floor((KEY_BYTES_MAX - 1 - 2 - 8) / 2);

export const META_KEY = Uint8Array.of(META_PREFIX);

export function valueKey(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = VALUE_PREFIX;
  out.set(key, 1);
  return out;
}

function escapedLength(key: Uint8Array): number {
  let n = key.length;
  for (let i = 0; i < key.length; i++) if (key[i] === 0) n++;
  return n;
}

/** 'k' ++ key: where the key's current metadata is (the apply reads it by point lookups). */
export function currentKey(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = CURRENT_PREFIX;
  out.set(key, 1);
  return out;
}

/** The bounds of the etcd range [key, rangeEnd) in the 'k' namespace (rangeEnd non-empty). */
export function currentBounds(key: Uint8Array, rangeEnd: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: currentKey(key), lt: isFromKey(rangeEnd) ? Uint8Array.of(CURRENT_PREFIX + 1) : currentKey(rangeEnd) };
}

/** 'r' ++ esc(key) ++ terminator: the prefix of every history record of `key`. */
export function historyPrefix(key: Uint8Array): Uint8Array {
  assert(key.length >= 1 && key.length <= MVCC_KEY_BYTES_MAX, () => `mvcc key of ${key.length} bytes`);
  const out = new Uint8Array(1 + escapedLength(key) + 2);
  out[0] = HISTORY_PREFIX;
  let pos = 1;
  for (let i = 0; i < key.length; i++) {
    const b = key[i]!;
    out[pos++] = b;
    if (b === 0) out[pos++] = 0xff;
  }
  out[pos++] = 0x00;
  out[pos] = 0x01;
  return out;
}

/** 'r' ++ esc(key): where the history of `key` and of every key after it begins (a range bound). */
export function historyBound(key: Uint8Array): Uint8Array {
  const p = historyPrefix(key);
  return p.subarray(0, p.length - 2);
}

/** The end of the whole history namespace. */
export const HISTORY_END = Uint8Array.of(HISTORY_PREFIX + 1);
export const HISTORY_START = Uint8Array.of(HISTORY_PREFIX);

function putBe64(out: Uint8Array, pos: number, v: bigint): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(pos, BigInt.asUintN(64, v));
}

function getBe64(b: Uint8Array, pos: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(pos);
}

export function historyKey(key: Uint8Array, revision: number): Uint8Array {
  const p = historyPrefix(key);
  const out = new Uint8Array(p.length + 8);
  out.set(p, 0);
  putBe64(out, p.length, BigInt(revision));
  return out;
}

/** The user key and revision of a history key. */
export function decodeHistoryKey(treeKey: Uint8Array): { key: Uint8Array; revision: number } {
  assert(treeKey.length >= 12 && treeKey[0] === HISTORY_PREFIX, 'not a history key');
  const end = treeKey.length - 8 - 2;
  assert(treeKey[end] === 0 && treeKey[end + 1] === 1, 'history key without its terminator');
  const key = new Uint8Array(end - 1);
  let n = 0;
  for (let i = 1; i < end; i++) {
    const b = treeKey[i]!;
    key[n++] = b;
    if (b === 0) {
      assert(treeKey[i + 1] === 0xff, 'history key with a bad escape');
      i++;
    }
  }
  return { key: key.subarray(0, n), revision: Number(getBe64(treeKey, treeKey.length - 8)) };
}

export function eventKey(revision: number, sub: number): Uint8Array {
  const out = new Uint8Array(13);
  out[0] = EVENT_PREFIX;
  putBe64(out, 1, BigInt(revision));
  new DataView(out.buffer).setUint32(9, sub);
  return out;
}

export function decodeEventKey(treeKey: Uint8Array): { revision: number; sub: number } {
  assert(treeKey.length === 13 && treeKey[0] === EVENT_PREFIX, 'not an event key');
  return { revision: Number(getBe64(treeKey, 1)), sub: new DataView(treeKey.buffer, treeKey.byteOffset, 13).getUint32(9) };
}

export const EVENT_START = Uint8Array.of(EVENT_PREFIX);

export function leaseKey(id: bigint): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = LEASE_PREFIX;
  putBe64(out, 1, id);
  return out;
}

export function leaseIdOfKey(treeKey: Uint8Array): bigint {
  assert(treeKey.length === 9 && treeKey[0] === LEASE_PREFIX, 'not a lease key');
  return BigInt.asIntN(64, getBe64(treeKey, 1));
}

export const LEASE_START = Uint8Array.of(LEASE_PREFIX);
export const ALARM_START = Uint8Array.of(ALARM_PREFIX);
export const ALARM_END = Uint8Array.of(ALARM_PREFIX + 1);

/** 'w' ++ byte(alarm) ++ BE64(memberId): alarms sort by type, so "any NOSPACE" is one short scan. */
export function alarmKey(alarm: number, memberId: bigint): Uint8Array {
  const out = new Uint8Array(10);
  out[0] = ALARM_PREFIX;
  out[1] = alarm;
  putBe64(out, 2, memberId);
  return out;
}

export function decodeAlarmKey(treeKey: Uint8Array): { alarm: number; memberId: bigint } {
  assert(treeKey.length === 10 && treeKey[0] === ALARM_PREFIX, 'not an alarm key');
  return { alarm: treeKey[1]!, memberId: getBe64(treeKey, 2) };
}

export const LEASE_END = Uint8Array.of(LEASE_PREFIX + 1);

/** 'a' ++ BE64(id): the prefix of the attachments of lease `id`. */
export function attachPrefix(id: bigint): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = ATTACH_PREFIX;
  putBe64(out, 1, id);
  return out;
}

export function attachKey(id: bigint, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + key.length);
  out.set(attachPrefix(id), 0);
  out.set(key, 9);
  return out;
}

/** The smallest key after every key beginning with `prefix` (prefix has a byte below 0xff). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  assert(n > 0, 'prefixEnd of an all-0xff prefix');
  const out = prefix.slice(0, n);
  out[n - 1]!++;
  return out;
}

/** Whether `key` lies in the etcd range [start, end) (end empty: key === start; end "\0": key >= start). */
export function inKeyRange(key: Uint8Array, start: Uint8Array, end: Uint8Array | undefined): boolean {
  if (end === undefined || end.length === 0) return compareBytes(key, start) === 0;
  if (compareBytes(key, start) < 0) return false;
  return isFromKey(end) || compareBytes(key, end) < 0;
}

/** etcd's range_end "\0": every key from the start key on. */
export function isFromKey(end: Uint8Array | undefined): boolean {
  return end !== undefined && end.length === 1 && end[0] === 0;
}

/** A readable form of an MVCC tree key other than 'u' (for `lsm s`), or undefined if it is none. */
export function printableMvccKey(treeKey: Uint8Array): string | undefined {
  const p = treeKey[0];
  if (p === META_PREFIX && treeKey.length === 1) return 'mvcc meta';
  if (p === CURRENT_PREFIX && treeKey.length > 1) return `current ${printableKey(treeKey.subarray(1))}`;
  if (p === EVENT_PREFIX && treeKey.length === 13) {
    const e = decodeEventKey(treeKey);
    return `event ${e.revision}.${e.sub}`;
  }
  if (p === LEASE_PREFIX && treeKey.length === 9) return `lease ${leaseIdOfKey(treeKey)}`;
  if (p === ALARM_PREFIX && treeKey.length === 10) {
    const a = decodeAlarmKey(treeKey);
    return `alarm ${a.alarm} of member ${a.memberId}`;
  }
  if (p === ATTACH_PREFIX && treeKey.length > 9) return `lease ${BigInt.asIntN(64, getBe64(treeKey, 1))} key ${printableKey(treeKey.subarray(9))}`;
  if (p === HISTORY_PREFIX && treeKey.length >= 12 && treeKey[treeKey.length - 10] === 0 && treeKey[treeKey.length - 9] === 1) {
    const h = decodeHistoryKey(treeKey);
    return `${printableKey(h.key)}@${h.revision}`;
  }
  return undefined;
}
