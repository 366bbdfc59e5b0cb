import { describe, expect, it } from 'vitest';
import type { BuiltTable, EntryRun, TableCutOptions } from '../../src/engine/types.js';
import { decodeBlock, encodeBlock } from '../../src/engine/js/block.js';
import { bloomBuild } from '../../src/engine/js/bloom.js';
import { crc32c, maskCrc } from '../../src/format/crc32c.js';
import { buildTables } from '../../src/engine/js/table-builder.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { instantiateWasmHotPaths } from '../../src/engine/wasm/index.js';
import {
  KIND_DELETE, KIND_PUT, makeInternalKey, trailerKind, trailerSequence } from '../../src/format/internal-key.js';
import { Random } from '../../src/sim/random.js';
import { compareRange, getFixed32, getVarint, utf8, type VarintRead } from '../../src/util/bytes.js';
import { sortedRun } from '../helpers/runs.js';

function randomRun(rng: Random, count: number, maxVersions: number): EntryRun {
  const kv: Array<[Uint8Array, Uint8Array]> = [];
  let seq = 1;
  for (let i = 0; i < count; ) {
    const user = utf8(`key${String(i * 3 + rng.int(3)).padStart(7, '0')}`);
    const versions = 1 + rng.int(maxVersions);
    for (let v = 0; v < versions && i < count; v++, i++) {
      const kind = rng.int(5) === 0 ? KIND_DELETE : KIND_PUT;
      const value = kind === KIND_DELETE ? new Uint8Array(0) : new Uint8Array(rng.int(60)).map(() => rng.int(256));
      kv.push([makeInternalKey(user, seq++, kind), value]);
    }
  }
  return sortedRun(kv);
}

const vr: VarintRead = { value: 0, pos: 0 };
function handleAt(buf: Uint8Array, pos: number, end: number): { offset: number; size: number; next: number } {
  const offset = getVarint(buf, pos, end, vr).value;
  const size = getVarint(buf, vr.pos, end, vr).value;
  return { offset, size, next: vr.pos };
}

/** Parses a table's footer and index by hand: data block handles and index keys. */
function parseTable(bytes: Uint8Array) {
  const footer = bytes.length - 56;
  expect([...bytes.subarray(footer + 48)]).toEqual([...utf8('lsmraft.')]);
  expect([1, 2]).toContain(getFixed32(bytes, footer + 40));
  expect(getFixed32(bytes, footer + 44)).toBe(maskCrc(crc32c(bytes.subarray(footer, footer + 44))));
  const meta = handleAt(bytes, footer, footer + 40);
  const index = handleAt(bytes, meta.next, footer + 40);
  const indexRun = decodeBlock(bytes.subarray(index.offset, index.offset + index.size + 5));
  const blocks: Array<{ offset: number; size: number; lastKey: Uint8Array }> = [];
  for (let i = 0; i < indexRun.count; i++) {
    const h = handleAt(indexRun.data, indexRun.offsets[2 * i + 1]!, indexRun.offsets[2 * i + 2]!);
    blocks.push({ ...h, lastKey: indexRun.data.slice(indexRun.offsets[2 * i]!, indexRun.offsets[2 * i + 1]!) });
  }
  return { blocks, meta, index, version: getFixed32(bytes, footer + 40) };
}

function keyAt(run: EntryRun, i: number): Uint8Array {
  return run.data.subarray(run.offsets[2 * i]!, run.offsets[2 * i + 1]!);
}

function sameUserKey(run: EntryRun, i: number, j: number): boolean {
  return compareRange(run.data, run.offsets[2 * i]!, run.offsets[2 * i + 1]! - 8, run.data, run.offsets[2 * j]!, run.offsets[2 * j + 1]! - 8) === 0;
}

const ONE_TABLE: TableCutOptions = { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30 };
const ONE_PLAIN_TABLE: TableCutOptions = { ...ONE_TABLE, blockCompression: 'none' };

