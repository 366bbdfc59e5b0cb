/**
 * The LZ4 block codec twins (src/engine/js/lz4.ts, asm/lz4.ts): identical bytes on random,
 * compressible and edge-case inputs; round trips; the end conditions of the block format; a
 * decoder that rejects corrupt blocks without reading or writing out of bounds; and both
 * directions against the real lz4 implementation (the `lz4` CLI, through frames we parse and
 * build per lz4's doc/lz4_Frame_format.md) when it is installed.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { HotPaths } from '../../src/engine/types.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { instantiateWasmHotPaths } from '../../src/engine/wasm/index.js';
import { CorruptionError } from '../../src/errors.js';
import { Rng } from '../helpers/rng.js';
import { corruptionOutcome } from '../helpers/expect.js';

const wasm: HotPaths = instantiateWasmHotPaths();
const js: HotPaths = jsHotPaths;

function forSeeds(base: number, count: number, body: (rng: Rng) => void): void {
  for (let seed = base; seed < base + count; seed++) {
    try {
      body(new Rng(seed));
    } catch (err) {
      throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Text-like input: words from a small vocabulary, so matches of many lengths and offsets. */
function compressible(rng: Rng, n: number): Uint8Array {
  const words = Array.from({ length: 1 + rng.int(40) }, () => rng.bytes(1 + rng.int(12)));
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const w = words[rng.int(words.length)]!;
    for (let i = 0; i < w.length && at < n; i++) out[at++] = w[i]!;
  }
  return out;
}

/** Sequences of a block: [literals, matchLength (0 for the last), offset]. */
function sequences(block: Uint8Array): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  let ip = 0;
  for (;;) {
    const token = block[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) for (let b = 255; b === 255; lit += b) b = block[ip++]!;
    ip += lit;
    if (ip === block.length) {
      out.push([lit, 0, 0]);
      return out;
    }
    const offset = block[ip]! | (block[ip + 1]! << 8);
    ip += 2;
    let ml = (token & 15) + 4;
    if ((token & 15) === 15) for (let b = 255; b === 255; ml += b) b = block[ip++]!;
    out.push([lit, ml, offset]);
  }
}

