import { describe, expect, it } from 'vitest';
import type { EntryRun } from '../../src/engine/types.js';
import {
  BLOOM_ARRAY_BYTES_MAX, BLOOM_HASH_SEED, bloomArrayBytes, bloomBuild, bloomFromHashes, bloomHash, bloomMayContain,
  bloomProbes, bloomTheoreticalFpRate, murmur3x86_32,
} from '../../src/engine/js/bloom.js';
import { KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { utf8 } from '../../src/util/bytes.js';
import { Random } from '../../src/sim/random.js';
import { packRun } from '../helpers/runs.js';

/** A run of the given user keys (already sorted), each with `versions` entries. */
function runOfKeys(keys: Uint8Array[], versions = 1): EntryRun {
  const empty = new Uint8Array(0);
  const pairs: Array<[Uint8Array, Uint8Array]> = [];
  for (const k of keys) for (let v = versions; v >= 1; v--) pairs.push([makeInternalKey(k, v, KIND_PUT), empty]);
  return packRun(pairs);
}

/** 4-byte big-endian keys sort in numeric order. */
function intKey(i: number): Uint8Array {
  return Uint8Array.of(i >>> 24, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff);
}

function intKeys(from: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => intKey(from + i));
}

/** Random 16-byte keys into one reused buffer: present keys have an even first byte, absent ones odd. */
function randomKeyInto(rng: Random, key: Uint8Array, parity: number): Uint8Array {
  for (let i = 0; i < 16; i += 4) {
    const r = rng.nextU32();
    key[i] = r;
    key[i + 1] = r >>> 8;
    key[i + 2] = r >>> 16;
    key[i + 3] = r >>> 24;
  }
  key[0] = (key[0]! & 0xfe) | parity;
  return key;
}

/** `count` present (even first byte) random 16-byte keys, packed: key i is bytes [16i, 16i + 16). */
function randomKeys(rng: Random, count: number): Uint8Array {
  const keys = new Uint8Array(16 * count);
  for (let i = 0; i < count; i++) randomKeyInto(rng, keys.subarray(16 * i, 16 * i + 16), 0);
  return keys;
}

interface FpMeasure {
  rate: number;
  theory: number;
}

/**
 * Builds the filter of `keyCount` keys made by `presentKey(i)` (checking none is then missed) and
 * returns the share of `probeCount` keys made by `absentKey(i)` it answers "maybe" for.
 */
function measureFp(
  keyCount: number, bitsPerKey: number, probeCount: number,
  presentKey: (i: number) => Uint8Array, absentKey: (i: number) => Uint8Array, what: string,
): FpMeasure {
  const hashes = new Uint32Array(keyCount);
  for (let i = 0; i < keyCount; i++) {
    const key = presentKey(i);
    hashes[i] = bloomHash(key, 0, key.length);
  }
  const filter = bloomFromHashes(hashes, keyCount, bitsPerKey);
  for (let i = 0; i < keyCount; i++) {
    const key = presentKey(i);
    if (!bloomMayContain(filter, key)) throw new Error(`${what}: present key ${i} ${Buffer.from(key).toString('hex')} missed`);
  }
  let falsePositives = 0;
  for (let i = 0; i < probeCount; i++) if (bloomMayContain(filter, absentKey(i))) falsePositives++;
  const rate = falsePositives / probeCount;
  const theory = bloomTheoreticalFpRate(keyCount, bitsPerKey);
  console.log(`bloom ${what}: ${bitsPerKey} bits/key, ${keyCount} keys, ${probeCount} absent probes: ` +
    `false positives ${(100 * rate).toFixed(4)}% (theory ${(100 * theory).toFixed(4)}%, ratio ${(rate / theory).toFixed(3)})`);
  return { rate, theory };
}

