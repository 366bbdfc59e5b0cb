/**
 * The two hot-path twins (src/engine/js, src/engine/wasm) must write identical bytes for identical
 * input. Seeded property tests over random runs and options; every failure names its seed.
 * A small reference merge here (sort everything, then apply the stripe rules) checks the merge
 * rules themselves, so the twins cannot agree on a shared misreading unnoticed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { EntryRun, HotPaths, MergeOptions, StreamOptions, TableCutOptions, TableSummary } from '../../src/engine/types.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { type CachedBlock, TableReader } from '../../src/lsm/table-reader.js';
import { tableFileName, writeTableFiles } from '../../src/lsm/table-file.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { instantiateWasmHotPaths } from '../../src/engine/wasm/index.js';
import { crc32c as jsCrc, maskCrc } from '../../src/format/crc32c.js';
import { CorruptionError } from '../../src/errors.js';
import { makeInternalKey } from '../../src/format/internal-key.js';
import { compareBytes, putFixed32, putVarint } from '../../src/util/bytes.js';
import { hexEntriesOf, sortedRun } from '../helpers/runs.js';
import { Rng } from '../helpers/rng.js';
import { hex } from '../helpers/hex.js';
import { corruptionOutcome } from '../helpers/expect.js';

const wasm: HotPaths = instantiateWasmHotPaths();
const js: HotPaths = jsHotPaths;

interface Entry {
  user: Uint8Array;
  seq: number;
  kind: number;
  value: Uint8Array;
}

const SEQ_HIGH = 2 ** 45 - 1;

/**
 * Random entries: user keys with shared prefixes (including empty ones), several versions of some
 * keys, deletes with empty values, occasional big values, sequences unique and sometimes above 2^32.
 */
function randomEntries(rng: Rng, userKeys: number): Entry[] {
  const prefixes = [new Uint8Array(0), Uint8Array.of(0x61), Uint8Array.of(0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69), rng.bytes(20)];
  const seen = new Set<string>();
  const entries: Entry[] = [];
  const seqs = new Set<number>();
  const bigSeqs = rng.chance(0.3);
  const nextSeq = (): number => {
    for (let tries = 0; tries < 1000; tries++) {
      const s = bigSeqs && rng.chance(0.5) ? SEQ_HIGH - rng.int(1_000_000) : 1 + rng.int(100_000);
      if (!seqs.has(s)) {
        seqs.add(s);
        return s;
      }
    }
    throw new Error('no fresh sequence');
  };
  for (let u = 0; u < userKeys; u++) {
    const prefix = prefixes[rng.int(prefixes.length)]!;
    const suffix = rng.bytes(rng.chance(0.1) ? 0 : rng.chance(0.1) ? 64 + rng.int(100) : rng.int(24));
    const user = new Uint8Array(prefix.length + suffix.length);
    user.set(prefix);
    user.set(suffix, prefix.length);
    const id = Buffer.from(user).toString('hex');
    if (seen.has(id)) continue;
    seen.add(id);
    const versions = rng.chance(0.3) ? 1 + rng.int(5) : 1;
    for (let v = 0; v < versions; v++) {
      const kind = rng.chance(0.25) ? 0 : 1;
      const valueBytes = kind === 0 ? 0 : rng.chance(0.02) ? 5000 + rng.int(20_000) : rng.chance(0.2) ? 0 : rng.int(rng.chance(0.3) ? 300 : 60);
      // Half the values repeat a short pattern, so LZ4 blocks (docs/format/sstable.md) occur.
      const value = rng.chance(0.5) ? rng.bytes(valueBytes) : new Uint8Array(valueBytes).map((_, i) => 97 + (i % (1 + (valueBytes & 7))));
      entries.push({ user, seq: nextSeq(), kind, value });
    }
  }
  return entries;
}

function packRun(entries: readonly Entry[]): EntryRun {
  return sortedRun(entries.map((e) => [makeInternalKey(e.user, e.seq, e.kind), e.value] as const));
}

/** The same entries behind junk bytes: offsets that do not start at 0 (as a sub-run would have). */
function shifted(rng: Rng, run: EntryRun): EntryRun {
  if (!rng.chance(0.3)) return run;
  const junk = 1 + rng.int(13);
  const data = new Uint8Array(junk + run.data.length).fill(0xee);
  data.set(run.data, junk);
  return { data, offsets: run.offsets.map((o) => o + junk), count: run.count };
}


