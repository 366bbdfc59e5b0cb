/**
 * EntryCache (src/node/entry-cache.ts): the newest Raft entries in memory. It answers only ranges it
 * holds whole, with the tree's maxBytes rule; a conflicting append replaces the suffix; a gap, a
 * compaction and a clear drop what can no longer be answered; the bytes stay under bytesMax.
 */
import { describe, expect, it } from 'vitest';
import { EntryCache } from '../../src/node/entry-cache.js';
import { entrySizeBytes, type Entry } from '../../src/raft/types.js';

const ent = (index: number, term = 1, bytes = 10): Entry => ({ index, term, type: 'normal', data: new Uint8Array(bytes).fill(index & 0xff) });
const run = (from: number, to: number, term = 1, bytes = 10): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term, bytes));
const indexes = (es: Entry[] | undefined) => es?.map((e) => e.index);

describe('EntryCache', () => {
  it('answers a range it holds whole, and nothing else', () => {
    const c = new EntryCache(1 << 20);
    c.append(run(5, 9));
    expect(indexes(c.entries(5, 10, Infinity))).toEqual([5, 6, 7, 8, 9]);
    expect(indexes(c.entries(7, 9, Infinity))).toEqual([7, 8]);
    expect(c.entries(4, 6, Infinity)).toBeUndefined();
    expect(c.entries(8, 11, Infinity)).toBeUndefined();
  });

  it('stops past maxBytes but returns at least one entry, as the tree read does', () => {
    const c = new EntryCache(1 << 20);
    c.append(run(1, 5));
    const one = entrySizeBytes(ent(1));
    expect(indexes(c.entries(1, 6, 2 * one))).toEqual([1, 2]);
    expect(indexes(c.entries(1, 6, 2 * one + 1))).toEqual([1, 2]);
    expect(indexes(c.entries(1, 6, 0))).toEqual([1]);
  });

  it('replaces a conflicting suffix and restarts after a gap', () => {
    const c = new EntryCache(1 << 20);
    c.append(run(1, 6, 1));
    c.append(run(4, 5, 2));
    expect(c.entries(1, 6, Infinity)!.map((e) => [e.index, e.term])).toEqual([[1, 1], [2, 1], [3, 1], [4, 2], [5, 2]]);
    expect(c.entries(6, 7, Infinity)).toBeUndefined();
    c.append(run(9, 10, 3));
    expect(c.range()).toEqual({ first: 9, last: 10 });
    c.append(run(2, 3, 4));
    expect(c.range()).toEqual({ first: 2, last: 3 });
  });

  it('evicts the oldest entries past bytesMax and drops compacted ones', () => {
    const one = entrySizeBytes(ent(1));
    const c = new EntryCache(3 * one);
    // Bounded: 100 appends of one entry each.
    for (let i = 1; i <= 100; i++) {
      c.append([ent(i)]);
      expect(c.sizeBytes).toBeLessThanOrEqual(3 * one);
    }
    expect(c.range()).toEqual({ first: 98, last: 100 });
    c.compactTo(98);
    expect(c.range()).toEqual({ first: 99, last: 100 });
    c.compactTo(200);
    expect(c.range()).toBeUndefined();
    expect(c.sizeBytes).toBe(0);
  });

  it('copies entry data that is a view of a larger buffer (a peer frame), and keeps it intact', () => {
    const frame = new Uint8Array(1000).fill(7);
    const e: Entry = { index: 1, term: 1, type: 'normal', data: frame.subarray(10, 20) };
    const c = new EntryCache(1 << 20);
    c.append([e]);
    frame.fill(0);
    const got = c.entries(1, 2, Infinity)![0]!;
    expect(got.data.buffer.byteLength).toBe(10);
    expect([...got.data]).toEqual(new Array(10).fill(7));
  });
});