describe('bloom hash (MurmurHash3 x86_32)', () => {
  it('matches the published murmur3 x86_32 vectors', () => {
    const h = (s: string, seed: number): number => {
      const b = utf8(s);
      return murmur3x86_32(b, 0, b.length, seed);
    };
    expect(h('', 0)).toBe(0);
    expect(h('', 1)).toBe(0x514e28b7);
    expect(h('', 0xffffffff)).toBe(0x81f16f39);
    expect(h('test', 0)).toBe(0xba6bd213);
    expect(h('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(h('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
    expect(murmur3x86_32(Uint8Array.of(0x21, 0x43, 0x65, 0x87), 0, 4, 0)).toBe(0xf55b516b);
    expect(murmur3x86_32(Uint8Array.of(0x21, 0x43, 0x65), 0, 3, 0)).toBe(0x7e4a8634);
    expect(murmur3x86_32(Uint8Array.of(0x21, 0x43), 0, 2, 0)).toBe(0xa0f7b07a);
    expect(murmur3x86_32(Uint8Array.of(0x21), 0, 1, 0)).toBe(0x72661cf4);
  });

  it('hashes in place with the filter seed', () => {
    const b = utf8('xxhelloyy');
    expect(bloomHash(b, 2, 7)).toBe(murmur3x86_32(utf8('hello'), 0, 5, BLOOM_HASH_SEED));
    expect(bloomHash(b, 2, 7)).not.toBe(murmur3x86_32(utf8('hello'), 0, 5, 0));
  });
});

describe('bloom filter (variant 2)', () => {
  it('sizes and probes as the format says', () => {
    expect(bloomProbes(10)).toBe(7); // round(6.93)
    expect(bloomProbes(5)).toBe(3); // round(3.47)
    expect(bloomProbes(16)).toBe(11); // round(11.09)
    expect(bloomProbes(1)).toBe(1);
    expect(bloomProbes(0)).toBe(1);
    expect(bloomProbes(64)).toBe(30);
    const f = bloomBuild(runOfKeys(intKeys(0, 100)), 10);
    expect(f.length).toBe(1000 / 8 + 2);
    expect([f[f.length - 2], f[f.length - 1]]).toEqual([2, 7]); // variant 2, k = 7
    const tiny = bloomBuild(runOfKeys([utf8('a')]), 10);
    expect(tiny.length).toBe(64 / 8 + 2); // at least 64 bits
    expect(bloomArrayBytes(1001, 3)).toBe(376); // ceil(3003 / 8)
    expect(bloomArrayBytes(2 ** 32, 1024)).toBe(BLOOM_ARRAY_BYTES_MAX); // m stays below 2^32
    expect(BLOOM_ARRAY_BYTES_MAX * 8).toBeLessThan(2 ** 32);
    expect(bloomTheoreticalFpRate(10_000, 10)).toBeCloseTo((1 - Math.exp(-0.7)) ** 7, 12);
  });

  it('sets exactly the bits (a + i*b + (i^3 - i)/6) mod m, a = h mod m, b = fmix32(h ^ 0x9e3779b9) mod m', () => {
    const seed = 0xb100;
    const rng = new Random(seed);
    const fmix32 = (x: bigint): bigint => {
      const M = 0xffffffffn;
      x ^= x >> 16n;
      x = (x * 0x85ebca6bn) & M;
      x ^= x >> 13n;
      x = (x * 0xc2b2ae35n) & M;
      return x ^ (x >> 16n);
    };
    // One key per filter; small m and k up to 30 make both sums wrap often.
    for (let t = 0; t < 300; t++) {
      const bitsPerKey = 1 + rng.int(80);
      const keyCount = 1;
      const h = rng.nextU32();
      const filter = bloomFromHashes(Uint32Array.of(h), keyCount, bitsPerKey);
      const m = BigInt((filter.length - 2) * 8);
      const k = bloomProbes(bitsPerKey);
      const a = BigInt(h) % m;
      const b = fmix32(BigInt(h) ^ 0x9e3779b9n) % m;
      const expected = new Uint8Array(filter.length - 2);
      for (let i = 0n; i < BigInt(k); i++) {
        const bit = Number((a + i * b + (i * i * i - i) / 6n) % m);
        expected[bit >>> 3]! |= 1 << (bit & 7);
      }
      expect([...filter.subarray(0, filter.length - 2)], `seed ${seed} case ${t}`).toEqual([...expected]);
    }
  });

  it('an empty filter matches nothing; known keys of a small filter match', () => {
    const empty = bloomBuild(runOfKeys([]), 10);
    expect(bloomMayContain(empty, utf8('hello'))).toBe(false);
    expect(bloomMayContain(empty, utf8('world'))).toBe(false);
    const small = bloomBuild(runOfKeys([utf8('hello'), utf8('world')]), 10);
    expect(bloomMayContain(small, utf8('hello'))).toBe(true);
    expect(bloomMayContain(small, utf8('world'))).toBe(true);
    expect(bloomMayContain(small, utf8('x'))).toBe(false);
    expect(bloomMayContain(small, utf8('foo'))).toBe(false);
  });

  it('counts a user key once however many versions it has', () => {
    const keys = intKeys(1000, 50);
    expect([...bloomBuild(runOfKeys(keys, 3), 10)]).toEqual([...bloomBuild(runOfKeys(keys, 1), 10)]);
  });

  it('matches everything for filters of other encodings', () => {
    const key = utf8('a');
    const empty = bloomBuild(runOfKeys([]), 10); // all zero bits: a real variant 2 filter says "absent"
    expect(bloomMayContain(empty, key)).toBe(false);
    const withTrailer = (variant: number, k: number, arrayBytes = 8): Uint8Array => {
      const f = new Uint8Array(arrayBytes + 2);
      f[arrayBytes] = variant;
      f[arrayBytes + 1] = k;
      return f;
    };
    expect(bloomMayContain(new Uint8Array(0), key)).toBe(true); // shorter than 2 bytes
    expect(bloomMayContain(Uint8Array.of(0), key)).toBe(true);
    expect(bloomMayContain(withTrailer(1, 6), key)).toBe(true); // another variant
    expect(bloomMayContain(withTrailer(0, 6), key)).toBe(true);
    expect(bloomMayContain(withTrailer(2, 31), key)).toBe(true); // k > 30
    expect(bloomMayContain(withTrailer(2, 0), key)).toBe(true); // k = 0
    expect(bloomMayContain(withTrailer(2, 7, 7), key)).toBe(true); // bit array under 8 bytes
    expect(bloomMayContain(withTrailer(2, 7, 0), key)).toBe(true);
    expect(bloomMayContain(withTrailer(2, 7, 8), key)).toBe(false); // readable: all bits clear
  });

  it('never misses a present key; false positives within 20% of theory at 10k and 200k keys (10 bits/key)', () => {
    const seed = 0xb10f;
    const rng = new Random(seed);
    const key = new Uint8Array(16);
    for (const keyCount of [10_000, 200_000]) {
      const present = randomKeys(rng, keyCount);
      const { rate, theory } = measureFp(keyCount, 10, 200_000, (i) => present.subarray(16 * i, 16 * i + 16),
        () => randomKeyInto(rng, key, 1), `random keys seed ${seed}`);
      expect(rate, `seed ${seed}, ${keyCount} keys`).toBeGreaterThan(theory * 0.8);
      expect(rate, `seed ${seed}, ${keyCount} keys`).toBeLessThan(theory * 1.2);
    }
  });

  it('keeps structured keys (decimal strings) near theory too', () => {
    const decimal = (i: number): Uint8Array => utf8(`user${String(i).padStart(12, '0')}`);
    const keyCount = 100_000;
    const { rate, theory } = measureFp(keyCount, 10, 200_000, decimal, (i) => decimal(keyCount + i), 'decimal keys');
    expect(rate).toBeGreaterThan(theory * 0.8);
    expect(rate).toBeLessThan(theory * 1.2);
  });

  it('stays within [0.8, 1.2] x theory at 5, 10 and 16 bits per key', () => {
    const seed = 0x5a10;
    const rng = new Random(seed);
    const key = new Uint8Array(16);
    // At 16 bits/key the rate is ~0.046%: 1M probes give ~460 false positives (5% standard error).
    for (const [bitsPerKey, probeCount] of [[5, 200_000], [10, 200_000], [16, 1_000_000]] as const) {
      const present = randomKeys(rng, 20_000);
      const { rate, theory } = measureFp(20_000, bitsPerKey, probeCount, (i) => present.subarray(16 * i, 16 * i + 16),
        () => randomKeyInto(rng, key, 1), `random keys seed ${seed}`);
      expect(rate, `seed ${seed}, ${bitsPerKey} bits/key`).toBeGreaterThan(theory * 0.8);
      expect(rate, `seed ${seed}, ${bitsPerKey} bits/key`).toBeLessThan(theory * 1.2);
    }
  });
});
