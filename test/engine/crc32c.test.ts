import { describe, expect, it } from 'vitest';
import { crc32c, maskCrc, unmaskCrc } from '../../src/format/crc32c.js';
import { utf8 } from '../../src/util/bytes.js';

/** Bit-at-a-time reference, independent of the table code under test. */
function crcBitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it('matches the standard check value and RFC 3720 vectors', () => {
    expect(crc32c(utf8('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });
  it('agrees with a bitwise reference on every length 0..300 and continues across chunks', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
    for (let n = 0; n <= data.length; n++) {
      const part = data.subarray(0, n);
      expect(crc32c(part)).toBe(crcBitwise(part));
      const cut = n >> 1;
      expect(crc32c(part.subarray(cut), crc32c(part.subarray(0, cut)))).toBe(crcBitwise(part));
    }
  });
  it('masks and unmasks', () => {
    for (const c of [0, 1, 0xe3069283, 0xffffffff]) {
      const m = maskCrc(c);
      expect(m).not.toBe(c);
      expect(unmaskCrc(m)).toBe(c);
    }
  });
});
