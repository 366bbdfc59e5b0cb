/**
 * Streamed compaction (HotPaths.compactStreams) beyond byte agreement (twins.test.ts): a corrupt
 * input block is a CorruptionError naming its file and offset in both engines, a chain of tables
 * is read as one input, one table open at a time, and the WASM
 * module's memory is bounded by the job's windows, not its inputs' size, and reused by the next job.
 */
import { describe, expect, it } from 'vitest';
import type { BlockSource, EntryRun, HotPaths, StreamOptions, StreamSource, TableChain } from '../../src/engine/types.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { largestBlockBytes } from '../../src/engine/stream-window.js';
import { instantiateWasmHotPaths, type WasmHotPaths } from '../../src/engine/wasm/index.js';
import { KIND_DELETE, KIND_PUT, makeInternalKey, userKeyOf } from '../../src/format/internal-key.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { type CachedBlock, TableReader } from '../../src/lsm/table-reader.js';
import { tableFileName, writeTableFiles } from '../../src/lsm/table-file.js';
import { compareBytes, utf8 } from '../../src/util/bytes.js';
import { packRun, runOfTuples, sortedRun } from '../helpers/runs.js';
import { expectCorruption } from '../helpers/expect.js';

const OPTIONS: StreamOptions = {
  blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 256 * 1024,
  snapshots: [], dropTombstones: true, readAheadBytes: 32 * 1024, outputChunkBytes: 64 * 1024,
};
/** Tables that stay their raw size: inputs and outputs of known bytes. */
const PLAIN: StreamOptions = { ...OPTIONS, blockCompression: 'none' };

/** `count` puts of keys "k<i * stride + offset>" with 100-byte values, one run. */
function run(count: number, stride: number, offset: number, seqBase: number): EntryRun {
  const value = new Uint8Array(100).fill(0x61 + offset);
  return sortedRun(Array.from({ length: count }, (_, i) =>
    [makeInternalKey(utf8(`k${String(i * stride + offset).padStart(9, '0')}`), seqBase + i, 1), value] as const));
}

/** Each run as one table file in a fresh in-memory file system, opened as a compaction input. */
function tableInputs(runs: EntryRun[], options = OPTIONS): { fs: CrashableMemFileSystem; readers: TableReader[] } {
  const fs = new CrashableMemFileSystem();
  fs.mkdirp('/t');
  const readers = runs.map((r, i) => {
    const [table] = jsHotPaths.buildTables(r, { ...options, targetFileSizeBytes: 1 << 30 });
    writeTableFiles(fs, '/t', [table!], [i + 1]);
    return TableReader.open(fs, `/t/${tableFileName(i + 1)}`, i + 1, jsHotPaths, new BlockCache<CachedBlock>(0), false);
  });
  return { fs, readers };
}

function countTables(engine: HotPaths, inputs: BlockSource[], options = OPTIONS): { tables: number; bytes: number } {
  let tables = 0;
  let bytes = 0;
  engine.compactStreams(inputs, options, { write: (b) => { bytes += b.length; }, end: () => { tables++; } });
  return { tables, bytes };
}

/** The tables' bytes, concatenated, as hex (the whole output of a compaction). */
function countTablesBytes(engine: HotPaths, inputs: StreamSource[]): string {
  const chunks: Uint8Array[] = [];
  engine.compactStreams(inputs, OPTIONS, { write: (b) => { chunks.push(b.slice()); }, end: () => undefined });
  return Buffer.concat(chunks).toString('hex');
}