describe('buildTables', () => {
  it('cuts data blocks by the size rule and writes each as encodeBlock does', () => {
    const seed = 7001;
    const run = randomRun(new Random(seed), 600, 3);
    const tables = buildTables(run, ONE_PLAIN_TABLE);
    expect(tables.length).toBe(1);
    const bytes = tables[0]!.bytes;
    const { blocks, version } = parseTable(bytes);
    expect(version).toBe(1);
    expect(blocks.length).toBeGreaterThan(5);
    let entry = 0;
    let expectOffset = 0;
    blocks.forEach((b, i) => {
      expect(b.offset, `seed ${seed}`).toBe(expectOffset);
      const block = bytes.subarray(b.offset, b.offset + b.size + 5);
      const n = decodeBlock(block).count;
      expect([...block]).toEqual([...encodeBlock(run, entry, entry + n, 4)]);
      expect([...b.lastKey]).toEqual([...keyAt(run, entry + n - 1)]);
      // Finished right after the entry that reached blockSizeBytes, not before.
      if (i < blocks.length - 1) expect(b.size).toBeGreaterThanOrEqual(256);
      if (n > 1) expect(encodeBlock(run, entry, entry + n - 1, 4).length - 5).toBeLessThan(256);
      entry += n;
      expectOffset += b.size + 5;
    });
    expect(entry).toBe(run.count);
  });

  it('stores a data block LZ4-compressed exactly when that saves 1/8, in a version-2 table', () => {
    const seed = 7005;
    const rng = new Random(seed);
    // Values half repetitive, half random: some blocks compress by 1/8, some do not.
    const kv: Array<[Uint8Array, Uint8Array]> = [];
    for (let i = 0; i < 400; i++) {
      const value = i % 40 < 20 ? utf8('v'.repeat(1 + (i % 30))) : Uint8Array.from({ length: 24 }, () => rng.int(256));
      kv.push([makeInternalKey(utf8(`key${String(i).padStart(5, '0')}`), 1 + i, KIND_PUT), value]);
    }
    const run = sortedRun(kv);
    const plain = buildTables(run, ONE_PLAIN_TABLE)[0]!.bytes;
    const packed = buildTables(run, ONE_TABLE)[0]!.bytes;
    const p = parseTable(plain);
    const c = parseTable(packed);
    expect(c.version).toBe(2);
    expect(c.blocks.length).toBe(p.blocks.length); // blocks are cut by their raw size
    let compressed = 0;
    c.blocks.forEach((b, i) => {
      const pb = p.blocks[i]!;
      const raw = plain.subarray(pb.offset, pb.offset + pb.size);
      const stored = packed.subarray(b.offset, b.offset + b.size + 5);
      expect([...decodeBlock(stored).data], `seed ${seed} block ${i}`).toEqual([...decodeBlock(plain.subarray(pb.offset, pb.offset + pb.size + 5)).data]);
      const lz4 = jsHotPaths.lz4Compress(raw);
      const sizeBytes = lz4 === undefined ? Infinity : lz4.length + (raw.length < 128 ? 1 : 2);
      if (stored[b.size] === 1) {
        compressed++;
        expect(sizeBytes).toBeLessThan(raw.length - Math.floor(raw.length / 8));
        expect([...stored.subarray(0, b.size)]).toEqual([...(raw.length < 128 ? [raw.length] : [(raw.length & 0x7f) | 0x80, raw.length >>> 7]), ...lz4!]);
      } else {
        expect(stored[b.size]).toBe(0);
        expect(sizeBytes).toBeGreaterThanOrEqual(raw.length - Math.floor(raw.length / 8));
        expect([...stored]).toEqual([...plain.subarray(pb.offset, pb.offset + pb.size + 5)]);
      }
    });
    expect(compressed).toBeGreaterThan(0);
    expect(compressed).toBeLessThan(c.blocks.length);
  });

  it('writes metadata and properties of what it wrote', () => {
    const run = randomRun(new Random(7002), 300, 4);
    const [t] = buildTables(run, ONE_TABLE) as [BuiltTable];
    let deletions = 0;
    let minSeq = Infinity;
    let maxSeq = 0;
    for (let i = 0; i < run.count; i++) {
      const end = run.offsets[2 * i + 1]!;
      if (trailerKind(run.data, end) === KIND_DELETE) deletions++;
      minSeq = Math.min(minSeq, trailerSequence(run.data, end));
      maxSeq = Math.max(maxSeq, trailerSequence(run.data, end));
    }
    expect(t.entryCount).toBe(run.count);
    expect(t.deletionCount).toBe(deletions);
    expect(deletions).toBeGreaterThan(0);
    expect(t.smallestSequence).toBe(minSeq);
    expect(t.largestSequence).toBe(maxSeq);
    expect([...t.smallestKey]).toEqual([...keyAt(run, 0)]);
    expect([...t.largestKey]).toEqual([...keyAt(run, run.count - 1)]);
    // The filter block follows the data blocks and holds bloomBuild's bytes for the whole run.
    const { blocks } = parseTable(t.bytes);
    const last = blocks[blocks.length - 1]!;
    const filterStart = last.offset + last.size + 5;
    const filter = bloomBuild(run, 10);
    expect([...t.bytes.subarray(filterStart, filterStart + filter.length)]).toEqual([...filter]);
    // Deterministic.
    expect([...buildTables(run, ONE_TABLE)[0]!.bytes]).toEqual([...t.bytes]);
  });

  it('cuts tables at user-key boundaries once the target size is reached', () => {
    const seed = 7003;
    const run = randomRun(new Random(seed), 3000, 5);
    const options: TableCutOptions = { blockSizeBytes: 512, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 8192 };
    const tables = buildTables(run, options);
    expect(tables.length, `seed ${seed}`).toBeGreaterThan(5);
    let entry = 0;
    tables.forEach((t, ti) => {
      const { blocks } = parseTable(t.bytes);
      const last = blocks[blocks.length - 1]!;
      const dataBytes = last.offset + last.size + 5;
      const first = entry;
      entry += t.entryCount;
      expect([...t.smallestKey]).toEqual([...keyAt(run, first)]);
      expect([...t.largestKey]).toEqual([...keyAt(run, entry - 1)]);
      if (ti > 0) expect(sameUserKey(run, first - 1, first), `seed ${seed} table ${ti}`).toBe(false);
      if (ti < tables.length - 1) {
        expect(dataBytes).toBeGreaterThanOrEqual(options.targetFileSizeBytes);
        // Not cut later than needed: without its last user key the table was below the target.
        let lastGroup = entry - 1;
        while (lastGroup > first && sameUserKey(run, lastGroup - 1, entry - 1)) lastGroup--;
        if (lastGroup > first) {
          const sub: EntryRun = { data: run.data, offsets: run.offsets.subarray(2 * first, 2 * lastGroup + 1), count: lastGroup - first };
          const [prefix] = buildTables(sub, { ...options, targetFileSizeBytes: 1 << 30 }) as [BuiltTable];
          const pb = parseTable(prefix.bytes).blocks;
          const pl = pb[pb.length - 1]!;
          expect(pl.offset + pl.size + 5 - 5).toBeLessThan(options.targetFileSizeBytes);
        }
      }
    });
    expect(entry).toBe(run.count);
  });

  it('builds nothing from an empty run and no filter at 0 bits per key', () => {
    expect(buildTables({ data: new Uint8Array(0), offsets: new Uint32Array(1), count: 0 }, ONE_TABLE)).toEqual([]);
    const run = randomRun(new Random(7004), 100, 2);
    const withFilter = buildTables(run, ONE_TABLE)[0]!.bytes;
    const without = buildTables(run, { ...ONE_TABLE, bloomBitsPerKey: 0 })[0]!.bytes;
    expect(withFilter.length - without.length).toBeGreaterThan(bloomBuild(run, 10).length);
    const { meta } = parseTable(without);
    const metaRun = decodeBlock(without.subarray(meta.offset, meta.offset + meta.size + 5).slice(), 'f', 0);
    expect(metaRun.count).toBe(1); // only lsmraft.properties
  });
});

