import { describe, expect, it } from 'vitest';
import { decodeBlockContents, encodeBlock, verifyBlockTrailer } from '../../src/engine/js/block.js';
import { CorruptionError } from '../../src/errors.js';
import { compareInternalKeys, KIND_DELETE, KIND_PUT, KIND_SEEK, makeInternalKey } from '../../src/format/internal-key.js';
import { BlockSeeker } from '../../src/lsm/block-seek.js';
import { putFixed32, utf8 } from '../../src/util/bytes.js';
import { hex } from '../helpers/hex.js';
import { Rng, testSeeds } from '../helpers/rng.js';
import { packRun } from '../helpers/runs.js';

const FILE = '/db/000009.sst';
const OFFSET = 8192;

/** A data block's contents (trailer checked and cut) of `count` random entries, and their internal keys sorted. */
function randomBlock(rng: Rng, count: number, restartInterval: number): { contents: Uint8Array; keys: Uint8Array[]; values: Uint8Array[] } {
  const pairs: Array<readonly [Uint8Array, Uint8Array]> = [];
  const seen = new Set<string>();
  while (pairs.length < count) {
    // Short shared prefixes and several versions of a key, so prefix sharing and trailers both decide.
    const user = utf8(`k${rng.int(3)}${'x'.repeat(rng.int(3))}${rng.int(40)}`);
    const ikey = makeInternalKey(user, 1 + rng.int(50), rng.chance(0.3) ? KIND_DELETE : KIND_PUT);
    if (seen.has(hex(ikey))) continue;
    seen.add(hex(ikey));
    // Now and then a value of 128 bytes or more: a two-byte length varint.
    pairs.push([ikey, rng.bytes(rng.chance(0.1) ? 128 + rng.int(200) : rng.int(20))]);
  }
  pairs.sort((a, b) => compareInternalKeys(a[0], b[0]));
  const block = encodeBlock(packRun(pairs), 0, pairs.length, restartInterval);
  return { contents: block.subarray(0, verifyBlockTrailer(block)), keys: pairs.map((p) => p[0]), values: pairs.map((p) => p[1]) };
}