/** Byte equality without the matcher's per-element walk (slow on 64 KiB arrays). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function checkTwins(data: Uint8Array): Uint8Array {
  const a = js.lz4Compress(data)!;
  const b = wasm.lz4Compress(data)!;
  expect(same(a, b)).toBe(true);
  expect(same(js.lz4Decompress(a, data.length), data)).toBe(true);
  expect(same(wasm.lz4Decompress(a, data.length), data)).toBe(true);
  // The format's end conditions: last match starts >= 12 bytes and ends >= 5 bytes before the end.
  let pos = 0;
  for (const [lit, ml] of sequences(a)) {
    pos += lit;
    if (ml > 0) {
      expect(pos).toBeLessThanOrEqual(data.length - 12);
      pos += ml;
      expect(pos).toBeLessThanOrEqual(data.length - 5);
    }
  }
  expect(pos).toBe(data.length);
  return a;
}

describe('lz4 twins', () => {
  it('write identical bytes on random, compressible and run-heavy inputs, and round-trip', () => {
    forSeeds(1, 60, (rng) => {
      const n = rng.chance(0.2) ? rng.int(40) : rng.int(70_000);
      const kind = rng.int(3);
      const data = kind === 0 ? rng.bytes(n) : kind === 1 ? compressible(rng, n) : new Uint8Array(n).fill(rng.int(256));
      checkTwins(data);
    });
  });

  it('handle the edge cases: empty, below 13 bytes, incompressible, long runs, 64 KiB offsets', () => {
    expect(checkTwins(new Uint8Array(0))).toEqual(Uint8Array.of(0));
    for (let n = 1; n < 13; n++) {
      const data = new Uint8Array(n).fill(7);
      const block = checkTwins(data);
      expect(block.length).toBe(1 + n); // all literals
    }
    // 13 equal bytes: one literal, one match of 7 (starts at 1 <= 13 - 12), 5 last literals.
    expect(sequences(checkTwins(new Uint8Array(13).fill(9)))).toEqual([[1, 7, 1], [5, 0, 0]]);
    const rng = new Rng(99);
    const random = rng.bytes(100_000);
    expect(checkTwins(random).length).toBeGreaterThan(random.length); // literals plus length bytes
    const run = checkTwins(new Uint8Array(1 << 20).fill(0xab));
    expect(run.length).toBeLessThan(5000);
    // A 1,000-byte pattern repeated exactly 65,535 and 65,536 bytes later: the first is found, the
    // second is out of reach.
    const pattern = rng.bytes(1000);
    for (const distance of [65_535, 65_536]) {
      const data = new Uint8Array(distance + 2000);
      data.set(rng.bytes(data.length));
      data.set(pattern, 0);
      data.set(pattern, distance);
      const offsets = sequences(checkTwins(data)).map(([, , offset]) => offset);
      expect(offsets.includes(65_535)).toBe(distance === 65_535);
    }
  });

  it('give up exactly when the output would pass the limit, writing nothing past it', () => {
    forSeeds(500, 40, (rng) => {
      const data = compressible(rng, 1 + rng.int(5000));
      const full = js.lz4Compress(data)!;
      for (const limit of [full.length, full.length - 1, rng.int(full.length + 1)]) {
        const a = js.lz4Compress(data, limit);
        const b = wasm.lz4Compress(data, limit);
        expect(a === undefined ? undefined : Array.from(a)).toEqual(limit >= full.length ? Array.from(full) : undefined);
        expect(b === undefined ? undefined : Array.from(b)).toEqual(limit >= full.length ? Array.from(full) : undefined);
      }
    });
  });

  it('reject corrupt blocks at the same position in both twins, never out of bounds', () => {
    let rejected = 0;
    forSeeds(1000, 300, (rng) => {
      const data = compressible(rng, 20 + rng.int(3000));
      const block = js.lz4Compress(data)!.slice();
      const corrupt = block.slice(0, rng.chance(0.2) ? rng.int(block.length) : block.length);
      for (let i = 0; i < 1 + rng.int(3) && corrupt.length > 0; i++) corrupt[rng.int(corrupt.length)] = rng.int(256);
      const rawBytes = rng.chance(0.8) ? data.length : rng.int(2 * data.length);
      const outcome = (engine: HotPaths): string =>
        corruptionOutcome(() => `ok ${Buffer.from(engine.lz4Decompress(corrupt, rawBytes)).toString('hex')}`);
      const a = outcome(js);
      expect(outcome(wasm)).toBe(a);
      if (a.startsWith('corrupt')) rejected++;
    });
    expect(rejected).toBeGreaterThan(100);
  });

  it('reject an offset of 0, an offset before the output, a block ending after a match, and short output', () => {
    const bad = [
      Uint8Array.of(0x10, 0x61, 0x00, 0x00, 0x00), // offset 0
      Uint8Array.of(0x10, 0x61, 0x02, 0x00, 0x00), // offset 2 with 1 byte written
      Uint8Array.of(0x10, 0x61, 0x01, 0x00), // ends after a match
      Uint8Array.of(0x20, 0x61, 0x62), // 2 bytes for 3 wanted
    ];
    for (const block of bad) {
      expect(() => js.lz4Decompress(block, 3)).toThrow(CorruptionError);
      expect(() => wasm.lz4Decompress(block, 3)).toThrow(CorruptionError);
    }
    // Overlapping matches (offset 1 and 3) repeat the last bytes.
    const ok = Uint8Array.of(0x13, 0x61, 0x01, 0x00, 0x30, 0x62, 0x63, 0x64, 0x03, 0x00, 0x00);
    for (const engine of [js, wasm]) expect(Buffer.from(engine.lz4Decompress(ok, 15)).toString()).toBe('aaaaaaaabcdbcdb');
  });
});

// ---- against the real implementation: the lz4 CLI speaks frames (lz4 doc/lz4_Frame_format.md) ----

const LZ4_CLI = spawnSync('lz4', ['--version']).status === 0;
const FRAME_MAGIC = 0x184d2204;

function xxh32(data: Uint8Array): number {
  // XXH32 with seed 0 for inputs below 16 bytes (the frame descriptor is 2 bytes).
  const P1 = 2654435761, P2 = 2246822519, P3 = 3266489917, P4 = 668265263, P5 = 374761393;
  const rotl = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;
  let h = (P5 + data.length) >>> 0;
  let i = 0;
  for (; i + 4 <= data.length; i += 4) {
    const w = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
    h = Math.imul(rotl((h + Math.imul(w, P3)) >>> 0, 17), P4) >>> 0;
  }
  for (; i < data.length; i++) h = Math.imul(rotl((h + Math.imul(data[i]!, P5)) >>> 0, 11), P1) >>> 0;
  h = Math.imul(h ^ (h >>> 15), P2) >>> 0;
  h = Math.imul(h ^ (h >>> 13), P3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** One frame holding `block` as its only (compressed) block: independent blocks, 64 KiB maximum. */
