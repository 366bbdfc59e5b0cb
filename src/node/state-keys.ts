/**
 * The key namespaces of the state tree (docs/format/raft-log.md, "State tree keys"): the tree holds
 * the users' keys and the client session table side by side, each under its own first byte, so a
 * snapshot (the tree's files) carries both and a user range never reaches a session record.
 *
 *   's' ++ BE64(sessionId)   a session record (session-table.ts)
 *   'u' ++ userKey           a user key and its value
 *   'r', 'e', 'l', 'a', 'm', 'k', 'w'   the etcd MVCC store's history, events, leases, revision,
 *                            current records and alarms (src/mvcc/keys.ts); native puts and
 *                            deletes are MVCC writes too
 *   'c' 'i'                  the highest node id any conf change ever named (decimal text), so
 *                            a new member's id is never one the cluster had (member-rules.ts)
 *
 * What must hold: every user key read or written by the state machine goes through userTreeKey,
 * and every key a user range read returns is stripped by userKeyOfTreeKey; nothing else is stored.
 */
import { printableKey } from '../lsm/describe.js';
import { MVCC_KEY_BYTES_MAX, VALUE_PREFIX, printableMvccKey } from '../mvcc/keys.js';
import { assert } from '../util/assert.js';

export const SESSION_KEY_PREFIX = 0x73; // 's'
/** The MVCC store's current-value namespace (src/mvcc/keys.ts): native and etcd keys are one keyspace. */
export const USER_KEY_PREFIX = VALUE_PREFIX; // 'u'

/** Longest user key: the MVCC store's (its history keys escape the key and add a revision). */
export const USER_KEY_BYTES_MAX = MVCC_KEY_BYTES_MAX;

export function userTreeKey(key: Uint8Array): Uint8Array {
  assert(key.length >= 1 && key.length <= USER_KEY_BYTES_MAX, () => `user key of ${key.length} bytes`);
  const out = new Uint8Array(key.length + 1);
  out[0] = USER_KEY_PREFIX;
  out.set(key, 1);
  return out;
}

/** The user key of a tree key in the user namespace (a view). */
export function userKeyOfTreeKey(treeKey: Uint8Array): Uint8Array {
  assert(treeKey.length >= 2 && treeKey[0] === USER_KEY_PREFIX, 'not a user tree key');
  return treeKey.subarray(1);
}

/** Bounds of the whole user namespace: 'u' inclusive .. 'v' exclusive. */
export const USER_RANGE_GTE = Uint8Array.of(USER_KEY_PREFIX);
export const USER_RANGE_LT = Uint8Array.of(USER_KEY_PREFIX + 1);
export const SESSION_RANGE_GTE = Uint8Array.of(SESSION_KEY_PREFIX);
export const SESSION_RANGE_LT = Uint8Array.of(SESSION_KEY_PREFIX + 1);

export const MEMBER_ID_MAX_KEY = Uint8Array.of(0x63, 0x69); // 'c' 'i'

/** Session ids are log indexes (< 2^53): big-endian so records sort by id. */
export function sessionTreeKey(sessionId: number): Uint8Array {
  const out = new Uint8Array(9);
  const view = new DataView(out.buffer);
  out[0] = SESSION_KEY_PREFIX;
  view.setUint32(1, Math.floor(sessionId / 0x1_0000_0000));
  view.setUint32(5, sessionId >>> 0);
  return out;
}

export function sessionIdOfTreeKey(treeKey: Uint8Array): number | undefined {
  if (treeKey.length !== 9 || treeKey[0] !== SESSION_KEY_PREFIX) return undefined;
  const view = new DataView(treeKey.buffer, treeKey.byteOffset, treeKey.byteLength);
  return view.getUint32(1) * 0x1_0000_0000 + view.getUint32(5);
}

/**
 * How `lsm s` prints a state tree key: the user key as it is, a session record by its id, an MVCC
 * record by what it is (src/mvcc/keys.ts).
 */
export function printableStateKey(treeKey: Uint8Array): string {
  if (treeKey.length >= 2 && treeKey[0] === USER_KEY_PREFIX) return printableKey(treeKey.subarray(1));
  const id = sessionIdOfTreeKey(treeKey);
  if (id !== undefined) return `<session ${id}>`;
  if (treeKey.length === 2 && treeKey[0] === MEMBER_ID_MAX_KEY[0] && treeKey[1] === MEMBER_ID_MAX_KEY[1]) return '<member id max>';
  const mvcc = printableMvccKey(treeKey);
  if (mvcc !== undefined) return `<${mvcc}>`;
  return `<${printableKey(treeKey)}>`;
}