describe('BlockSeeker', () => {
  it('finds the first entry >= a target, in place, as a search of the decoded block does', () => {
    for (const seed of testSeeds(4100, 12)) {
      const rng = new Rng(seed);
      const restartInterval = 1 + rng.int(20);
      const { contents, keys, values } = randomBlock(rng, 1 + rng.int(120), restartInterval);
      const run = decodeBlockContents(contents, contents.length, true);
      expect(run.count, `seed ${seed}`).toBe(keys.length);
      const seeker = new BlockSeeker();
      const targets = [...keys, ...Array.from({ length: 200 }, () =>
        makeInternalKey(utf8(`k${rng.int(4)}${'x'.repeat(rng.int(3))}${rng.int(45)}`), rng.int(55), rng.int(2)))];
      for (const target of targets) {
        const expected = keys.findIndex((k) => compareInternalKeys(k, target) >= 0);
        const found = seeker.seek(contents, target, target.length, FILE, OFFSET);
        expect(found, `seed ${seed} target ${hex(target)}`).toBe(expected >= 0);
        if (expected < 0) continue;
        expect(hex(seeker.key.subarray(0, seeker.keyLength)), `seed ${seed}`).toBe(hex(keys[expected]!));
        expect(hex(contents.subarray(seeker.valueStart, seeker.valueEnd)), `seed ${seed}`).toBe(hex(values[expected]!));
      }
    }
  });

  it('finds first and last keys, keys at and around restart points, versions, deletes and missing keys', () => {
    // Keys as the benchmarks write them (16 digits: long shared prefixes), every fifth one missing,
    // every seventh with three versions, every eleventh a delete; user keys that are prefixes of
    // others; and a restart interval that puts restart points inside a run of versions.
    const pairs: Array<readonly [Uint8Array, Uint8Array]> = [];
    const digits = (i: number): string => String(i).padStart(16, '0');
    for (let i = 0; i < 120; i++) {
      if (i % 5 === 4) continue;
      const versions = i % 7 === 0 ? [30, 20, 10] : [20];
      for (const seq of versions) {
        pairs.push([makeInternalKey(utf8(digits(i)), seq, i % 11 === 0 ? KIND_DELETE : KIND_PUT), Uint8Array.of(i, seq)]);
      }
      if (i % 13 === 0) pairs.push([makeInternalKey(utf8(`${digits(i)}x`), 20, KIND_PUT), Uint8Array.of(i, 99)]);
    }
    pairs.sort((a, b) => compareInternalKeys(a[0], b[0]));
    const keys = pairs.map((p) => p[0]);
    for (const restartInterval of [1, 2, 3, 16]) {
      const block = encodeBlock(packRun(pairs), 0, pairs.length, restartInterval);
      const contents = block.subarray(0, verifyBlockTrailer(block));
      const seeker = new BlockSeeker();
      const targets: Uint8Array[] = [makeInternalKey(utf8('0'), 5, KIND_PUT), makeInternalKey(utf8('9'), 5, KIND_PUT)];
      for (let i = 0; i < 121; i++) {
        for (const seq of [40, 30, 25, 20, 15, 10, 5]) {
          targets.push(makeInternalKey(utf8(digits(i)), seq, KIND_SEEK));
          targets.push(makeInternalKey(utf8(`${digits(i)}x`), seq, KIND_SEEK));
          targets.push(makeInternalKey(utf8(digits(i).slice(0, 15)), seq, KIND_SEEK));
        }
      }
      for (const target of targets) {
        const expected = keys.findIndex((k) => compareInternalKeys(k, target) >= 0);
        const what = `interval ${restartInterval} target ${hex(target)}`;
        expect(seeker.seek(contents, target, target.length, FILE, OFFSET), what).toBe(expected >= 0);
        if (expected < 0) continue;
        expect(hex(seeker.key.subarray(0, seeker.keyLength)), what).toBe(hex(keys[expected]!));
        expect([...contents.subarray(seeker.valueStart, seeker.valueEnd)], what).toEqual([...pairs[expected]![1]]);
      }
    }
  });

  it('judges a key that shares bytes of the previous key\'s trailer (a user key extending a shorter one)', () => {
    // "ab" then "ab\x01\x05": the second shares "ab" and the first trailer byte (the kind, 1).
    const pairs = [Uint8Array.of(97, 98), Uint8Array.of(97, 98, 1, 5), Uint8Array.of(97, 98, 1, 5, 0)]
      .map((user, i) => [makeInternalKey(user, 7, KIND_PUT), Uint8Array.of(i)] as const);
    const block = encodeBlock(packRun(pairs), 0, pairs.length, 16);
    const contents = block.subarray(0, verifyBlockTrailer(block));
    expect([...contents.subarray(0, 2)]).toEqual([0, 10]);
    expect(contents[14]).toBe(3);
    const seeker = new BlockSeeker();
    for (const [user, expected] of [[[97, 98, 0], 1], [[97, 98, 1], 1], [[97, 98, 1, 5], 1], [[97, 98, 1, 4, 9], 1], [[97, 98, 1, 5, 0], 2]] as const) {
      const target = makeInternalKey(Uint8Array.from(user), 9, KIND_SEEK);
      expect(seeker.seek(contents, target, target.length, FILE, OFFSET), `${user}`).toBe(true);
      expect(hex(seeker.key.subarray(0, seeker.keyLength)), `${user}`).toBe(hex(pairs[expected]![0]));
    }
  });

  it('grows its key buffer for keys longer than it', () => {
    const long = utf8('L'.repeat(300));
    const pairs = [0, 1, 2].map((i) => [makeInternalKey(Uint8Array.of(...long, 48 + i), 5, KIND_PUT), Uint8Array.of(i)] as const);
    const block = encodeBlock(packRun(pairs), 0, 3, 2);
    const contents = block.subarray(0, verifyBlockTrailer(block));
    const seeker = new BlockSeeker();
    expect(seeker.seek(contents, pairs[2]![0], pairs[2]![0].length, FILE, OFFSET)).toBe(true);
    expect(hex(seeker.key.subarray(0, seeker.keyLength))).toBe(hex(pairs[2]![0]));
    expect([...contents.subarray(seeker.valueStart, seeker.valueEnd)]).toEqual([2]);
  });

  it('reports a damaged layout as corruption at the block, never reading out of bounds or looping', () => {
    const rng = new Rng(4200);
    const { contents, keys } = randomBlock(rng, 60, 4);
    const seeker = new BlockSeeker();
    const seekAll = (bytes: Uint8Array): void => {
      for (const k of keys) seeker.seek(bytes, k, k.length, FILE, OFFSET);
    };
    const expectCorrupt = (bytes: Uint8Array): CorruptionError => {
      let caught: unknown;
      try {
        seekAll(bytes);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CorruptionError);
      const err = caught as CorruptionError;
      expect(err.file).toBe(FILE);
      expect(err.offset).toBeGreaterThanOrEqual(OFFSET);
      expect(err.offset).toBeLessThan(OFFSET + bytes.length);
      return err;
    };
    const n = contents.length;
    const numRestarts = Math.ceil(60 / 4);

    // Too short for a restart count; a restart count that does not fit.
    expectCorrupt(contents.subarray(0, 3));
    const tooMany = contents.slice();
    putFixed32(tooMany, n - 4, n);
    expect(expectCorrupt(tooMany).offset).toBe(OFFSET + n - 4);
    // A restart offset past the entries.
    const pastEntries = contents.slice();
    putFixed32(pastEntries, n - 8, n - 4 - 4 * numRestarts);
    expectCorrupt(pastEntries);
    // A restart entry that shares bytes (its first header byte).
    const sharing = contents.slice();
    const restart1 = new DataView(contents.buffer, contents.byteOffset).getUint32(n - 4 - 4 * numRestarts + 4, true);
    sharing[restart1] = 3;
    expect(expectCorrupt(sharing).offset).toBe(OFFSET + restart1);
    // A value length that runs into the restart array: one entry, its value length byte raised.
    const one = encodeBlock(packRun([[keys[0]!, new Uint8Array(10)]]), 0, 1, 1);
    const runsPast = one.slice(0, verifyBlockTrailer(one));
    expect([...runsPast.subarray(0, 3)]).toEqual([0, keys[0]!.length, 10]);
    runsPast[2] = 0x70;
    expect(expectCorrupt(runsPast).offset).toBe(OFFSET);
    // A key shorter than an internal key's trailer.
    const shortKey = one.slice(0, verifyBlockTrailer(one));
    shortKey[1] = 4;
    expect(expectCorrupt(shortKey).offset).toBe(OFFSET);

    // Random damage: every seek ends, returning or throwing CorruptionError and nothing else.
    for (let round = 0; round < 300; round++) {
      const bad = contents.slice();
      for (let flips = 1 + rng.int(3); flips > 0; flips--) bad[rng.int(n)] = rng.int(256);
      try {
        seekAll(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptionError);
      }
    }
  });
});