describe('the incompressible-streak rule (block-compression.ts CompressionGate)', () => {
  /** 400 entries with random 200-byte values, then 600 with a repeated one; 4 KiB blocks. */
  function streakRun(): EntryRun {
    const rng = new Random(0x57ea4);
    const repeated = new Uint8Array(200).fill(0x61);
    return sortedRun(Array.from({ length: 1000 }, (_, i) => {
      const value = i < 400 ? Uint8Array.from({ length: 200 }, () => rng.int(256)) : repeated;
      return [makeInternalKey(utf8(`key${String(i).padStart(8, '0')}`), i + 1, KIND_PUT), value] as const;
    }));
  }
  const OPTIONS: TableCutOptions = { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30 };

  it('after 8 incompressible blocks tries every 16th only, until one compresses; both twins, both paths, the same bytes', () => {
    const run = streakRun();
    const wasm = instantiateWasmHotPaths();
    const [table] = jsHotPaths.buildTables(run, OPTIONS);
    const bytes = table!.bytes;
    const types = parseTable(bytes).blocks.map((b) => bytes[b.offset + b.size]!);
    // Random values fill about the first 21 blocks (19 entries each): blocks 0..7 are tried and
    // stay raw, 8..22 are not tried (raw, though 22 would compress), 23 is tried and compresses,
    // and from there every block is tried again.
    expect(types.length).toBeGreaterThan(40);
    expect(types.indexOf(1)).toBe(23);
    expect(types.slice(23).every((t) => t === 1)).toBe(true);
    const hex = Buffer.from(bytes).toString('hex');
    expect(Buffer.from(wasm.buildTables(run, OPTIONS)[0]!.bytes).toString('hex') === hex).toBe(true);
    for (const engine of [jsHotPaths, wasm]) {
      const chunks: Uint8Array[] = [];
      engine.compactStreams([{ kind: 'run', run }], {
        ...OPTIONS, snapshots: [], dropTombstones: false, readAheadBytes: 1 << 16, outputChunkBytes: 1 << 16,
      }, { write: (b) => { chunks.push(b.slice()); }, end: () => undefined });
      expect(Buffer.concat(chunks).toString('hex') === hex, engine.name).toBe(true);
    }
  });
});
