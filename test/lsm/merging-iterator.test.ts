import { describe, expect, it } from 'vitest';
import type { EntryRun } from '../../src/engine/types.js';
import {
  compareInternalKeys,
  KIND_DELETE,
  KIND_PUT,
  makeInternalKey,
  trailerKind,
  trailerSequence,
  userKeyOf,
} from '../../src/format/internal-key.js';
import type { InternalIterator } from '../../src/lsm/iterator.js';
import { MemTable } from '../../src/lsm/memtable.js';
import { MergingIterator } from '../../src/lsm/merging-iterator.js';
import { RunIterator } from '../../src/lsm/run-iterator.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { packRun } from '../helpers/runs.js';
import { seedsWithClock, withSeed, xorshiftBelow } from '../helpers/rng.js';
import { expectBytes } from '../helpers/expect.js';

const SEEDS = seedsWithClock([11, 12, 13, 14]);

interface Entry {
  ikey: Uint8Array;
  value: Uint8Array;
  child: number;
}

function runOfEntries(entries: readonly Entry[]): EntryRun {
  return packRun(entries.map((e) => [e.ikey, e.value] as const));
}

function randomUserKey(r: (n: number) => number): Uint8Array {
  const k = new Uint8Array(1 + r(3));
  for (let i = 0; i < k.length; i++) k[i] = 0x61 + r(5);
  return k;
}

function byKeyThenChild(a: Entry, b: Entry): number {
  return compareInternalKeys(a.ikey, b.ikey) || a.child - b.child;
}

