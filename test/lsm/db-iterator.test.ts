import { describe, expect, it } from 'vitest';
import type { EntryRun } from '../../src/engine/types.js';
import { ClosedError } from '../../src/errors.js';
import { DbIterator, type DbIteratorBounds } from '../../src/lsm/db-iterator.js';
import { KIND_DELETE, KIND_PUT, makeInternalKey, SEQUENCE_MAX } from '../../src/format/internal-key.js';
import type { InternalIterator } from '../../src/lsm/iterator.js';
import { MemTable } from '../../src/lsm/memtable.js';
import { MergingIterator } from '../../src/lsm/merging-iterator.js';
import { RunIterator } from '../../src/lsm/run-iterator.js';
import { compareBytes, fromUtf8, utf8 } from '../../src/util/bytes.js';
import { sortedRun } from '../helpers/runs.js';
import { seedsWithClock, withSeed, xorshiftBelow } from '../helpers/rng.js';

const SEEDS = seedsWithClock([21, 22, 23]);

interface Write {
  userKey: Uint8Array;
  seq: number;
  kind: number;
  value: Uint8Array;
}

function packRun(writes: readonly Write[]): EntryRun {
  return sortedRun(writes.map((w) => [makeInternalKey(w.userKey, w.seq, w.kind), w.value] as const));
}

/** Spreads writes over a memtable and a few runs, merged: the shape a read sees in the tree. */
function sourceOf(writes: readonly Write[], r: (n: number) => number): InternalIterator {
  const mem = new MemTable({ arenaChunkBytes: 4096 });
  const runs: Write[][] = [[], [], []];
  for (const w of writes) {
    const slot = r(4);
    if (slot === 3) mem.add(w.seq, w.kind, w.userKey, w.value);
    else runs[slot]!.push(w);
  }
  return new MergingIterator([mem.iterator(), ...runs.map((ws) => new RunIterator(packRun(ws)))]);
}

/** What a reader at readSeq sees within bounds, ascending: [key, value] as strings. */
function visible(writes: readonly Write[], readSeq: number, bounds: DbIteratorBounds): [string, string][] {
  const newest = new Map<string, Write>();
  for (const w of writes) {
    if (w.seq > readSeq) continue;
    const k = fromUtf8(w.userKey);
    const old = newest.get(k);
    if (old === undefined || old.seq < w.seq) newest.set(k, w);
  }
  const out: [string, string][] = [];
  for (const w of newest.values()) {
    if (w.kind !== KIND_PUT || !inBounds(w.userKey, bounds)) continue;
    out.push([fromUtf8(w.userKey), fromUtf8(w.value)]);
  }
  return out.sort((a, b) => compareBytes(utf8(a[0]), utf8(b[0])));
}

function inBounds(k: Uint8Array, b: DbIteratorBounds): boolean {
  if (b.gt !== undefined && compareBytes(k, b.gt) <= 0) return false;
  if (b.gte !== undefined && compareBytes(k, b.gte) < 0) return false;
  if (b.lt !== undefined && compareBytes(k, b.lt) >= 0) return false;
  if (b.lte !== undefined && compareBytes(k, b.lte) > 0) return false;
  return true;
}

function drain(it: DbIterator, max: number): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < max && it.next(); i++) out.push([fromUtf8(it.key()), fromUtf8(it.value())]);
  return out;
}

/** Keys of ASCII letters (valid UTF-8, so the model can key a Map by string), 1-3 bytes. */
function randomUserKey(r: (n: number) => number): Uint8Array {
  let s = '';
  const n = 1 + r(3);
  for (let i = 0; i < n; i++) s += 'abcde'[r(5)];
  return utf8(s);
}

function randomWrites(r: (n: number) => number, count: number): Write[] {
  const writes: Write[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const kind = r(3) === 0 ? KIND_DELETE : KIND_PUT;
    writes.push({ userKey: randomUserKey(r), seq, kind, value: kind === KIND_PUT ? utf8(`v${seq}`) : new Uint8Array(0) });
  }
  return writes;
}

function boundsOf(mask: number, r: (n: number) => number): DbIteratorBounds {
  const b: DbIteratorBounds = {};
  if (mask & 1) b.gt = randomUserKey(r);
  if (mask & 2) b.gte = randomUserKey(r);
  if (mask & 4) b.lt = randomUserKey(r);
  if (mask & 8) b.lte = randomUserKey(r);
  return b;
}

