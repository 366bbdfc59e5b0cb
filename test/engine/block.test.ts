import { describe, expect, it } from 'vitest';
import type { EntryRun } from '../../src/engine/types.js';
import { decodeBlock, encodeBlock } from '../../src/engine/js/block.js';
import { crc32c, maskCrc } from '../../src/format/crc32c.js';
import { CorruptionError } from '../../src/errors.js';
import { KIND_DELETE, KIND_PUT } from '../../src/format/internal-key.js';
import { Random } from '../../src/sim/random.js';
import { putFixed32 } from '../../src/util/bytes.js';
import { expectCorruption } from '../helpers/expect.js';
import { hexEntriesOf, runOfTuples, withBlockTrailer, type EntryTuple } from '../helpers/runs.js';

function randomRun(rng: Random, count: number): EntryRun {
  const entries: EntryTuple[] = [];
  for (let i = 0; i < count; i++) {
    const key = `user${String(rng.int(count * 2)).padStart(6, '0')}${'x'.repeat(rng.int(40))}`;
    const value = new Uint8Array(rng.int(100)).map(() => rng.int(256));
    entries.push([key, i + 1, rng.int(4) === 0 ? KIND_DELETE : KIND_PUT, value]);
  }
  return runOfTuples(entries);
}

describe('block codec', () => {
  it('writes the documented bytes for a two-entry block', () => {
    const run = runOfTuples([['a', 1, KIND_PUT, 'x'], ['ab', 2, KIND_PUT, '']]);
    const contents = [
      0, 9, 1, 0x61, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0x78, // "a"@1 put -> "x"
      1, 9, 0, 0x62, 0x01, 0x02, 0, 0, 0, 0, 0, 0, // shares "a"; "b"@2 put -> ""
      0, 0, 0, 0, // restart at 0
      1, 0, 0, 0, // one restart
    ];
    expect([...encodeBlock(run, 0, 2, 16)]).toEqual([...withBlockTrailer(contents)]);
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
        expect(hexEntriesOf(decoded), `seed ${seed}`).toEqual(hexEntriesOf(run).slice(start, end));
      }
    }
  });

  it('detects every single-byte corruption by checksum, naming file and block offset', () => {
    const run = runOfTuples([['apple', 3, KIND_PUT, 'red'], ['apple', 2, KIND_DELETE, ''], ['banana', 1, KIND_PUT, 'yellow']]);
    const good = encodeBlock(run, 0, 3, 2);
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice();
      bad[i]! ^= 0x20;
      const err = expectCorruption(() => decodeBlock(bad, '000007.sst', 4096));
      expect(err.code).toBe('LSM_ERR_CORRUPTION');
      expect(err.file).toBe('000007.sst');
      expect(err.offset).toBe(4096);
    }
    expect(expectCorruption(() => decodeBlock(good.subarray(0, 4), 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
  });

  it('rejects bad layouts behind a valid checksum, at the offset of the fault', () => {
    const key = [0x61, 1, 1, 0, 0, 0, 0, 0, 0];
    // restart count larger than the block
    expect(expectCorruption(() => decodeBlock(withBlockTrailer([0, 9, 0, ...key, 0, 0, 0, 0, 9, 0, 0, 0]), 'f', 100)).offset).toBe(100 + 16);
    // zero restarts
    expect(expectCorruption(() => decodeBlock(withBlockTrailer([0, 9, 0, ...key, 0, 0, 0, 0]), 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
    // value length past the restart array
    expect(expectCorruption(() => decodeBlock(withBlockTrailer([0, 9, 50, ...key, 0, 0, 0, 0, 1, 0, 0, 0]), 'f', 0)).offset).toBe(0);
    // second entry shares more than the previous key has
    expect(expectCorruption(() => decodeBlock(withBlockTrailer([0, 9, 0, ...key, 10, 1, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0]), 'f', 0)).offset).toBe(12);
    // restart offset inside an entry
    expect(expectCorruption(() => decodeBlock(withBlockTrailer([0, 9, 0, ...key, 0, 9, 0, 0x62, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0]), 'f', 0)).code)
      .toBe('LSM_ERR_CORRUPTION');
    // keys out of order: "b" then "a"
    const b = [0x62, 1, 1, 0, 0, 0, 0, 0, 0];
    expect(expectCorruption(() => decodeBlock(withBlockTrailer([0, 9, 0, ...b, 0, 9, 0, ...key, 0, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0]), 'f', 0)).offset).toBe(12);
    // key shorter than its 8-byte trailer
    expect(expectCorruption(() => decodeBlock(withBlockTrailer([0, 3, 0, 1, 2, 3, 0, 0, 0, 0, 1, 0, 0, 0]), 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
    // unknown block type
    const typed = withBlockTrailer([0, 9, 0, ...key, 0, 0, 0, 0, 1, 0, 0, 0]);
    typed[typed.length - 5] = 1;
    putFixed32(typed, typed.length - 4, maskCrc(crc32c(typed.subarray(0, typed.length - 4))));
    expect(expectCorruption(() => decodeBlock(typed, 'f', 0)).code).toBe('LSM_ERR_CORRUPTION');
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
        decodeBlock(withBlockTrailer(contents), 'f', 0);
        decoded++;
      } catch (err) {
        expect(err, `seed ${seed} trial ${trial}`).toBeInstanceOf(CorruptionError);
      }
    }
    expect(decoded).toBeLessThan(3000);
  });
});