/** Reference merge: all entries sorted, then the stripe and tombstone rules of the format doc. */
function referenceMerge(entries: readonly Entry[], options: MergeOptions): Array<[string, string]> {
  const sorted = packRun(entries);
  const out: Array<{ key: Uint8Array; value: Uint8Array; kind: number; stripe: number }> = [];
  const flush = (group: typeof out): void => {
    const kept = group.filter((e, i) => i === 0 || e.stripe !== group[i - 1]!.stripe);
    if (options.dropTombstones) while (kept.length > 0 && kept[kept.length - 1]!.kind === 0) kept.pop();
    out.push(...kept);
  };
  let group: typeof out = [];
  let groupUser: Uint8Array | null = null;
  for (let i = 0; i < sorted.count; i++) {
    const key = sorted.data.subarray(sorted.offsets[2 * i]!, sorted.offsets[2 * i + 1]!);
    const value = sorted.data.subarray(sorted.offsets[2 * i + 1]!, sorted.offsets[2 * i + 2]!);
    const user = key.subarray(0, key.length - 8);
    const trailer = Buffer.from(key.buffer, key.byteOffset + key.length - 8, 8);
    const seq = trailer.readUInt32LE(4) * 0x100_0000 + (trailer.readUInt32LE(0) >>> 8);
    const snapIndex = options.snapshots.findIndex((s) => s >= seq);
    const stripe = snapIndex < 0 ? options.snapshots.length : snapIndex;
    if (groupUser === null || compareBytes(groupUser, user) !== 0) {
      flush(group);
      group = [];
      groupUser = user;
    }
    group.push({ key, value, kind: key[key.length - 8]!, stripe });
  }
  flush(group);
  return out.map((e) => [hex(e.key), hex(e.value)]);
}

/** Runs `body` for seeds base..base+count-1, naming the seed of a failure. */
function forSeeds(base: number, count: number, body: (rng: Rng, seed: number) => void): void {
  for (let seed = base; seed < base + count; seed++) {
    try {
      body(new Rng(seed), seed);
    } catch (err) {
      throw new Error(`failed with seed ${seed}: ${(err as Error).message}`, { cause: err });
    }
  }
}