describe('DbIterator against a model', () => {
  it('yields the newest visible version per key, for every bound combination, both directions', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        for (let round = 0; round < 6; round++) {
          const writes = randomWrites(r, 50 + r(300));
          for (let mask = 0; mask < 16; mask++) {
            for (const reverse of [false, true]) {
              const readSeq = r(4) === 0 ? SEQUENCE_MAX : r(writes.length + 1);
              const bounds = boundsOf(mask, r);
              const expected = visible(writes, readSeq, bounds);
              if (reverse) expected.reverse();
              const it = new DbIterator(sourceOf(writes, r), readSeq, bounds, reverse);
              const what = `round ${round} mask ${mask} reverse ${reverse} readSeq ${readSeq}`;
              expect(drain(it, 10_000), what).toEqual(expected);
              expect(it.next(), what).toBe(false);
              it.close();
            }
          }
        }
      });
    }
  });

  it('seeks to the first visible key at or past the target, clamped to the bounds', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        for (let round = 0; round < 40; round++) {
          const writes = randomWrites(r, 50 + r(200));
          const reverse = r(2) === 1;
          const readSeq = r(writes.length + 1);
          const bounds = boundsOf(r(16), r);
          const all = visible(writes, readSeq, bounds);
          const it = new DbIterator(sourceOf(writes, r), readSeq, bounds, reverse);
          for (let q = 0; q < 15; q++) {
            const target = randomUserKey(r);
            it.seek(target);
            const steps = 1 + r(5);
            const t = fromUtf8(target);
            const expected = reverse
              ? all.filter(([k]) => compareBytes(utf8(k), target) <= 0).reverse().slice(0, steps)
              : all.filter(([k]) => compareBytes(utf8(k), target) >= 0).slice(0, steps);
            expect(drain(it, steps), `round ${round} seek ${t} reverse ${reverse}`).toEqual(expected);
          }
          it.close();
        }
      });
    }
  });

  it('reads snapshots: older versions, tombstones and later writes', () => {
    const w = (userKey: string, seq: number, value?: string): Write => ({
      userKey: utf8(userKey),
      seq,
      kind: value === undefined ? KIND_DELETE : KIND_PUT,
      value: utf8(value ?? ''),
    });
    const writes = [w('a', 1, 'a1'), w('b', 2, 'b2'), w('a', 3), w('c', 4, 'c4'), w('b', 5, 'b5'), w('a', 6, 'a6'), w('c', 7)];
    const read = (seq: number, reverse: boolean): [string, string][] =>
      drain(new DbIterator(sourceOf(writes, xorshiftBelow(5)), seq, {}, reverse), 100);
    expect(read(0, false)).toEqual([]);
    expect(read(2, false)).toEqual([['a', 'a1'], ['b', 'b2']]);
    expect(read(3, false)).toEqual([['b', 'b2']]);
    expect(read(4, true)).toEqual([['c', 'c4'], ['b', 'b2']]);
    expect(read(6, false)).toEqual([['a', 'a6'], ['b', 'b5'], ['c', 'c4']]);
    expect(read(7, true)).toEqual([['b', 'b5'], ['a', 'a6']]);
  });

  it('returns values the caller owns, long ones carved from shared slabs too, in both directions', () => {
    // 100-byte values: past V8's in-heap typed-array size, so they come from value-copy.ts's slabs.
    const valueOf = (i: number): Uint8Array => new Uint8Array(100).fill(i + 1);
    const writes: Write[] = Array.from({ length: 200 }, (_, i) => ({
      userKey: utf8(`k${String(i).padStart(3, '0')}`), seq: i + 1, kind: KIND_PUT, value: valueOf(i),
    }));
    for (const reverse of [false, true]) {
      const it = new DbIterator(sourceOf(writes, xorshiftBelow(31)), 1000, {}, reverse);
      const got: Uint8Array[] = [];
      // Bounded by the 200 keys.
      while (it.next()) {
        const v = it.value();
        v.fill(got.length);
        got.push(v);
      }
      it.close();
      expect(got).toHaveLength(200);
      // Each value was overwritten with its own byte: none shares a byte with another.
      got.forEach((v, n) => expect(v.every((b) => b === n)).toBe(true));
      const again = new DbIterator(sourceOf(writes, xorshiftBelow(31)), 1000, {}, reverse);
      let i = reverse ? 199 : 0;
      // Bounded by the 200 keys; the source's bytes are untouched.
      while (again.next()) {
        expect([...again.value()]).toEqual([...valueOf(i)]);
        i += reverse ? -1 : 1;
      }
      again.close();
    }
  });

  it('returns copies the caller owns, and refuses to move once closed', () => {
    const writes: Write[] = [
      { userKey: utf8('k1'), seq: 1, kind: KIND_PUT, value: utf8('one') },
      { userKey: utf8('k2'), seq: 2, kind: KIND_PUT, value: utf8('two') },
    ];
    const it = new DbIterator(sourceOf(writes, xorshiftBelow(9)), 10, {}, false);
    expect(it.next()).toBe(true);
    const k = it.key();
    k[0] = 0;
    it.seek(utf8('k1'));
    expect(it.next()).toBe(true);
    expect(fromUtf8(it.key())).toBe('k1');
    expect(fromUtf8(it.value())).toBe('one');
    it.close();
    it.close();
    expect(() => it.next()).toThrow(ClosedError);
    let caught: unknown;
    try {
      it.seek(utf8('k'));
    } catch (err) {
      caught = err;
    }
    expect((caught as ClosedError).code).toBe('LSM_ERR_CLOSED');
  });
});