describe('compactStreams', () => {
  it.each([['plain', PLAIN], ['compressed', OPTIONS]])('reports a corrupt %s input block with its file and offset, in both engines', (_, options) => {
    const { readers } = tableInputs([run(2000, 3, 0, 1), run(2000, 3, 1, 10_000), run(2000, 3, 2, 20_000)], options);
    const good = readers[1]!.blockSource();
    const bad = 5;
    const badOffset = good.blockOffsets[bad]!;
    const corrupt: BlockSource = {
      ...good,
      read: (position, length) => {
        const bytes = good.read(position, length).slice();
        if (position <= badOffset + 10 && badOffset + 10 < position + length) bytes[badOffset + 10 - position]! ^= 0x40;
        return bytes;
      },
    };
    for (const engine of [jsHotPaths, instantiateWasmHotPaths()]) {
      const err = expectCorruption(() => countTables(engine, [readers[0]!.blockSource(), corrupt, readers[2]!.blockSource()], options));
      expect(err.file, engine.name).toBe(readers[1]!.path);
      expect(err.offset, engine.name).toBe(badOffset);
      // The engine stays usable after the failure.
      expect(countTables(engine, readers.map((r) => r.blockSource()), PLAIN).tables).toBeGreaterThan(1);
    }
  });

  it('an input whose index names blocks smaller than any writer makes is corruption, not a bug, in both engines', () => {
    // 8,000 blocks of 5 bytes (a trailer and no contents): more per window than real blocks can be.
    const bytes = new Uint8Array(40_000);
    const source: BlockSource = {
      kind: 'blocks', path: 'tiny.sst',
      blockOffsets: Float64Array.from({ length: 8000 }, (_, i) => 5 * i),
      blockSizes: new Float64Array(8000),
      read: (position, length) => bytes.slice(position, position + length),
    };
    for (const engine of [jsHotPaths, instantiateWasmHotPaths()]) {
      const err = expectCorruption(() => countTables(engine, [source]));
      expect(err.file, engine.name).toBe('tiny.sst');
    }
  });

  it('a chain of disjoint tables is one input: same tables as separate inputs, each opened and closed once', () => {
    // Level-like inputs: two chains of three tables each (disjoint within a chain), plus one table.
    const runs = [run(3000, 2, 0, 1), run(3000, 2, 1, 100_000)];
    const split = (r: EntryRun): EntryRun[] => [0, 1000, 2000].map((from) => ({
      data: r.data, offsets: r.offsets.subarray(2 * from, 2 * (from + 1000) + 1), count: 1000,
    }));
    const { readers } = tableInputs([...split(runs[0]!), ...split(runs[1]!), run(500, 7, 3, 200_000)]);
    const separate = countTablesBytes(jsHotPaths, readers.map((r) => r.blockSource()));
    for (const engine of [jsHotPaths, instantiateWasmHotPaths()]) {
      const log: string[] = [];
      const chain = (tables: TableReader[]): TableChain => ({
        kind: 'chain',
        length: tables.length,
        blockBytesMax: Math.max(...tables.map((t) => largestBlockBytes(t.blockSource()))),
        open: (i) => {
          log.push(`open ${tables[i]!.fileNumber}`);
          return tables[i]!.blockSource();
        },
        close: (i, entries) => {
          log.push(`close ${tables[i]!.fileNumber} ${entries}`);
        },
      });
      const chained = countTablesBytes(engine, [chain(readers.slice(0, 3)), chain(readers.slice(3, 6)), readers[6]!.blockSource()]);
      expect(chained, engine.name).toEqual(separate);
      // Each table opened once, in order, and closed with all its entries before the next opens.
      expect(log.filter((l) => / [123]( |$)/.test(l)), engine.name).toEqual(['open 1', 'close 1 1000', 'open 2', 'close 2 1000', 'open 3', 'close 3 1000']);
      expect(log.filter((l) => / [456]( |$)/.test(l)), engine.name).toEqual(['open 4', 'close 4 1000', 'open 5', 'close 5 1000', 'open 6', 'close 6 1000']);
    }
  });

  it('a key range merges exactly the entries of its user keys: the bytes of a merge over inputs cut to the range', () => {
    // Overwrites, tombstones and a snapshot: every version of a user key must stay in one piece.
    const key = (i: number): string => `k${String(i).padStart(6, '0')}`;
    const puts = runOfTuples(Array.from({ length: 3000 }, (_, i) => [key(i), 1 + i, KIND_PUT, `v${i}`.repeat(20)] as const));
    const deletes = runOfTuples(Array.from({ length: 1000 }, (_, i) => [key(3 * i), 5000 + i, KIND_DELETE, ''] as const));
    const rewrites = runOfTuples(Array.from({ length: 600 }, (_, i) => [key(5 * i), 7000 + i, KIND_PUT, `w${i}`] as const));
    const inputs = [puts, deletes, rewrites];
    const { readers } = tableInputs(inputs);
    const options: StreamOptions = { ...OPTIONS, targetFileSizeBytes: 16 * 1024, snapshots: [5500] };
    const inRange = (r: EntryRun, lower: Uint8Array | undefined, upper: Uint8Array | undefined): EntryRun => {
      const pairs: Array<readonly [Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < r.count; i++) {
        const ikey = r.data.slice(r.offsets[2 * i]!, r.offsets[2 * i + 1]!);
        const user = userKeyOf(ikey);
        if (lower !== undefined && compareBytes(user, lower) < 0) continue;
        if (upper !== undefined && compareBytes(user, upper) >= 0) continue;
        pairs.push([ikey, r.data.slice(r.offsets[2 * i + 1]!, r.offsets[2 * i + 2]!)]);
      }
      return packRun(pairs);
    };
    const bytesOfMerge = (engine: HotPaths, sources: StreamSource[], opts: StreamOptions): string => {
      const chunks: Uint8Array[] = [];
      engine.compactStreams(sources, opts, { write: (b) => { chunks.push(b.slice()); }, end: () => undefined });
      return Buffer.concat(chunks).toString('hex');
    };
    const cuts = [undefined, utf8(key(777)), utf8(`${key(1500)}x`), utf8(key(2999)), undefined];
    const wasm = instantiateWasmHotPaths();
    for (let p = 0; p + 1 < cuts.length; p++) {
      const [lower, upper] = [cuts[p], cuts[p + 1]];
      const expected = bytesOfMerge(jsHotPaths, inputs.map((r) => ({ kind: 'run', run: inRange(r, lower, upper) })), options);
      expect(expected.length, `piece ${p}`).toBeGreaterThan(0);
      for (const engine of [jsHotPaths, wasm]) {
        const ranged = { ...options, ...(lower && { lowerUserKey: lower }), ...(upper && { upperUserKey: upper }) };
        expect(bytesOfMerge(engine, readers.map((r) => r.blockSource()), ranged), `${engine.name} piece ${p}`).toEqual(expected);
      }
    }
  });

  it('wasm: memory bounded by the windows, not the inputs, and reused by the next job', () => {
    const wasm = instantiateWasmHotPaths() as WasmHotPaths;
    // Eight inputs of about 1.1 MB each, interleaved key ranges: every output block mixes them.
    const { readers } = tableInputs(Array.from({ length: 8 }, (_, i) => run(10_000, 8, i, 1 + i * 10_000)), PLAIN);
    let inputBytes = 0;
    for (const r of readers) inputBytes += r.fileSize;
    expect(inputBytes).toBeGreaterThan(8_000_000);
    const first = countTables(wasm, readers.map((r) => r.blockSource()), PLAIN);
    expect(first.tables).toBeGreaterThan(20);
    const after = wasm.memoryBytes;
    // 8 windows of 32 KiB, each with a 64 KiB buffer for a compressed block's raw contents and two
    // key buffers as large (a key may fill such a block), a 64 KiB output chunk, one 256 KiB
    // table's log and tail: under 3 MiB, against inputs of 8 MB (a materialising merge holds them
    // twice).
    expect(after).toBeLessThanOrEqual(3 << 20);
    const second = countTables(wasm, readers.map((r) => r.blockSource()), PLAIN);
    expect(second).toEqual(first);
    expect(wasm.memoryBytes).toBe(after);
    // The JS twin writes the same number of bytes.
    expect(countTables(jsHotPaths, readers.map((r) => r.blockSource()), PLAIN)).toEqual(first);
  });
});