describe('twins: js and wasm hot paths agree', () => {
  it('crc32c: check value and random data, continued across calls', () => {
    const check = new TextEncoder().encode('123456789');
    expect(wasm.crc32c(check)).toBe(0xe3069283);
    forSeeds(100, 50, (rng) => {
      const data = rng.bytes(rng.int(5000));
      const cut = rng.int(data.length + 1);
      expect(wasm.crc32c(data)).toBe(js.crc32c(data));
      expect(wasm.crc32c(data.subarray(cut), wasm.crc32c(data.subarray(0, cut)))).toBe(js.crc32c(data));
    });
  });

  it('encodeBlock: same bytes; each decodes the other\'s block back to the entries', () => {
    forSeeds(1000, 60, (rng) => {
      const run = shifted(rng, packRun(randomEntries(rng, 1 + rng.int(300))));
      const start = rng.int(run.count);
      const end = start + 1 + rng.int(run.count - start);
      const interval = rng.chance(0.2) ? 1 : 1 + rng.int(32);
      const a = wasm.encodeBlock(run, start, end, interval);
      const b = js.encodeBlock(run, start, end, interval);
      expect(hex(a)).toBe(hex(b));
      const expected = hexEntriesOf(run).slice(start, end);
      expect(hexEntriesOf(wasm.decodeBlock(b))).toEqual(expected);
      expect(hexEntriesOf(js.decodeBlock(a))).toEqual(expected);
    });
  });

  it('bloomBuild: same filter bytes; bloomMayContain agrees and never misses a present key', () => {
    forSeeds(2000, 40, (rng) => {
      const entries = randomEntries(rng, rng.int(400));
      const run = shifted(rng, packRun(entries));
      const bitsPerKey = rng.int(20);
      const a = wasm.bloomBuild(run, bitsPerKey);
      expect(hex(a)).toBe(hex(js.bloomBuild(run, bitsPerKey)));
      for (const e of entries.slice(0, 100)) expect(wasm.bloomMayContain(a, e.user)).toBe(true);
      for (let i = 0; i < 200; i++) {
        const probe = rng.bytes(rng.int(30));
        expect(wasm.bloomMayContain(a, probe)).toBe(js.bloomMayContain(a, probe));
      }
    });
    // Short filters and unknown encodings (variant byte, k, bit array under 8 bytes) match everything in both.
    const unknown = [
      new Uint8Array(0), Uint8Array.of(7), Uint8Array.of(0, 0, 0, 31), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 7),
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 2, 0), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 2, 31), Uint8Array.of(0, 0, 0, 2, 7),
    ];
    for (const f of unknown) {
      expect(wasm.bloomMayContain(f, Uint8Array.of(1))).toBe(true);
      expect(js.bloomMayContain(f, Uint8Array.of(1))).toBe(true);
    }
  });

  it('buildTables: same tables, same metadata, for random options', () => {
    forSeeds(3000, 40, (rng) => {
      const run = shifted(rng, packRun(randomEntries(rng, rng.int(600))));
      const options: TableCutOptions = {
        blockSizeBytes: rng.chance(0.3) ? 1 + rng.int(64) : 64 + rng.int(8192),
        restartInterval: 1 + rng.int(24),
        bloomBitsPerKey: rng.chance(0.2) ? 0 : 1 + rng.int(16),
        targetFileSizeBytes: rng.chance(0.3) ? 1 + rng.int(512) : 512 + rng.int(64 * 1024),
        blockCompression: rng.chance(0.3) ? 'none' : 'lz4',
      };
      const a = wasm.buildTables(run, options);
      const b = js.buildTables(run, options);
      expect(a.length).toBe(b.length);
      for (let t = 0; t < a.length; t++) {
        const x = a[t]!;
        const y = b[t]!;
        expect(hex(x.bytes)).toBe(hex(y.bytes));
        expect({ ...x, bytes: null, smallestKey: hex(x.smallestKey), largestKey: hex(x.largestKey) })
          .toEqual({ ...y, bytes: null, smallestKey: hex(y.smallestKey), largestKey: hex(y.largestKey) });
      }
      expect(a.reduce((n, t) => n + t.entryCount, 0)).toBe(run.count);
    });
  });

  it('mergeRuns: same output as each other and as the reference merge', () => {
    forSeeds(4000, 60, (rng) => {
      const entries = randomEntries(rng, rng.int(300));
      const k = rng.chance(0.2) ? 7 + rng.int(14) : rng.int(7);
      const parts: Entry[][] = Array.from({ length: k }, () => []);
      if (k > 0) for (const e of entries) parts[rng.int(k)]!.push(e);
      const runs = parts.map((part) => shifted(rng, packRun(part)));
      const allSeqs = entries.map((e) => e.seq).sort((x, y) => x - y);
      const snapshots = [...new Set(Array.from({ length: rng.int(5) }, () =>
        rng.chance(0.5) && allSeqs.length > 0 ? allSeqs[rng.int(allSeqs.length)]! : rng.int(120_000)))].sort((x, y) => x - y);
      const options: MergeOptions = { snapshots, dropTombstones: rng.chance(0.5) };
      const a = wasm.mergeRuns(runs, options);
      const b = js.mergeRuns(runs, options);
      const expected = referenceMerge(k > 0 ? entries : [], options);
      expect(hexEntriesOf(a)).toEqual(expected);
      expect(hexEntriesOf(b)).toEqual(expected);
      expect(a.offsets[0]).toBe(0);
      expect(a.offsets.length).toBe(2 * a.count + 1);
    });
  });

  it('compactStreams: same tables from both twins as buildTables(mergeRuns(...)) over table inputs', () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp('/t');
    const noCache = new BlockCache<CachedBlock>(0);
    let compressedInputBlocks = 0;
    let nextNumber = 1;
    forSeeds(6000, 40, (rng) => {
      const entries = randomEntries(rng, rng.int(400));
      const k = 1 + rng.int(rng.chance(0.2) ? 12 : 5);
      const parts: Entry[][] = Array.from({ length: k }, () => []);
      for (const e of entries) parts[rng.int(k)]!.push(e);
      const table: TableCutOptions = {
        blockSizeBytes: rng.chance(0.3) ? 1 + rng.int(64) : 64 + rng.int(4096),
        restartInterval: 1 + rng.int(24),
        bloomBitsPerKey: rng.chance(0.2) ? 0 : 1 + rng.int(16),
        targetFileSizeBytes: rng.chance(0.3) ? 1 + rng.int(512) : 512 + rng.int(32 * 1024),
        blockCompression: rng.chance(0.3) ? 'none' : 'lz4',
      };
      const allSeqs = entries.map((e) => e.seq).sort((x, y) => x - y);
      const snapshots = [...new Set(Array.from({ length: rng.int(4) }, () =>
        rng.chance(0.5) && allSeqs.length > 0 ? allSeqs[rng.int(allSeqs.length)]! : rng.int(120_000)))].sort((x, y) => x - y);
      const merge: MergeOptions = { snapshots, dropTombstones: rng.chance(0.5) };
      // Inputs: each part as one table file (an empty part is no table), read back as block sources.
      const runs: EntryRun[] = [];
      const readers: TableReader[] = [];
      for (const part of parts) {
        if (part.length === 0) continue;
        const run = packRun(part);
        runs.push(run);
        const [built] = js.buildTables(run, { ...table, targetFileSizeBytes: 1 << 30 });
        const number = nextNumber++;
        writeTableFiles(fs, '/t', [built!], [number]);
        readers.push(TableReader.open(fs, `/t/${tableFileName(number)}`, number, js, noCache, false));
        const source = readers[readers.length - 1]!.blockSource();
        for (let i = 0; i < source.blockOffsets.length; i++) {
          if (source.read(source.blockOffsets[i]! + source.blockSizes[i]!, 1)[0] === 1) compressedInputBlocks++;
        }
      }
      const expected = js.buildTables(js.mergeRuns(runs, merge), table);
      const options: StreamOptions = {
        ...table, ...merge, readAheadBytes: 1 + rng.int(rng.chance(0.5) ? 300 : 20_000), outputChunkBytes: 1 + rng.int(5000),
      };
      for (const engine of [js, wasm]) {
        const tables: Array<{ bytes: string; summary: TableSummary }> = [];
        let chunks: Uint8Array[] = [];
        const result = engine.compactStreams(readers.map((r) => r.blockSource()), options, {
          write: (bytes) => chunks.push(bytes.slice()),
          end: (summary) => {
            tables.push({ bytes: hex(Buffer.concat(chunks)), summary });
            chunks = [];
          },
        });
        expect(tables.map((t) => t.bytes), engine.name).toEqual(expected.map((t) => hex(t.bytes)));
        expect(tables.map(({ summary: { fileBytes, ...rest } }) => ({ ...rest, smallestKey: hex(rest.smallestKey), largestKey: hex(rest.largestKey), fileBytes })))
          .toEqual(expected.map(({ bytes, ...rest }) => ({ ...rest, smallestKey: hex(rest.smallestKey), largestKey: hex(rest.largestKey), fileBytes: bytes.length })));
        expect(result.inputEntries).toEqual(runs.map((r) => r.count));
        expect(result.outputEntries).toBe(expected.reduce((n, t) => n + t.entryCount, 0));
      }
      // A flush's input: one memtable run, streamed the same way.
      if (runs.length > 0) {
        const flushed = js.buildTables(js.mergeRuns([runs[0]!], merge), table);
        for (const engine of [js, wasm]) {
          const bytes: Uint8Array[] = [];
          engine.compactStreams([{ kind: 'run', run: runs[0]! }], options, { write: (b) => bytes.push(b.slice()), end: () => undefined });
          expect(hex(Buffer.concat(bytes)), engine.name).toBe(hex(Buffer.concat(flushed.map((t) => t.bytes))));
        }
      }
      for (const r of readers) r.close();
    });
    expect(compressedInputBlocks).toBeGreaterThan(20); // LZ4 inputs were read, not only written
  });

  it('decodeBlock: both reject the same crafted blocks (valid checksum, random contents)', () => {
    forSeeds(5000, 3000, (rng) => {
      // Small random contents, biased toward plausible layouts: a restart count of 1..3 at the end.
      const body = rng.bytes(rng.int(40));
      const restarts = rng.chance(0.8) ? 1 + rng.int(3) : rng.int(0x1_0000_0000);
      const contents = new Uint8Array(body.length + (restarts <= 3 ? 4 * restarts : 0) + 4);
      contents.set(body);
      let pos = body.length;
      if (restarts <= 3) for (let r = 0; r < restarts; r++) pos = putFixed32(contents, pos, r === 0 ? 0 : rng.int(body.length + 1));
      putFixed32(contents, pos, restarts);
      const block = new Uint8Array(contents.length + 5);
      block.set(contents);
      block[contents.length] = rng.chance(0.05) ? 1 : 0;
      putFixed32(block, contents.length + 1, maskCrc(jsCrc(block.subarray(0, contents.length + 1))));
      const outcome = (engine: HotPaths): string => {
        try {
          return JSON.stringify(hexEntriesOf(engine.decodeBlock(block, 'f.sst', 100)));
        } catch (err) {
          expect(err).toBeInstanceOf(CorruptionError);
          expect((err as CorruptionError).code).toBe('LSM_ERR_CORRUPTION');
          return 'corrupt';
        }
      };
      expect(outcome(wasm)).toBe(outcome(js));
    });
  });

  it('decodeBlock: LZ4 blocks decode alike; corrupt ones (valid checksum) fail alike, at the same offset', () => {
    let rejected = 0;
    forSeeds(9000, 400, (rng) => {
      const run = packRun(randomEntries(rng, 1 + rng.int(60)));
      const plain = js.encodeBlock(run, 0, run.count, 1 + rng.int(16));
      const raw = plain.subarray(0, plain.length - 5);
      const lz4 = js.lz4Compress(raw)!;
      const contents = new Uint8Array(5 + lz4.length);
      const at = putVarint(contents, 0, rng.chance(0.05) ? rng.int(2 * raw.length) : rng.chance(0.02) ? 65537 : raw.length);
      contents.set(lz4, at);
      const body = contents.slice(0, at + lz4.length);
      const corrupt = rng.chance(0.7);
      if (corrupt) for (let i = 0; i < 1 + rng.int(3); i++) body[rng.int(body.length)] = rng.int(256);
      const block = new Uint8Array(body.length + 5);
      block.set(body);
      block[body.length] = 1;
      putFixed32(block, body.length + 1, maskCrc(jsCrc(block.subarray(0, body.length + 1))));
      const outcome = (engine: HotPaths): string =>
        corruptionOutcome(() => JSON.stringify(hexEntriesOf(engine.decodeBlock(block, 'f.sst', 100))));
      const a = outcome(js);
      expect(outcome(wasm)).toBe(a);
      if (a.startsWith('corrupt')) rejected++;
      else if (!corrupt) expect(a).toBe(JSON.stringify(hexEntriesOf(run)));
    });
    expect(rejected).toBeGreaterThan(50); // a changed literal often still decodes
  });

  it('reproduces the golden SSTables of test/golden from their pinned input', () => {
    // test/golden/table-input.txt: one entry a line, `userKeyHex sequence kind valueHex`; the
    // options are the ones test/engine/golden.test.ts pins for each file.
    const golden = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../golden/${name}`, import.meta.url)));
    const lines = new TextDecoder().decode(golden('table-input.txt')).split('\n').filter((l) => l !== '');
    const entries: Entry[] = lines.map((line) => {
      const [user, seq, kind, value] = line.split(' ');
      return { user: Buffer.from(user!, 'hex'), seq: Number(seq), kind: Number(kind), value: Buffer.from(value ?? '', 'hex') };
    });
    expect(entries.length).toBeGreaterThan(40);
    const run = packRun(entries);
    const cases: Array<[string, TableCutOptions]> = [
      ['table-v1.sst', { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30, blockCompression: 'none' }],
      ['table-v1-nofilter.sst', { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 0, targetFileSizeBytes: 1 << 30, blockCompression: 'none' }],
  ['table-v2.sst', { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30, blockCompression: 'lz4' }],
    ];
    for (const [name, options] of cases) {
      const tables = wasm.buildTables(run, options);
      expect(tables.length, name).toBe(1);
      expect(hex(tables[0]!.bytes), name).toBe(hex(golden(name)));
    }
  });
});
