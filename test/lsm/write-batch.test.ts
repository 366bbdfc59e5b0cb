import { describe, expect, it } from 'vitest';
import { CorruptionError, InvalidArgumentError } from '../../src/errors.js';
import { KIND_DELETE, KIND_PUT, SEQUENCE_MAX } from '../../src/format/internal-key.js';
import { BATCH_HEADER_BYTES, WriteBatch, decodeBatch, encodeSingle } from '../../src/lsm/write-batch.js';
import { AssertionFailure } from '../../src/util/assert.js';
import { fromUtf8, putFixed32, putFixed64, utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';

type Op = [sequence: number, kind: number, key: string, value: string];

function decodeAll(payload: Uint8Array): { ops: Op[]; sequence: number; count: number } {
  const ops: Op[] = [];
  const r = decodeBatch(payload, '000003.log', 123, (sequence, kind, key, value) => {
    ops.push([sequence, kind, fromUtf8(key), fromUtf8(value)]);
  });
  return { ops, ...r };
}

function expectCorrupt(payload: Uint8Array): CorruptionError {
  let visits = 0;
  let caught: unknown;
  try {
    decodeBatch(payload, '000003.log', 123, () => visits++);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CorruptionError);
  const e = caught as CorruptionError;
  expect(e.code).toBe('LSM_ERR_CORRUPTION');
  expect(e.file).toBe('000003.log');
  expect(e.offset).toBe(123);
  expect(visits).toBe(0); // validated before anything is applied
  return e;
}

describe('WriteBatch', () => {
  it('encodes the documented bytes', () => {
    const b = new WriteBatch().put(utf8('ab'), utf8('xyz')).delete(utf8('c'));
    expect(b.count).toBe(2);
    const payload = b.encode(0x1_0000_0005);
    expect([...payload]).toEqual([
      0x05, 0, 0, 0, 0x01, 0, 0, 0, // fixed64 sequence
      2, 0, 0, 0, // fixed32 count
      1, 2, 0x61, 0x62, 3, 0x78, 0x79, 0x7a, // put "ab" = "xyz"
      0, 1, 0x63, // delete "c"
    ]);
    expect(b.byteSize).toBe(payload.length);
  });

  it('gives each op its own sequence, in order, and round-trips through decodeBatch', () => {
    const b = new WriteBatch().put(utf8('k'), utf8('1')).put(utf8('k'), utf8('2')).delete(utf8('k')).put(utf8(''), utf8(''));
    const got = decodeAll(b.encode(100));
    expect(got.sequence).toBe(100);
    expect(got.count).toBe(4);
    expect(got.ops).toEqual([
      [100, KIND_PUT, 'k', '1'],
      [101, KIND_PUT, 'k', '2'],
      [102, KIND_DELETE, 'k', ''],
      [103, KIND_PUT, '', ''],
    ]);
  });

  it('round-trips seeded random batches with large keys and values, growing its buffer', () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    try {
      const rand = mulberry32(seed);
      for (let round = 0; round < 20; round++) {
        const b = new WriteBatch();
        const expected: Op[] = [];
        const n = Math.floor(rand() * 50);
        const seq = Math.floor(rand() * 2 ** 44);
        for (let i = 0; i < n; i++) {
          const key = 'k'.repeat(Math.floor(rand() * 300)) + i;
          if (rand() < 0.3) {
            b.delete(utf8(key));
            expected.push([seq + i, KIND_DELETE, key, '']);
          } else {
            const value = 'v'.repeat(Math.floor(rand() * 20_000));
            b.put(utf8(key), utf8(value));
            expected.push([seq + i, KIND_PUT, key, value]);
          }
        }
        const payload = b.encode(seq);
        expect(b.byteSize).toBe(payload.length);
        const got = decodeAll(payload);
        expect(got.count).toBe(n);
        expect(got.ops).toEqual(expected);
        const walked: Op[] = [];
        b.forEach((kind, key, value) => walked.push([seq + walked.length, kind, fromUtf8(key), fromUtf8(value)]));
        expect(walked).toEqual(expected);
      }
    } catch (err) {
      console.error(`write-batch round-trip failed with LSMRAFT_SEED=${seed}`);
      throw err;
    }
  });

  it('returns a copy from encode, and clear() empties it for reuse', () => {
    const b = new WriteBatch().put(utf8('a'), utf8('1'));
    const first = b.encode(1);
    b.clear();
    expect(b.count).toBe(0);
    expect(b.byteSize).toBe(BATCH_HEADER_BYTES);
    b.put(utf8('b'), utf8('2'));
    expect(decodeAll(first).ops).toEqual([[1, KIND_PUT, 'a', '1']]);
    expect(decodeAll(b.encode(9)).ops).toEqual([[9, KIND_PUT, 'b', '2']]);
    expect(decodeAll(new WriteBatch().encode(5))).toEqual({ ops: [], sequence: 5, count: 0 });
  });

  it('rejects non-bytes with InvalidArgumentError and a sequence past the limit with an assertion', () => {
    const b = new WriteBatch();
    expect(() => b.put('k' as unknown as Uint8Array, utf8('v'))).toThrow(InvalidArgumentError);
    expect(() => b.delete(null as unknown as Uint8Array)).toThrow(InvalidArgumentError);
    expect(b.count).toBe(0);
    b.put(utf8('a'), utf8('b')).put(utf8('c'), utf8('d'));
    expect(() => b.encode(SEQUENCE_MAX)).toThrow(AssertionFailure);
    expect(decodeAll(b.encode(SEQUENCE_MAX - 1)).ops.map((o) => o[0])).toEqual([SEQUENCE_MAX - 1, SEQUENCE_MAX]);
  });
});

