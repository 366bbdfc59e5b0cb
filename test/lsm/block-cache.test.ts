import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { xorshiftBelow } from '../helpers/rng.js';

describe('BlockCache', () => {
  it('evicts the least recently used blocks once the bytes exceed the capacity', () => {
    const cache = new BlockCache<string>(300);
    cache.insert(1, 0, 'a', 100);
    cache.insert(1, 4096, 'b', 100);
    cache.insert(2, 0, 'c', 100);
    expect(cache.usedBytes).toBe(300);
    // A hit makes 'a' the most recent: the next insert evicts 'b', the least recent.
    expect(cache.get(1, 0)).toBe('a');
    cache.insert(3, 0, 'd', 100);
    expect(cache.usedBytes).toBe(300);
    expect(cache.get(1, 4096)).toBeUndefined();
    expect(cache.get(2, 0)).toBe('c');
    expect(cache.get(1, 0)).toBe('a');
    expect(cache.get(3, 0)).toBe('d');
    // Order now (least recent first): c, a, d. A 250-byte block needs all three out.
    cache.insert(4, 8, 'e', 250);
    expect(cache.get(2, 0)).toBeUndefined();
    expect(cache.get(1, 0)).toBeUndefined();
    expect(cache.get(3, 0)).toBeUndefined();
    expect(cache.get(4, 8)).toBe('e');
    expect(cache.usedBytes).toBe(250);
    expect(cache.hits).toBe(5);
    expect(cache.misses).toBe(4);
  });

  it('replaces an entry of the same block, and does not cache a block larger than itself', () => {
    const cache = new BlockCache<string>(100);
    cache.insert(5, 10, 'x', 40);
    cache.insert(5, 10, 'y', 60);
    expect(cache.usedBytes).toBe(60);
    expect(cache.size).toBe(1);
    expect(cache.get(5, 10)).toBe('y');
    cache.insert(6, 0, 'huge', 101);
    expect(cache.get(6, 0)).toBeUndefined();
    expect(cache.get(5, 10)).toBe('y');
    // Re-inserting an oversized value drops the old entry of that block too.
    cache.insert(5, 10, 'too big', 500);
    expect(cache.get(5, 10)).toBeUndefined();
    expect(cache.usedBytes).toBe(0);
  });

  it('evicts every block of one file and only those', () => {
    const cache = new BlockCache<number>(1 << 20);
    for (let f = 1; f <= 3; f++) for (let off = 0; off < 10; off++) cache.insert(f, off * 4096, f * 100 + off, 1000);
    expect(cache.usedBytes).toBe(30_000);
    cache.evictFile(2);
    cache.evictFile(99);
    expect(cache.usedBytes).toBe(20_000);
    expect(cache.size).toBe(20);
    for (let off = 0; off < 10; off++) {
      expect(cache.get(2, off * 4096)).toBeUndefined();
      expect(cache.get(1, off * 4096)).toBe(100 + off);
      expect(cache.get(3, off * 4096)).toBe(300 + off);
    }
  });

  it('keeps block keys of large file numbers and offsets apart', () => {
    const cache = new BlockCache<string>(1000);
    cache.insert(2 ** 20 - 1, 2 ** 32 - 1, 'last', 1);
    cache.insert(2 ** 20 - 2, 2 ** 32 - 1, 'other file', 1);
    cache.insert(2 ** 20 - 1, 0, 'other offset', 1);
    expect(cache.get(2 ** 20 - 1, 2 ** 32 - 1)).toBe('last');
    expect(cache.get(2 ** 20 - 2, 2 ** 32 - 1)).toBe('other file');
    expect(cache.get(2 ** 20 - 1, 0)).toBe('other offset');
    expect(() => cache.get(2 ** 20, 0)).toThrow(AssertionFailure);
    expect(() => cache.insert(1, 2 ** 32, 'x', 1)).toThrow(AssertionFailure);
    expect(() => new BlockCache(-1)).toThrow(InvalidArgumentError);
  });

  it('matches an LRU model under a seeded random workload', () => {
    const seed = 7;
    const r = xorshiftBelow(seed);
    const capacity = 5000;
    const cache = new BlockCache<number>(capacity);
    // Model: array, least recent first.
    let model: { file: number; offset: number; value: number; charge: number }[] = [];
    let hits = 0;
    let misses = 0;
    for (let op = 0; op < 5000; op++) {
      const file = 1 + r(5);
      const offset = r(20) * 512;
      const i = model.findIndex((e) => e.file === file && e.offset === offset);
      const choice = r(10);
      if (choice < 5) {
        const got = cache.get(file, offset);
        if (i < 0) {
          misses++;
          expect(got, `seed ${seed} op ${op}`).toBeUndefined();
        } else {
          hits++;
          expect(got, `seed ${seed} op ${op}`).toBe(model[i]!.value);
          model.push(model.splice(i, 1)[0]!);
        }
      } else if (choice < 9) {
        const charge = 1 + r(1200);
        if (i >= 0) model.splice(i, 1);
        model.push({ file, offset, value: op, charge });
        cache.insert(file, offset, op, charge);
        let used = model.reduce((s, e) => s + e.charge, 0);
        while (used > capacity) used -= model.shift()!.charge;
      } else {
        cache.evictFile(file);
        model = model.filter((e) => e.file !== file);
      }
      expect(cache.usedBytes, `seed ${seed} op ${op}`).toBe(model.reduce((s, e) => s + e.charge, 0));
      expect(cache.size).toBe(model.length);
    }
    expect(cache.hits).toBe(hits);
    expect(cache.misses).toBe(misses);
    expect(hits).toBeGreaterThan(100);
  });

  it('keeps up to sparesMax dropped values for reuse: evicted, replaced, refused, or of an evicted file', () => {
    const none = new BlockCache<string>(100);
    none.insert(1, 0, 'a', 60);
    none.insert(1, 1, 'b', 60);
    expect(none.takeSpare()).toBeUndefined();

    const cache = new BlockCache<string>(100, 3);
    cache.insert(1, 0, 'a', 60);
    expect(cache.takeSpare()).toBeUndefined();
    cache.insert(1, 1, 'b', 60); // evicts a
    cache.insert(1, 1, 'b2', 60); // replaces b
    cache.insert(1, 2, 'huge', 101); // refused
    cache.insert(2, 0, 'c', 30);
    cache.evictFile(1); // drops b2, but three spares are kept already
    expect([cache.takeSpare(), cache.takeSpare(), cache.takeSpare(), cache.takeSpare()]).toEqual(['huge', 'b', 'a', undefined]);
    cache.evictFile(2);
    expect(cache.takeSpare()).toBe('c');
    expect(cache.usedBytes).toBe(0);
  });

  it('adds to a cached block\'s charge, evicting the least recently used others, and refuses what cannot fit', () => {
    const cache = new BlockCache<string>(300);
    cache.insert(1, 0, 'a', 100);
    cache.insert(1, 1, 'b', 100);
    cache.insert(1, 2, 'c', 50);
    expect(cache.addCharge(1, 0, 100)).toBe(true); // a is now 200 and the newest: b goes
    expect(cache.usedBytes).toBe(250);
    expect(cache.get(1, 1)).toBeUndefined();
    expect(cache.get(1, 2)).toBe('c');
    expect(cache.addCharge(1, 0, 101)).toBe(false); // 301 alone: refused, nothing charged
    expect(cache.addCharge(9, 0, 1)).toBe(false); // not cached
    expect(cache.usedBytes).toBe(250);
    expect(cache.get(1, 0)).toBe('a');
  });
});
