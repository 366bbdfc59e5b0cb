import { describe, expect, it } from 'vitest';
import { copyValue, VALUE_SLAB_BYTES } from '../../src/lsm/value-copy.js';

function pattern(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
}

describe('copyValue', () => {
  it('copies exactly the range, for sizes around the in-heap and slab limits', () => {
    const src = pattern(3 * VALUE_SLAB_BYTES, 7);
    for (const n of [0, 1, 64, 65, 100, 1023, 1024, 1025, 4096, VALUE_SLAB_BYTES, VALUE_SLAB_BYTES + 1]) {
      const out = copyValue(src, 5, 5 + n);
      expect(out.length, `${n} bytes`).toBe(n);
      expect(out, `${n} bytes`).toEqual(src.subarray(5, 5 + n));
      expect(out.byteOffset % 8, `${n} bytes`).toBe(0);
    }
  });

  it('hands out copies that share no byte: writing one changes neither its source nor the others', () => {
    const src = pattern(2000, 3);
    // More copies than one slab holds, so a new slab starts in between.
    const copies: Uint8Array[] = [];
    for (let i = 0; i < 3 * (VALUE_SLAB_BYTES / 100); i++) copies.push(copyValue(src, i % 50, (i % 50) + 65 + (i % 40)));
    for (const c of copies) c.fill(0xee);
    expect(src).toEqual(pattern(2000, 3));
    for (let i = 0; i < copies.length; i++) {
      for (let j = i + 1; j < copies.length; j++) {
        const a = copies[i]!;
        const b = copies[j]!;
        if (a.buffer !== b.buffer) continue;
        const disjoint = a.byteOffset + a.byteLength <= b.byteOffset || b.byteOffset + b.byteLength <= a.byteOffset;
        expect(disjoint, `copies ${i} and ${j}`).toBe(true);
      }
    }
  });
});
