/**
 * Golden SSTables: the exact bytes of docs/format/sstable.md version 1, pinned. The input comes from
 * a fixed seeded generator and is itself pinned as text (test/golden/table-input.txt: one entry a
 * line, `userKeyHex sequence kind valueHex`), so the other twin and other implementations can read
 * it. A failure here means the file format changed: bump the version, or fix the regression.
 * LSMRAFT_REWRITE_GOLDEN=1 rewrites the files (then review the diff).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { EntryRun, TableCutOptions } from '../../src/engine/types.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { loadEngine } from '../../src/engine/index.js';
import { KIND_DELETE, KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { Random } from '../../src/sim/random.js';
import { utf8 } from '../../src/util/bytes.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { type CachedBlock, TableReader } from '../../src/lsm/table-reader.js';
import { sortedRun } from '../helpers/runs.js';
import { hex } from '../helpers/hex.js';

const REWRITE = process.env.LSMRAFT_REWRITE_GOLDEN === '1';
const goldenPath = (name: string): string => fileURLToPath(new URL(`../golden/${name}`, import.meta.url));

interface GoldenEntry {
  user: Uint8Array;
  seq: number;
  kind: number;
  value: Uint8Array;
}

/** 60 entries over 40 user keys, some with several versions, about one in six a delete. */
function generate(): GoldenEntry[] {
  const rng = new Random(20261126);
  const out: GoldenEntry[] = [];
  let seq = 100;
  for (let u = 0; u < 40; u++) {
    const user = utf8(`${['apple', 'apricot', 'banana', 'cherry'][u % 4]}/${String(u).padStart(3, '0')}`);
    const versions = u % 5 === 0 ? 1 + rng.int(3) : 1;
    for (let v = 0; v < versions; v++) {
      const kind = rng.int(6) === 0 ? KIND_DELETE : KIND_PUT;
      const value = kind === KIND_DELETE ? new Uint8Array(0) : utf8(`value-${u}-${v}-${'z'.repeat(rng.int(12))}`);
      out.push({ user, seq: seq++, kind, value });
    }
  }
  return out;
}

function toText(entries: GoldenEntry[]): string {
  return entries.map((e) => `${hex(e.user)} ${e.seq} ${e.kind} ${hex(e.value)}\n`).join('');
}

function runOf(entries: GoldenEntry[]): EntryRun {
  return sortedRun(entries.map((e) => [makeInternalKey(e.user, e.seq, e.kind), e.value] as const));
}

function checkGolden(name: string, actual: Uint8Array | string): void {
  const path = goldenPath(name);
  if (REWRITE) writeFileSync(path, actual);
  const expected = readFileSync(path);
  const got = typeof actual === 'string' ? Buffer.from(actual) : Buffer.from(actual);
  if (!got.equals(expected)) {
    let first = 0;
    while (first < got.length && first < expected.length && got[first] === expected[first]) first++;
    throw new Error(
      `golden ${name} differs at byte ${first} (got ${got.length} bytes, expected ${expected.length}). ` +
      'The SSTable format changed: bump its version or fix the regression; LSMRAFT_REWRITE_GOLDEN=1 rewrites.');
  }
}

const CASES: Array<[string, TableCutOptions]> = [
  ['table-v1.sst', { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30, blockCompression: 'none' }],
  ['table-v1-nofilter.sst', { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 0, targetFileSizeBytes: 1 << 30, blockCompression: 'none' }],
  ['table-v2.sst', { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30, blockCompression: 'lz4' }],
];

describe('golden SSTables (format v1; v2 with LZ4 data blocks)', () => {
  const entries = generate();

  it('pins the generated input', () => {
    expect(entries.filter((e) => e.kind === KIND_DELETE).length).toBeGreaterThan(0);
    checkGolden('table-input.txt', toText(entries));
  });

  for (const [name, options] of CASES) {
    it(`${name} matches byte for byte`, () => {
      const tables = jsHotPaths.buildTables(runOf(entries), options);
      expect(tables.length).toBe(1);
      const table = tables[0]!;
      expect(table.deletionCount).toBeGreaterThan(0);
      checkGolden(name, table.bytes);
    });

    it(`${name}: the wasm twin writes the same bytes`, async () => {
      const wasm = await loadEngine('wasm');
      const tables = wasm.buildTables(runOf(entries), options);
      expect(tables.length).toBe(1);
      const table = tables[0]!;
      expect(table.deletionCount).toBeGreaterThan(0);
      if (!REWRITE) checkGolden(name, table.bytes);
    });
  }

  it('reads back as the input from the golden bytes', () => {
    const expected = runOf(entries);
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/g');
    for (const [name, options] of CASES) {
      const file = fs.create(`/g/${name}`);
      file.append(new Uint8Array(readFileSync(goldenPath(name))));
      file.close();
      const reader = TableReader.open(fs, `/g/${name}`, 1, jsHotPaths, new BlockCache<CachedBlock>(0));
      expect(reader.properties.dataBlocks).toBeGreaterThanOrEqual(2);
      expect(reader.properties.filterBitsPerKey).toBe(options.bloomBitsPerKey);
      // Version 2 holds LZ4 data blocks (here all compress by 1/8); version 1 only uncompressed ones.
      const bytes = readFileSync(goldenPath(name));
      const types = Array.from({ length: reader.dataBlockCount }, (_, b) => {
        const source = reader.blockSource();
        return bytes[source.blockOffsets[b]! + source.blockSizes[b]!];
      });
      expect(bytes.readUInt32LE(bytes.length - 16), name).toBe(options.blockCompression === 'lz4' ? 2 : 1);
      expect(new Set(types), name).toEqual(new Set([options.blockCompression === 'lz4' ? 1 : 0]));
      const all = reader.readAll();
      expect(hex(all.data.subarray(0, all.offsets[2 * all.count]!))).toBe(hex(expected.data));
      expect([...all.offsets]).toEqual([...expected.offsets]);
      reader.close();
    }
  });
});