describe('encodeSingle', () => {
  it('writes the same bytes as a one-op WriteBatch', () => {
    expect(encodeSingle(7, KIND_PUT, utf8('key'), utf8('value'))).toEqual(new WriteBatch().put(utf8('key'), utf8('value')).encode(7));
    expect(encodeSingle(8, KIND_DELETE, utf8('key'), new Uint8Array(0))).toEqual(new WriteBatch().delete(utf8('key')).encode(8));
    const big = new Uint8Array(200_000).fill(7);
    const single = Buffer.from(encodeSingle(9, KIND_PUT, utf8('k'), big));
    expect(single.equals(new WriteBatch().put(utf8('k'), big).encode(9))).toBe(true);
    expect(single.length).toBe(BATCH_HEADER_BYTES + 1 + 1 + 1 + 3 + big.length);
  });
});

describe('decodeBatch validation', () => {
  const good = new WriteBatch().put(utf8('key'), utf8('value')).delete(utf8('gone')).encode(42);

  it('rejects every truncation of a valid payload, applying nothing', () => {
    for (let cut = 0; cut < good.length; cut++) expectCorrupt(good.subarray(0, cut));
  });

  it('rejects trailing bytes, a bad kind, an inflated count and a sequence past the limit', () => {
    expectCorrupt(new Uint8Array([...good, 0]));
    const badKind = good.slice();
    badKind[BATCH_HEADER_BYTES] = 7;
    expect(expectCorrupt(badKind).message).toContain('unknown op kind 7');
    const moreOps = good.slice();
    putFixed32(moreOps, 8, 3);
    expectCorrupt(moreOps);
    const huge = good.slice();
    putFixed32(huge, 8, 0xffffffff);
    expectCorrupt(huge);
    const lateSeq = good.slice();
    putFixed64(lateSeq, 0, SEQUENCE_MAX);
    expectCorrupt(lateSeq);
    const longKey = good.slice();
    longKey[BATCH_HEADER_BYTES + 1] = 0x7f; // key length past the end
    expectCorrupt(longKey);
    const endlessVarint = new Uint8Array(BATCH_HEADER_BYTES + 10).fill(0xff);
    putFixed64(endlessVarint, 0, 1);
    putFixed32(endlessVarint, 8, 1);
    endlessVarint[BATCH_HEADER_BYTES] = KIND_DELETE;
    expectCorrupt(endlessVarint);
  });

  it('survives seeded random garbage: a CorruptionError or a clean decode, never another error', () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    const rand = mulberry32(seed);
    for (let i = 0; i < 2000; i++) {
      const bytes = good.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      try {
        decodeAll(bytes);
      } catch (err) {
        if (!(err instanceof CorruptionError)) {
          console.error(`write-batch garbage test failed with LSMRAFT_SEED=${seed}`);
          throw err;
        }
      }
    }
  });
});
