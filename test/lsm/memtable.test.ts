import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  compareInternalKeys,
  KIND_DELETE,
  KIND_PUT,
  makeInternalKey,
  SEQUENCE_MAX,
  trailerSequence,
  userKeyOf,
} from '../../src/format/internal-key.js';
import type { InternalIterator } from '../../src/lsm/iterator.js';
import { MemTable, packMemTableImage } from '../../src/lsm/memtable.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { compareBytes, utf8 } from '../../src/util/bytes.js';
import { seedsWithClock, withSeed, xorshiftBelow } from '../helpers/rng.js';
import { expectBytes } from '../helpers/expect.js';

const SEEDS = seedsWithClock([1, 2, 3]);

interface ModelEntry {
  ikey: Uint8Array;
  value: Uint8Array;
}

/** Short keys over a tiny alphabet (including 0x00 and 0xff) so prefixes collide and differ in length. */
function randomUserKey(r: (n: number) => number): Uint8Array {
  const alphabet = [0x00, 0x01, 0x61, 0x62, 0xff];
  const k = new Uint8Array(r(7));
  for (let i = 0; i < k.length; i++) k[i] = alphabet[r(alphabet.length)]!;
  return k;
}

function randomValue(r: (n: number) => number, maxBytes: number): Uint8Array {
  const v = new Uint8Array(r(maxBytes + 1));
  for (let i = 0; i < v.length; i++) v[i] = r(256);
  return v;
}

