/**
 * A flush's memtable image as a merge input (StreamSource 'skiplist'): the WASM twin walks the
 * skiplist's nodes where they are (asm/skiplist.ts), the JS twin packs them first; both must write
 * the bytes a merge of the packed run writes.
 */
import { describe, expect, it } from 'vitest';
import type { HotPaths, SkipListSource, StreamOptions, StreamSource } from '../../src/engine/types.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { instantiateWasmHotPaths } from '../../src/engine/wasm/index.js';
import { KIND_DELETE, KIND_PUT } from '../../src/format/internal-key.js';
import { MemTable, packMemTableImage, type MemTableImage } from '../../src/lsm/memtable.js';
import { utf8 } from '../../src/util/bytes.js';
import { testSeeds, withSeed, xorshiftBelow } from '../helpers/rng.js';

const OPTIONS: StreamOptions = {
  blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 64 * 1024,
  snapshots: [], dropTombstones: false, readAheadBytes: 32 * 1024, outputChunkBytes: 64 * 1024,
};

function source(image: MemTableImage): SkipListSource {
  return {
    kind: 'skiplist', chunkBytes: image.chunkBytes, nodeChunks: image.nodeChunks, valueChunks: image.valueChunks,
    entries: image.entries, packedBytes: image.keyBytes + image.valueBytes, pack: () => packMemTableImage(image),
  };
}

/** Every output table's bytes, concatenated, as hex, and the entries read. */
function output(engine: HotPaths, inputs: StreamSource[], options: StreamOptions): { hex: string; inputEntries: number[] } {
  const chunks: Uint8Array[] = [];
  const result = engine.compactStreams(inputs, options, { write: (b) => { chunks.push(b.slice()); }, end: () => undefined });
  return { hex: Buffer.concat(chunks).toString('hex'), inputEntries: result.inputEntries };
}

/**
 * A memtable of `count` adds over a few hundred keys (so several versions each), with deletes,
 * empty values, and values larger than a quarter chunk (chunks of their own, larger than chunkBytes).
 */
function memtable(seed: number, count: number, chunkBytes: number): MemTable {
  const r = xorshiftBelow(seed);
  const mem = new MemTable({ arenaChunkBytes: chunkBytes });
  for (let seq = 1; seq <= count; seq++) {
    const key = utf8(`key${String(r(300)).padStart(5, '0')}${'x'.repeat(r(4) === 0 ? r(200) : 0)}`);
    const roll = r(20);
    if (roll === 0) mem.add(seq, KIND_DELETE, key, new Uint8Array(0));
    else mem.add(seq, KIND_PUT, key, new Uint8Array(roll === 1 ? 0 : roll === 2 ? chunkBytes + r(3000) : r(120)).fill(seq & 0xff));
  }
  return mem;
}

describe('a memtable image as a merge input', () => {
  const wasm = instantiateWasmHotPaths();
  for (const seed of testSeeds(0x5eed_f1a5, 3)) {
    it(`writes the bytes of a merge over its packed run, in both engines (seed ${seed})`, () => {
      withSeed(seed, () => {
        for (const chunkBytes of [1024, 1 << 16]) {
          const mem = memtable(seed, 3000, chunkBytes);
          const image = mem.image();
          for (const options of [OPTIONS, { ...OPTIONS, snapshots: [700, 2100], dropTombstones: true }]) {
            const expected = output(jsHotPaths, [{ kind: 'run', run: mem.toRun() }], options);
            expect(expected.inputEntries).toEqual([3000]);
            for (const engine of [jsHotPaths, wasm]) {
              const got = output(engine, [source(image)], options);
              expect(got.inputEntries, engine.name).toEqual([3000]);
              expect(got.hex === expected.hex, `${engine.name}, chunks of ${chunkBytes} bytes`).toBe(true);
            }
          }
        }
      });
    });
  }

  it('merges with other inputs, and an empty memtable is an empty input', () => {
    const mem = memtable(7, 500, 4096);
    const other = memtable(8, 400, 4096);
    const empty = new MemTable({ arenaChunkBytes: 4096 }).image();
    // Disjoint sequences: shift the second memtable's (the merge requires unique internal keys).
    const shifted = new MemTable({ arenaChunkBytes: 4096 });
    const run = other.toRun();
    for (let i = 0; i < run.count; i++) {
      const key = run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]! - 8);
      const value = run.data.subarray(run.offsets[2 * i + 1]!, run.offsets[2 * i + 2]!);
      shifted.add(10_000 + i, run.data[run.offsets[2 * i + 1]! - 8]!, key, value);
    }
    const inputs = [source(mem.image()), source(empty), source(shifted.image())];
    const runs: StreamSource[] = [{ kind: 'run', run: mem.toRun() }, { kind: 'run', run: packMemTableImage(empty) },
      { kind: 'run', run: shifted.toRun() }];
    const expected = output(jsHotPaths, runs, OPTIONS);
    for (const engine of [jsHotPaths, wasm]) {
      const got = output(engine, inputs, OPTIONS);
      expect(got.inputEntries, engine.name).toEqual([500, 0, 400]);
      expect(got.hex === expected.hex, engine.name).toBe(true);
    }
  });

  it('an image whose count or links are wrong is a bug (assert), never a read elsewhere or garbage tables', () => {
    const image = memtable(9, 200, 4096).image();
    expect(() => output(wasm, [source({ ...image, entries: 201 })], OPTIONS)).toThrow(/does not parse/);
    expect(() => output(wasm, [source({ ...image, entries: 199 })], OPTIONS)).toThrow(/does not parse/);
    /** The image with the head's level-0 link (node chunk 0, byte 20) replaced by link(first node). */
    const relinked = (link: (first: number) => number): MemTableImage => {
      const nodeChunks = image.nodeChunks.map((c) => {
        const copy = new SharedArrayBuffer(c.byteLength);
        new Uint8Array(copy).set(new Uint8Array(c));
        return copy;
      });
      const head = new Uint32Array(nodeChunks[0]!);
      head[5] = link(head[5]!);
      return { ...image, nodeChunks };
    };
    expect(output(wasm, [source(relinked((first) => first))], OPTIONS).inputEntries).toEqual([200]);
    // Past the last chunk; inside chunk 0 but not a node (the head's own links: height 0).
    expect(() => output(wasm, [source(relinked(() => image.nodeChunks.length << 12))], OPTIONS)).toThrow(/does not walk/);
    expect(() => output(wasm, [source(relinked(() => 24))], OPTIONS)).toThrow(/does not walk/);
    // A link that skips nodes: fewer entries than the image holds.
    const fewer = relinked((first) => new Uint32Array(image.nodeChunks[first >>> 12]!)[((first & 4095) >> 2) + 5]!);
    expect(() => output(wasm, [source(fewer)], OPTIONS)).toThrow(/does not walk/);
  });
});