function frameOf(block: Uint8Array): Uint8Array {
  const descriptor = Uint8Array.of(0x60, 0x40); // version 01, block independence; 64 KiB blocks
  const out = Buffer.alloc(4 + 3 + 4 + block.length + 4);
  out.writeUInt32LE(FRAME_MAGIC, 0);
  out.set(descriptor, 4);
  out[6] = (xxh32(descriptor) >>> 8) & 0xff;
  out.writeUInt32LE(block.length, 7);
  out.set(block, 11);
  out.writeUInt32LE(0, 11 + block.length); // end mark
  return out;
}

/** The data blocks of a frame: [bytes, stored uncompressed]. */
function blocksOf(frame: Buffer): Array<[Uint8Array, boolean]> {
  expect(frame.readUInt32LE(0)).toBe(FRAME_MAGIC);
  const flg = frame[4]!;
  let at = 4 + 2 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0) + 1;
  const blocks: Array<[Uint8Array, boolean]> = [];
  for (;;) {
    const word = frame.readUInt32LE(at);
    at += 4;
    if (word === 0) return blocks;
    const size = word & 0x7fffffff;
    blocks.push([frame.subarray(at, at + size), (word & 0x80000000) !== 0]);
    at += size + ((flg & 0x10) !== 0 ? 4 : 0);
  }
}

describe.skipIf(!LZ4_CLI)('lz4 twins against the lz4 CLI', () => {
  it('decode what lz4 writes, and lz4 decodes what we write', () => {
    forSeeds(2000, 12, (rng) => {
      const n = 1 + rng.int(60_000);
      const data = rng.chance(0.25) ? rng.bytes(n) : compressible(rng, n);
      const level = rng.chance(0.5) ? '-1' : '-9';
      const theirs = spawnSync('lz4', [level, '-B4', '-BI', '--no-frame-crc', '-c'], { input: data, timeout: 10_000 });
      expect(theirs.status).toBe(0);
      const blocks = blocksOf(theirs.stdout);
      expect(blocks.length).toBe(1);
      const [block, stored] = blocks[0]!;
      if (!stored) {
        expect(same(js.lz4Decompress(block, n), data)).toBe(true);
        expect(same(wasm.lz4Decompress(block, n), data)).toBe(true);
      }
      const ours = js.lz4Compress(data)!;
      if (ours.length > 65_536) return; // the frame stores blocks of at most 64 KiB
      const back = spawnSync('lz4', ['-d', '-c'], { input: frameOf(ours), timeout: 10_000 });
      expect(back.status, back.stderr.toString()).toBe(0);
      expect(same(back.stdout, data)).toBe(true);
    });
  });
});