/** Index of the first model entry with key >= target (ties: lowest child first). */
function lowerBound(model: readonly Entry[], target: Uint8Array, strict: boolean): number {
  let lo = 0;
  let hi = model.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareInternalKeys(model[mid]!.ikey, target);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function expectAt(it: InternalIterator, model: readonly Entry[], index: number, what: string): void {
  if (index < 0 || index >= model.length) {
    if (it.valid()) expect(it.valid(), what).toBe(false);
    return;
  }
  if (!it.valid()) expect(it.valid(), what).toBe(true);
  expectBytes(it.key(), model[index]!.ikey, what);
  expectBytes(it.value(), model[index]!.value, what);
}

/**
 * Random children over shared user keys. With `duplicates`, some internal keys appear in two
 * children (not what the tree produces, but the iterator must still visit each entry once).
 */
function makeChildren(r: (n: number) => number, childCount: number, duplicates: boolean): { children: InternalIterator[]; model: Entry[] } {
  const perChild: Entry[][] = Array.from({ length: childCount }, () => []);
  const used = new Set<string>();
  let seq = 1;
  const total = 20 + r(400);
  for (let i = 0; i < total; i++) {
    const child = r(childCount);
    const userKey = randomUserKey(r);
    const kind = r(5) === 0 ? KIND_DELETE : KIND_PUT;
    const ikey = makeInternalKey(userKey, seq++, kind);
    const value = kind === KIND_PUT ? Uint8Array.of(child, i & 0xff, i >> 8) : new Uint8Array(0);
    perChild[child]!.push({ ikey, value, child });
    used.add(`${child}:${ikey.join(',')}`);
    if (duplicates && r(6) === 0) {
      const other = r(childCount);
      if (!used.has(`${other}:${ikey.join(',')}`)) {
        used.add(`${other}:${ikey.join(',')}`);
        perChild[other]!.push({ ikey, value: Uint8Array.of(0xee, other), child: other });
      }
    }
  }
  const children: InternalIterator[] = [];
  const model: Entry[] = [];
  perChild.forEach((entries, child) => {
    entries.sort(byKeyThenChild);
    model.push(...entries);
    // Child 0 is a memtable when it can be (no duplicates inside it by construction), the rest runs.
    if (child === 0 && !duplicates) {
      const mem = new MemTable({ arenaChunkBytes: 1024 });
      for (const e of entries) {
        mem.add(trailerSequence(e.ikey, e.ikey.length), trailerKind(e.ikey, e.ikey.length), userKeyOf(e.ikey), e.value);
      }
      children.push(mem.iterator());
    } else {
      children.push(new RunIterator(runOfEntries(entries)));
    }
  });
  model.sort(byKeyThenChild);
  return { children, model };
}

function randomTarget(r: (n: number) => number, model: readonly Entry[]): Uint8Array {
  if (model.length > 0 && r(2) === 0) return model[r(model.length)]!.ikey;
  return makeInternalKey(randomUserKey(r), r(500), r(2));
}

function exercise(r: (n: number) => number, it: InternalIterator, model: readonly Entry[], ops: number): void {
  let pos = -1;
  for (let op = 0; op < ops; op++) {
    const choice = it.valid() ? r(10) : r(4);
    let what: string;
    if (choice === 0) {
      it.seekToFirst();
      pos = 0;
      what = 'seekToFirst';
    } else if (choice === 1) {
      it.seekToLast();
      pos = model.length - 1;
      what = 'seekToLast';
    } else if (choice === 2) {
      const t = randomTarget(r, model);
      it.seek(t);
      pos = lowerBound(model, t, false);
      what = `seek ${t.join(',')}`;
    } else if (choice === 3) {
      const t = randomTarget(r, model);
      it.seekForPrev(t);
      pos = lowerBound(model, t, true) - 1;
      what = `seekForPrev ${t.join(',')}`;
    } else if (choice < 7) {
      it.next();
      pos++;
      what = 'next';
    } else {
      it.prev();
      pos--;
      what = 'prev';
    }
    expectAt(it, model, pos, `op ${op}: ${what}`);
    if (pos < 0 || pos >= model.length) pos = -1;
  }
}

describe('RunIterator', () => {
  it('seeks and steps like the sorted model', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        const { children, model } = makeChildren(r, 1, true);
        exercise(r, children[0]!, model, 400);
      });
    }
  });

  it('is empty-safe and rejects an unsorted run when INVARIANTS is on', () => {
    const empty = new RunIterator({ data: new Uint8Array(0), offsets: new Uint32Array(1), count: 0 });
    empty.seekToFirst();
    expect(empty.valid()).toBe(false);
    empty.seekForPrev(makeInternalKey(Uint8Array.of(1), 1, KIND_PUT));
    expect(empty.valid()).toBe(false);
    const a = { ikey: makeInternalKey(Uint8Array.of(2), 1, KIND_PUT), value: new Uint8Array(0), child: 0 };
    const b = { ikey: makeInternalKey(Uint8Array.of(1), 2, KIND_PUT), value: new Uint8Array(0), child: 0 };
    expect(() => new RunIterator(runOfEntries([a, b]))).toThrow(AssertionFailure);
  });
});

describe('MergingIterator', () => {
  it('merges random children like a model sort, with random direction changes', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        for (let round = 0; round < 10; round++) {
          const { children, model } = makeChildren(r, 1 + r(20), false);
          const it = new MergingIterator(children);
          // A full scan both ways first.
          let n = 0;
          for (it.seekToFirst(); it.valid(); it.next()) expectAt(it, model, n++, `forward ${n}`);
          expect(n).toBe(model.length);
          n = model.length - 1;
          for (it.seekToLast(); it.valid(); it.prev()) expectAt(it, model, n--, `reverse ${n}`);
          expect(n).toBe(-1);
          exercise(r, it, model, 300);
          it.close();
          it.close();
        }
      });
    }
  });

  it('visits an internal key held by two children once per child, in child order, both ways', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        for (let round = 0; round < 10; round++) {
          const { children, model } = makeChildren(r, 2 + r(6), true);
          exercise(r, new MergingIterator(children), model, 400);
        }
      });
    }
  });

  it('is invalid with no children', () => {
    const it = new MergingIterator([]);
    it.seekToFirst();
    expect(it.valid()).toBe(false);
    it.seekForPrev(makeInternalKey(Uint8Array.of(1), 1, KIND_PUT));
    expect(it.valid()).toBe(false);
  });
});
