import { describe, expect, it } from 'vitest';
import { copyRange, getFixed64, getVarint, putFixed64, putVarint, varintLength, compareBytes, utf8 } from '../../src/util/bytes.js';

describe('varint', () => {
  it('round-trips values up to 2^53 and reports its length', () => {
    const values = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 31, 2 ** 32 + 5, 2 ** 45 - 1, Number.MAX_SAFE_INTEGER];
    for (const v of values) {
      const buf = new Uint8Array(10);
      const end = putVarint(buf, 0, v);
      expect(end).toBe(varintLength(v));
      const r = getVarint(buf, 0, end, { value: 0, pos: 0 });
      expect(r.value).toBe(v);
      expect(r.pos).toBe(end);
    }
  });
  it('reports a truncated varint with pos -1', () => {
    const buf = new Uint8Array(10);
    const end = putVarint(buf, 0, 2 ** 40);
    expect(getVarint(buf, 0, end - 1, { value: 0, pos: 0 }).pos).toBe(-1);
  });
  it('matches leveldb bytes for 300', () => {
    const buf = new Uint8Array(2);
    putVarint(buf, 0, 300);
    expect([...buf]).toEqual([0xac, 0x02]);
  });
});

describe('fixed64 and comparison', () => {
  it('round-trips fixed64', () => {
    const buf = new Uint8Array(8);
    putFixed64(buf, 0, 2 ** 50 + 3);
    expect(getFixed64(buf, 0)).toBe(2 ** 50 + 3);
  });
  it('compares unsigned bytes, shorter prefix first', () => {
    expect(compareBytes(utf8('a'), utf8('b'))).toBeLessThan(0);
    expect(compareBytes(utf8('ab'), utf8('a'))).toBeGreaterThan(0);
    expect(compareBytes(new Uint8Array([0xff]), new Uint8Array([0x01]))).toBeGreaterThan(0);
    expect(compareBytes(utf8('x'), utf8('x'))).toBe(0);
  });
});

describe('copyRange', () => {
  it('copies exactly n bytes between offsets, by loop and by set(), whole arrays included', () => {
    const src = Uint8Array.from({ length: 200 }, (_, i) => (i * 7 + 1) & 0xff);
    for (const n of [0, 1, 31, 32, 33, 100]) {
      for (const [srcStart, dstStart] of [[0, 0], [3, 5], [200 - n, 0]] as const) {
        const dst = new Uint8Array(256).fill(0xee);
        copyRange(src, srcStart, dst, dstStart, n);
        expect([...dst.subarray(dstStart, dstStart + n)], `n ${n} at ${srcStart} -> ${dstStart}`).toEqual([...src.subarray(srcStart, srcStart + n)]);
        expect(dst.subarray(0, dstStart).every((b) => b === 0xee) && dst.subarray(dstStart + n).every((b) => b === 0xee)).toBe(true);
      }
      const whole = src.slice(0, n);
      const dst = new Uint8Array(n + 2);
      copyRange(whole, 0, dst, 1, n);
      expect([...dst]).toEqual([0, ...whole, 0]);
    }
  });
});