function lowerBound(model: ModelEntry[], target: Uint8Array): number {
  let lo = 0;
  let hi = model.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareInternalKeys(model[mid]!.ikey, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function expectAt(it: InternalIterator, model: ModelEntry[], index: number): void {
  if (index < 0 || index >= model.length) {
    if (it.valid()) expect(it.valid(), `past the ends (${index})`).toBe(false);
    return;
  }
  if (!it.valid()) expect(it.valid(), `entry ${index} of ${model.length}`).toBe(true);
  expectBytes(it.key(), model[index]!.ikey);
  expectBytes(it.value(), model[index]!.value);
}

/** Fills a memtable and its sorted model with `count` random entries. */
function fill(r: (n: number) => number, mem: MemTable, count: number, valueBytesMax: number): ModelEntry[] {
  // Sequences 1..count in random order: the memtable must not rely on increasing sequences.
  const seqs = Array.from({ length: count }, (_, i) => i + 1);
  for (let i = seqs.length - 1; i > 0; i--) {
    const j = r(i + 1);
    [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
  }
  const model: ModelEntry[] = [];
  for (const seq of seqs) {
    const userKey = randomUserKey(r);
    const kind = r(4) === 0 ? KIND_DELETE : KIND_PUT;
    const value = kind === KIND_PUT ? randomValue(r, valueBytesMax) : new Uint8Array(0);
    mem.add(seq, kind, userKey, value);
    model.push({ ikey: makeInternalKey(userKey, seq, kind), value });
  }
  model.sort((a, b) => compareInternalKeys(a.ikey, b.ikey));
  return model;
}

describe('MemTable against a sorted-array model', () => {
  // Fingerprint bases (MemTable.setFingerprintBase) the random keys fall below, above, inside and
  // short of: fingerprints over them must order keys exactly as the bytes do.
  const cases = [
    { chunkBytes: 256, base: [] },
    { chunkBytes: 1 << 20, base: [] },
    { chunkBytes: 256, base: [0x61, 0x00] },
    { chunkBytes: 1 << 20, base: [0x61, 0x62, 0x01] },
  ];
  for (const { chunkBytes, base } of cases) {
    it(`adds, gets and iterates (arena chunks of ${chunkBytes} bytes, fingerprint base [${base.join(', ')}])`, () => {
      for (const seed of SEEDS) {
        withSeed(seed, () => {
          const r = xorshiftBelow(seed);
          const mem = new MemTable({ arenaChunkBytes: chunkBytes });
          mem.setFingerprintBase(Uint8Array.from(base), 0, base.length);
          const count = 1500;
          const model = fill(r, mem, count, 300);

          expect(mem.entryCount).toBe(count);
          expect(mem.deletionCount).toBe(model.filter((e) => e.ikey[e.ikey.length - 8] === KIND_DELETE).length);
          expect(mem.smallestSequence).toBe(1);
          expect(mem.largestSequence).toBe(count);
          const payloadBytes = model.reduce((s, e) => s + e.ikey.length + e.value.length, 0);
          expect(mem.approximateBytes).toBeGreaterThan(payloadBytes);

          // Point reads at random sequences: the newest entry of the key with seq <= the read's.
          for (let q = 0; q < 1000; q++) {
            const userKey = randomUserKey(r);
            const readSeq = r(count + 2);
            const i = lowerBound(model, makeInternalKey(userKey, readSeq, KIND_PUT));
            const e = model[i];
            const got = mem.get(userKey, readSeq);
            if (e === undefined || compareBytes(userKeyOf(e.ikey), userKey) !== 0) {
              expect(got).toBeUndefined();
            } else if (e.ikey[e.ikey.length - 8] === KIND_DELETE) {
              expect(got).toEqual({ kind: 'delete' });
            } else {
              expect(got?.kind).toBe('put');
              expectBytes((got as { value: Uint8Array }).value, e.value);
              expect(trailerSequence(e.ikey, e.ikey.length)).toBeLessThanOrEqual(readSeq);
            }
          }

          // Whole scans both ways.
          const it = mem.iterator();
          let n = 0;
          for (it.seekToFirst(); it.valid(); it.next()) expectAt(it, model, n++);
          expect(n).toBe(count);
          n = count - 1;
          for (it.seekToLast(); it.valid(); it.prev()) expectAt(it, model, n--);
          expect(n).toBe(-1);

          // Seeks to random internal keys, then a random walk.
          for (let q = 0; q < 300; q++) {
            const target = makeInternalKey(randomUserKey(r), r(count + 2), r(2));
            let pos: number;
            if (r(2) === 0) {
              it.seek(target);
              pos = lowerBound(model, target);
            } else {
              it.seekForPrev(target);
              const lb = lowerBound(model, target);
              pos = lb < model.length && compareInternalKeys(model[lb]!.ikey, target) === 0 ? lb : lb - 1;
            }
            expectAt(it, model, pos);
            for (let step = 0; step < 8 && it.valid(); step++) {
              if (r(2) === 0) {
                it.next();
                pos++;
              } else {
                it.prev();
                pos--;
              }
              expectAt(it, model, pos);
            }
          }

          // toRun packs the same entries in the same order.
          const run = mem.toRun();
          expect(run.count).toBe(count);
          for (let i = 0; i < count; i++) {
            expectBytes(run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]!), model[i]!.ikey);
            expectBytes(run.data.subarray(run.offsets[2 * i + 1]!, run.offsets[2 * i + 2]!), model[i]!.value);
          }
          expect(run.offsets[2 * count]).toBe(run.data.length);

          // So does a worker's packing of an image of the arenas (large values get chunks of their own).
          const imaged = packMemTableImage(mem.image());
          expect(imaged.count).toBe(count);
          expectBytes(imaged.data, run.data);
          expect([...imaged.offsets]).toEqual([...run.offsets]);
        });
      }
    });
  }

  it('keeps an iterator valid across later adds, which it may see', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        const mem = new MemTable({ arenaChunkBytes: 512 });
        for (let i = 1; i <= 200; i++) mem.add(i, KIND_PUT, utf8(`k${String(r(1000)).padStart(4, '0')}`), utf8(`v${i}`));
        const it = mem.iterator();
        it.seekToFirst();
        for (let i = 0; i < 50; i++) it.next();
        const before = it.key().slice();
        const value = it.value().slice();
        for (let i = 201; i <= 2000; i++) mem.add(i, KIND_PUT, utf8(`k${String(r(1000)).padStart(4, '0')}`), utf8(`v${i}`));
        // The current entry did not move, and the walk from it lists exactly the entries after it.
        expectBytes(it.key(), before);
        expectBytes(it.value(), value);
        const run = mem.toRun();
        let expected = 0;
        for (let i = 0; i < run.count; i++) {
          if (compareInternalKeys(run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]!), before) > 0) expected++;
        }
        let seen = 0;
        let last = before;
        for (it.next(); it.valid(); it.next()) {
          expect(compareInternalKeys(last, it.key())).toBeLessThan(0);
          last = it.key().slice();
          seen++;
        }
        expect(seen).toBe(expected);
      });
    }
  });

  it('orders ascending, descending and mixed runs of keys (the splice-hint paths)', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        const mem = new MemTable({ arenaChunkBytes: 1024 });
        const model: ModelEntry[] = [];
        let seq = 1;
        const put = (k: number): void => {
          const userKey = new Uint8Array([k >>> 16, (k >>> 8) & 0xff, k & 0xff]);
          const value = utf8(`v${seq}`);
          mem.add(seq, KIND_PUT, userKey, value);
          model.push({ ikey: makeInternalKey(userKey, seq, KIND_PUT), value });
          seq++;
        };
        for (let k = 0; k < 800; k++) put(10_000 + k); // ascending (the log tree's shape)
        for (let k = 800; k > 0; k--) put(5_000 + k); // descending
        for (let k = 0; k < 300; k++) put(10_000 + r(800)); // rewrites: newer versions sort first
        for (let run = 0; run < 30; run++) {
          const start = r(20_000);
          for (let k = 0; k < 20; k++) put(start + k); // short ascending runs at random places
        }
        for (let run = 0; run < 20; run++) {
          // Sorted keys with gaps among the ones already there (a sorted write batch): the search
          // climbs from the splice to the level that brackets each key, then goes down.
          const keys = Array.from({ length: 40 }, () => r(20_000)).sort((a, b) => a - b);
          for (const k of keys) put(k);
        }
        model.sort((a, b) => compareInternalKeys(a.ikey, b.ikey));
        const it = mem.iterator();
        let n = 0;
        for (it.seekToFirst(); it.valid(); it.next()) expectAt(it, model, n++);
        expect(n).toBe(model.length);
        n = model.length - 1;
        for (it.seekToLast(); it.valid(); it.prev()) expectAt(it, model, n--);
        expect(n).toBe(-1);
      });
    }
  });

  it('orders and finds long keys that outgrow a chunk and share long prefixes', () => {
    for (const seed of SEEDS) {
      withSeed(seed, () => {
        const r = xorshiftBelow(seed);
        const mem = new MemTable({ arenaChunkBytes: 256 });
        const model: ModelEntry[] = [];
        const stem = new Uint8Array(300).fill(0x61);
        for (let seq = 1; seq <= 300; seq++) {
          // A shared 0..300-byte stem, then a short random tail: long equal prefixes, varied lengths.
          const userKey = new Uint8Array([...stem.subarray(0, r(301)), ...randomUserKey(r)]);
          const value = randomValue(r, 20);
          mem.add(seq, KIND_PUT, userKey, value);
          model.push({ ikey: makeInternalKey(userKey, seq, KIND_PUT), value });
        }
        model.sort((a, b) => compareInternalKeys(a.ikey, b.ikey));
        const run = mem.toRun();
        expect(run.count).toBe(model.length);
        for (let i = 0; i < model.length; i++) {
          expectBytes(run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]!), model[i]!.ikey);
        }
        // The first model entry of each user key is its newest: what get() at any later sequence finds.
        for (let i = 0; i < model.length; i++) {
          const userKey = userKeyOf(model[i]!.ikey);
          if (i > 0 && compareBytes(userKeyOf(model[i - 1]!.ikey), userKey) === 0) continue;
          const got = mem.get(userKey, 1000);
          expect(got?.kind).toBe('put');
          expectBytes((got as { value: Uint8Array }).value, model[i]!.value);
        }
      });
    }
  });

  it('stores a 16 MiB value in a chunk of its own, next to small entries', () => {
    const mem = new MemTable();
    const big = new Uint8Array(16 << 20);
    for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
    mem.add(1, KIND_PUT, utf8('a'), utf8('small'));
    mem.add(2, KIND_PUT, utf8('b'), big);
    mem.add(3, KIND_PUT, utf8('c'), utf8('after'));
    const got = mem.get(utf8('b'), 10);
    expect(got?.kind).toBe('put');
    const value = (got as { value: Uint8Array }).value;
    expect(value.length).toBe(big.length);
    expect(compareBytes(value, big)).toBe(0);
    expect(mem.get(utf8('c'), 10)).toEqual({ kind: 'put', value: utf8('after') });
    expect(mem.approximateBytes).toBeGreaterThanOrEqual(big.length);
    expect(mem.approximateBytes).toBeLessThan(big.length + (2 << 20));
  });

  it('reads at a snapshot: older versions, tombstones, absent keys', () => {
    const mem = new MemTable();
    mem.add(10, KIND_PUT, utf8('k'), utf8('v10'));
    mem.add(20, KIND_DELETE, utf8('k'), new Uint8Array(0));
    mem.add(30, KIND_PUT, utf8('k'), utf8('v30'));
    mem.add(15, KIND_PUT, utf8('j'), utf8('j15'));
    expect(mem.get(utf8('k'), 9)).toBeUndefined();
    expect(mem.get(utf8('k'), 10)).toEqual({ kind: 'put', value: utf8('v10') });
    expect(mem.get(utf8('k'), 19)).toEqual({ kind: 'put', value: utf8('v10') });
    expect(mem.get(utf8('k'), 20)).toEqual({ kind: 'delete' });
    expect(mem.get(utf8('k'), SEQUENCE_MAX)).toEqual({ kind: 'put', value: utf8('v30') });
    expect(mem.get(utf8('kk'), SEQUENCE_MAX)).toBeUndefined();
    expect(mem.get(utf8('j'), 14)).toBeUndefined();
    expect(mem.entryCount).toBe(4);
    expect(mem.deletionCount).toBe(1);
    expect(mem.smallestSequence).toBe(10);
    expect(mem.largestSequence).toBe(30);
  });

  it('is empty before any add', () => {
    const mem = new MemTable();
    const it = mem.iterator();
    it.seekToFirst();
    expect(it.valid()).toBe(false);
    it.seekToLast();
    expect(it.valid()).toBe(false);
    expect(mem.get(utf8('x'), 5)).toBeUndefined();
    expect(mem.toRun().count).toBe(0);
    expect(mem.entryCount).toBe(0);
  });

  it('rejects a bad chunk size by code, and a repeated internal key as a bug', () => {
    for (const bad of [0, 100, 3000, 2 ** 30]) {
      let caught: unknown;
      try {
        new MemTable({ arenaChunkBytes: bad });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidArgumentError);
      expect((caught as InvalidArgumentError).code).toBe('LSM_ERR_INVALID_ARGUMENT');
    }
    const mem = new MemTable();
    mem.add(7, KIND_PUT, utf8('a'), utf8('1'));
    expect(() => mem.add(7, KIND_PUT, utf8('a'), utf8('2'))).toThrow(AssertionFailure);
  });
});
