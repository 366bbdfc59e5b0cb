import { describe, expect, it } from 'vitest';
import type { EntryRun } from '../../src/engine/types.js';
import { decodeBlock, encodeBlock } from '../../src/engine/js/block.js';
import { crc32c, maskCrc } from '../../src/engine/js/crc32c.js';
import { CorruptionError } from '../../src/errors.js';
import { KIND_DELETE, KIND_PUT, compareInternalKeys, makeInternalKey } from '../../src/lsm/internal-key.js';
import { Random } from '../../src/sim/random.js';
import { putFixed32, utf8 } from '../../src/util/bytes.js';

type Entry = [key: string | Uint8Array, seq: number, kind: number, value: string | Uint8Array];
const bytesOf = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? utf8(s) : s);

/** Packs entries (sorted here by internal key) into an EntryRun. */
function makeRun(entries: Entry[]): EntryRun {
  const kv = entries.map(([k, s, kind, v]) => [makeInternalKey(bytesOf(k), s, kind), bytesOf(v)] as const);
  kv.sort((a, b) => compareInternalKeys(a[0], b[0]));
  let n = 0;
  for (const [k, v] of kv) n += k.length + v.length;
  const data = new Uint8Array(n);
  const offsets = new Uint32Array(2 * kv.length + 1);
  let pos = 0;
  kv.forEach(([k, v], i) => {
    offsets[2 * i] = pos;
    data.set(k, pos);
    pos += k.length;
    offsets[2 * i + 1] = pos;
    data.set(v, pos);
    pos += v.length;
  });
  offsets[2 * kv.length] = pos;
  return { data, offsets, count: kv.length };
}

function entriesOf(run: EntryRun): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  for (let i = 0; i < run.count; i++) {
    out.push([
      hex(run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]!)),
      hex(run.data.subarray(run.offsets[2 * i + 1]!, run.offsets[2 * i + 2]!)),
    ]);
  }
  return out;
}

function randomRun(rng: Random, count: number): EntryRun {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const key = `user${String(rng.int(count * 2)).padStart(6, '0')}${'x'.repeat(rng.int(40))}`;
    const value = new Uint8Array(rng.int(100)).map(() => rng.int(256));
    entries.push([key, i + 1, rng.int(4) === 0 ? KIND_DELETE : KIND_PUT, value]);
  }
  return makeRun(entries);
}

/** A block whose contents we wrote by hand, with a correct trailer. */
function withTrailer(contents: number[]): Uint8Array {
  const block = new Uint8Array(contents.length + 5);
  block.set(contents);
  block[contents.length] = 0;
  putFixed32(block, contents.length + 1, maskCrc(crc32c(block.subarray(0, contents.length + 1))));
  return block;
}

function corruption(fn: () => unknown): CorruptionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptionError);
    return err as CorruptionError;
  }
  throw new Error('expected a CorruptionError');
}

