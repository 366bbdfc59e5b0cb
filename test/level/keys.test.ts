// The Level key escape (src/level/keys.ts): never empty, injective, order-preserving, invertible.
import { describe, expect, it } from 'vitest';
import { escapeKey, unescapeKey } from '../../src/level/keys.js';
import { Random } from '../../src/sim/random.js';
import { compareBytes } from '../../src/util/bytes.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Short keys over a tiny alphabet with many 0x00 bytes, so ties, prefixes and escapes are common. */
function randomKey(rng: Random): Uint8Array {
  const alphabet = [0x00, 0x00, 0x01, 0x7f, 0xff];
  const key = new Uint8Array(rng.int(5));
  for (let i = 0; i < key.length; i++) key[i] = alphabet[rng.int(alphabet.length)]!;
  return key;
}

describe('escapeKey / unescapeKey', () => {
  it('maps the empty key and 0x00-led keys, and passes other keys through uncopied', () => {
    expect([...escapeKey(new Uint8Array(0))]).toEqual([0]);
    expect([...escapeKey(Uint8Array.of(0, 5))]).toEqual([0, 0, 5]);
    const plain = Uint8Array.of(1, 0, 2);
    expect(escapeKey(plain)).toBe(plain);
    expect([...unescapeKey(Uint8Array.of(0))]).toEqual([]);
    expect([...unescapeKey(Uint8Array.of(0, 0, 5))]).toEqual([0, 5]);
  });

  it('preserves order and equality, and round-trips (seeded pairs)', () => {
    const seed = 0x5eed_1e7e1;
    const rng = new Random(seed);
    const PAIRS = 5000;
    for (let i = 0; i < PAIRS; i++) {
      const a = randomKey(rng);
      const b = randomKey(rng);
      const ea = escapeKey(a);
      const eb = escapeKey(b);
      const context = `seed ${seed} pair ${i}: [${a}] vs [${b}]`;
      expect(ea.length, context).toBeGreaterThan(0);
      expect(sign(compareBytes(ea, eb)), context).toBe(sign(compareBytes(a, b)));
      expect([...unescapeKey(ea)], context).toEqual([...a]);
    }
  });
});
