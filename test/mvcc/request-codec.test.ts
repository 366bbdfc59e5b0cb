/**
 * The etcd write inside a Raft command (src/mvcc/request-codec.ts): every write round-trips, and
 * malformed bytes (truncated, trailing, unknown codes, too deep) are refused with
 * KV_ERR_INVALID_ARGUMENT, which the state machine applies as a rejected no-op on every replica.
 */
import { describe, expect, it } from 'vitest';
import { decodeMvccWrite, encodeMvccWrite, TXN_DEPTH_MAX } from '../../src/mvcc/request-codec.js';
import type { MvccWrite, TxnRequest } from '../../src/mvcc/requests.js';
import { utf8 } from '../../src/util/bytes.js';

const k = utf8;

const WRITES: MvccWrite[] = [
  { type: 'put', put: { key: k('a'), value: k('v'), lease: -5n, prevKv: true, ignoreValue: false, ignoreLease: true } },
  { type: 'deleteRange', deleteRange: { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0), prevKv: true } },
  { type: 'deleteRange', deleteRange: { key: k('x'), prevKv: false } },
  {
    type: 'txn',
    txn: {
      compare: [
        { result: 'NOT_EQUAL', target: 'VALUE', key: k('a'), rangeEnd: k('b'), value: k('') },
        { result: 'LESS', target: 'LEASE', key: k('a'), lease: 2n ** 63n - 1n },
        { result: 'GREATER', target: 'MOD', key: k('a'), modRevision: -1 },
      ],
      success: [
        { range: { key: k('a'), rangeEnd: k('z'), limit: 3, revision: 9, sortOrder: 'DESCEND', sortTarget: 'VALUE', minModRevision: 1, maxModRevision: 2, minCreateRevision: 3, maxCreateRevision: 4, keysOnly: true, countOnly: true } },
        { txn: { compare: [], success: [{ put: { key: k('n'), value: k('1'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } }], failure: [] } },
      ],
      failure: [{ deleteRange: { key: k('d'), prevKv: false } }],
    },
  },
  { type: 'compact', revision: 2 ** 53 - 1 },
  { type: 'leaseGrant', id: -(2n ** 63n), ttlSeconds: 60 },
  { type: 'leaseRevoke', id: 7n },
  { type: 'leaseCheckpoint', id: 7n, remainingTtlSeconds: 12 },
  { type: 'alarm', action: 'activate', member: { memberId: 2n ** 64n - 1n, alarm: 'NOSPACE' } },
  { type: 'alarm', action: 'deactivate', member: { memberId: 3n, alarm: 'CORRUPT' } },
];

function nested(depth: number): TxnRequest {
  let t: TxnRequest = { compare: [], success: [], failure: [] };
  for (let i = 1; i < depth; i++) t = { compare: [], success: [{ txn: t }], failure: [] };
  return t;
}

describe('etcd write codec', () => {
  it('keeps the bytes of the write types older than the alarm (type 8 was added after them)', () => {
    expect([...encodeMvccWrite({ type: 'compact', revision: 5 })]).toEqual([4, 0, 0, 0, 0, 0, 0, 0, 5]);
    expect([...encodeMvccWrite({ type: 'leaseCheckpoint', id: 1n, remainingTtlSeconds: 2 })]).toEqual([7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect([...encodeMvccWrite({ type: 'alarm', action: 'activate', member: { memberId: 258n, alarm: 'NOSPACE' } })]).toEqual([8, 1, 1, 0, 0, 0, 0, 0, 0, 1, 2]);
  });

  it.each(WRITES.map((w) => [w.type, w] as const))('round-trips a %s', (_, w) => {
    const bytes = encodeMvccWrite(w);
    const back = decodeMvccWrite(bytes);
    expect(encodeMvccWrite(back)).toEqual(bytes);
    if (w.type === 'txn' && back.type === 'txn') expect(back.txn.compare).toEqual(w.txn.compare);
    if (w.type === 'leaseGrant' || w.type === 'put' || w.type === 'alarm') expect(back).toEqual(w);
  });

  it('refuses truncated, trailing, unknown and too deeply nested bytes', () => {
    const bad = (b: Uint8Array) => expect(() => decodeMvccWrite(b), `bytes ${[...b].join(',')}`).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    for (const w of WRITES) {
      const b = encodeMvccWrite(w);
      for (let n = 0; n < b.length; n++) bad(b.subarray(0, n));
      bad(Uint8Array.of(...b, 0));
    }
    bad(Uint8Array.of(0));
    bad(Uint8Array.of(9));
    const alarm = (action: number, type: number) => Uint8Array.of(8, action, type, 0, 0, 0, 0, 0, 0, 0, 1);
    expect(decodeMvccWrite(alarm(2, 1))).toEqual({ type: 'alarm', action: 'deactivate', member: { memberId: 1n, alarm: 'NOSPACE' } });
    for (const [action, type] of [[0, 1], [3, 1], [1, 0], [1, 3]] as const) bad(alarm(action, type));
    expect(() => encodeMvccWrite({ type: 'txn', txn: nested(TXN_DEPTH_MAX + 1) })).toThrow(expect.objectContaining({ code: 'KV_ERR_INVALID_ARGUMENT' }));
    const deepest = encodeMvccWrite({ type: 'txn', txn: nested(TXN_DEPTH_MAX) });
    expect(decodeMvccWrite(deepest).type).toBe('txn');
    // One level more, written by hand: each level is 0 compares, 1 success op of kind 4, 0 failure ops.
    bad(Uint8Array.of(3, 0, 1, 4, ...deepest.subarray(1), 0));
  });

  it('round-trips every 64-bit lease at the edges of its two 32-bit halves, as big-endian two\'s complement', () => {
    const edges = [0n, 1n, -1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n, -(2n ** 31n), -(2n ** 32n), -(2n ** 32n) - 1n, 2n ** 63n - 1n, -(2n ** 63n), 0x0123_4567_89ab_cdefn];
    for (const lease of edges) {
      const bytes = encodeMvccWrite({ type: 'put', put: { key: k('a'), value: k('v'), lease } });
      // The lease's 8 bytes sit after the type and the key's and value's length and byte.
      expect(new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(5)).toBe(lease);
      const w = decodeMvccWrite(bytes);
      expect(w.type === 'put' && w.put.lease).toBe(lease);
    }
  });

  it('sizes a put\'s encoding for its key and value (large values too)', () => {
    for (const n of [0, 1, 200, 300, 70_000]) {
      const value = new Uint8Array(n).fill(7);
      const w = decodeMvccWrite(encodeMvccWrite({ type: 'put', put: { key: k('key'), value, lease: 3n } }));
      expect(w.type === 'put' && [w.put.value.length, w.put.value.every((b) => b === 7), w.put.lease]).toEqual([n, true, 3n]);
    }
  });
});