describe('block codec', () => {
  it('writes the documented bytes for a two-entry block', () => {
    const run = makeRun([['a', 1, KIND_PUT, 'x'], ['ab', 2, KIND_PUT, '']]);
    const contents = [
      0, 9, 1, 0x61, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0x78, // "a"@1 put -> "x"
      1, 9, 0, 0x62, 0x01, 0x02, 0, 0, 0, 0, 0, 0, // shares "a"; "b"@2 put -> ""
      0, 0, 0, 0, // restart at 0
      1, 0, 0, 0, // one restart
    ];
    expect([...encodeBlock(run, 0, 2, 16)]).toEqual([...withTrailer(contents)]);
  });

  it('puts restarts at entries 0, R, 2R and round-trips for several intervals', () => {
    const seed = 0x5eed01;
    const rng = new Random(seed);
    for (const restartInterval of [1, 2, 3, 16, 1000]) {
      const run = randomRun(rng, 200);
      for (const [start, end] of [[0, run.count], [5, 6], [17, 150]] as const) {
        const block = encodeBlock(run, start, end, restartInterval);
        const contentsBytes = block.length - 5;
        const numRestarts = new DataView(block.buffer, block.byteOffset).getUint32(contentsBytes - 4, true);
        expect(numRestarts, `seed ${seed}`).toBe(Math.ceil((end - start) / restartInterval));
        const decoded = decodeBlock(block, 'mem', 0);
        expect(entriesOf(decoded), `seed ${seed}`).toEqual(entriesOf(run).slice(start, end));
      }
    }
  });

  it('detects every single-byte corruption by checksum, naming file and block offset', () => {
    const run = makeRun([['apple', 3, KIND_PUT, 'red'], ['apple', 2, KIND_DELETE, ''], ['banana', 1, KIND_PUT, 'yellow']]);
    const good = encodeBlock(run, 0, 3, 2);
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice();
      bad[i]! ^= 0x20;
      const err = corruption(() => decodeBlock(bad, '000007.sst', 4096));
      expect(err.code).toBe('LSM_ERR_CORRUPTION');
      expect(err.file).toBe('000007.sst');
      expect(err.offset).toBe(4096);
    }
    expect(corruption(() => decodeBlock(good.subarray(0, 4), 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
  });

  it('rejects bad layouts behind a valid checksum, at the offset of the fault', () => {
    const key = [0x61, 1, 1, 0, 0, 0, 0, 0, 0];
    // restart count larger than the block
    expect(corruption(() => decodeBlock(withTrailer([0, 9, 0, ...key, 0, 0, 0, 0, 9, 0, 0, 0]), 'f', 100)).offset).toBe(100 + 16);
    // zero restarts
    expect(corruption(() => decodeBlock(withTrailer([0, 9, 0, ...key, 0, 0, 0, 0]), 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
    // value length past the restart array
    expect(corruption(() => decodeBlock(withTrailer([0, 9, 50, ...key, 0, 0, 0, 0, 1, 0, 0, 0]), 'f', 0)).offset).toBe(0);
    // second entry shares more than the previous key has
    expect(corruption(() => decodeBlock(withTrailer([0, 9, 0, ...key, 10, 1, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0]), 'f', 0)).offset).toBe(12);
    // restart offset inside an entry
    expect(corruption(() => decodeBlock(withTrailer([0, 9, 0, ...key, 0, 9, 0, 0x62, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0]), 'f', 0)).code)
      .toBe('LSM_ERR_CORRUPTION');
    // keys out of order: "b" then "a"
    const b = [0x62, 1, 1, 0, 0, 0, 0, 0, 0];
    expect(corruption(() => decodeBlock(withTrailer([0, 9, 0, ...b, 0, 9, 0, ...key, 0, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0]), 'f', 0)).offset).toBe(12);
    // key shorter than its 8-byte trailer
    expect(corruption(() => decodeBlock(withTrailer([0, 3, 0, 1, 2, 3, 0, 0, 0, 0, 1, 0, 0, 0]), 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
    // unknown block type
    const typed = withTrailer([0, 9, 0, ...key, 0, 0, 0, 0, 1, 0, 0, 0]);
    typed[typed.length - 5] = 1;
    putFixed32(typed, typed.length - 4, maskCrc(crc32c(typed.subarray(0, typed.length - 4))));
    expect(corruption(() => decodeBlock(typed, 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
  });

  it('never reads out of bounds or hangs on random garbage with valid checksums', () => {
    const seed = 0xbad5eed;
    const rng = new Random(seed);
    const good = encodeBlock(randomRun(rng, 30), 0, 30, 4);
    let decoded = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const contents = [...good.subarray(0, good.length - 5)];
      const flips = 1 + rng.int(4);
      for (let f = 0; f < flips; f++) contents[rng.int(contents.length)] = rng.int(256);
      if (rng.int(10) === 0) contents.length = rng.int(contents.length);
      try {
        decodeBlock(withTrailer(contents), 'f', 0);
        decoded++;
      } catch (err) {
        expect(err, `seed ${seed} trial ${trial}`).toBeInstanceOf(CorruptionError);
      }
    }
    expect(decoded).toBeLessThan(3000);
  });
});
