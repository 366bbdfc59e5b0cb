/**
 * The WASM twin on its own: documented bytes, the guarded door (corrupt blocks become
 * CorruptionError, never a trap; memory growth; the instance stays usable after an error), and
 * inputs big enough to grow memory several times. Agreement with the JS twin is twins.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HotPaths } from '../../src/engine/types.js';
import { instantiateWasmHotPaths, loadWasmHotPaths } from '../../src/engine/wasm/index.js';
import { webAssembly, type WasmMemory } from '../../src/engine/wasm/webassembly.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { murmur3x86_32 } from '../../src/engine/js/bloom.js';
import { crc32c as jsCrc, maskCrc } from '../../src/format/crc32c.js';
import { CorruptionError } from '../../src/errors.js';
import { makeInternalKey } from '../../src/format/internal-key.js';
import { getFixed32, utf8 } from '../../src/util/bytes.js';
import { expectCorruption } from '../helpers/expect.js';
import { hexEntriesOf, runOfTuples, withBlockTrailer, type EntryTuple } from '../helpers/runs.js';

const wasm: HotPaths = instantiateWasmHotPaths();

describe('wasm hot paths', () => {
  it('loads asynchronously as the engine named wasm', async () => {
    const engine = await loadWasmHotPaths();
    expect(engine.name).toBe('wasm');
    expect(engine.crc32c(utf8('123456789'))).toBe(0xe3069283);
  });

  it('bloomHash export is MurmurHash3 x86_32 with seed 0xbc9f1d34 (same as the JS twin)', () => {
    const module = new webAssembly.Module(new Uint8Array(readFileSync(new URL('../../build/lsmraft.wasm', import.meta.url))));
    const raw = new webAssembly.Instance(module, {}).exports as {
      memory: WasmMemory; arenaBase(): number; bloomHash(ptr: number, len: number): number;
    };
    const base = raw.arenaBase();
    const inputs = [[], [0x62], [0xc3, 0x97], [0xe2, 0x99, 0xa5], [0xe1, 0x80, 0xb9, 0x32], [...utf8('Hello, world!')]];
    const vectors: Array<[number[], number]> = inputs.map((b) => [b, murmur3x86_32(Uint8Array.from(b), 0, b.length, 0xbc9f1d34)]);
    expect(vectors[0]![1]).toBe(0x3f177186); // pinned: an empty key with the filter's seed
    for (const [bytes, expected] of vectors) {
      new Uint8Array(raw.memory.buffer).set(bytes, base);
      expect(raw.bloomHash(base, bytes.length) >>> 0).toBe(expected);
    }
  });

  it('crc32c matches the RFC 3720 vectors and crosses its 1 MiB copy pieces', () => {
    expect(wasm.crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(wasm.crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(wasm.crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(wasm.crc32c(new Uint8Array(0), 0x1234)).toBe(0x1234);
    const big = Uint8Array.from({ length: 3 * (1 << 20) + 13 }, (_, i) => (i * 2654435761) >>> 24);
    expect(wasm.crc32c(big)).toBe(jsCrc(big));
  });

  it('writes the documented bytes for a two-entry block', () => {
    const run = runOfTuples([['a', 1, 1, 'x'], ['ab', 2, 1, '']]);
    const contents = [
      0, 9, 1, 0x61, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0x78, // "a"@1 put -> "x"
      1, 9, 0, 0x62, 0x01, 0x02, 0, 0, 0, 0, 0, 0, // shares "a"; "b"@2 put -> ""
      0, 0, 0, 0, // restart at 0
      1, 0, 0, 0, // one restart
    ];
    expect([...wasm.encodeBlock(run, 0, 2, 16)]).toEqual([...withBlockTrailer(contents)]);
    expect(hexEntriesOf(wasm.decodeBlock(withBlockTrailer(contents)))).toEqual(hexEntriesOf(run));
  });

  it('encodes a sub-range of a run whose offsets do not start at 0', () => {
    const run = runOfTuples(Array.from({ length: 50 }, (_, i): EntryTuple => [`k${String(i).padStart(3, '0')}`, 100 - i, 1, `v${i}`]));
    const block = wasm.encodeBlock(run, 20, 30, 4);
    expect(hexEntriesOf(wasm.decodeBlock(block))).toEqual(hexEntriesOf(run).slice(20, 30));
    const numRestarts = getFixed32(block, block.length - 9);
    expect(numRestarts).toBe(3);
  });

  it('detects every single-byte corruption and every truncation, naming file and block offset', () => {
    const run = runOfTuples([['apple', 3, 1, 'red'], ['apple', 2, 0, ''], ['banana', 1, 1, 'yellow']]);
    const good = wasm.encodeBlock(run, 0, 3, 2);
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice();
      bad[i]! ^= 0x20;
      const err = expectCorruption(() => wasm.decodeBlock(bad, '000007.sst', 4096));
      expect(err.file).toBe('000007.sst');
      expect(err.offset).toBe(4096);
    }
    for (let n = 0; n < good.length; n++) expectCorruption(() => wasm.decodeBlock(good.subarray(0, n), 'f', 0));
    // The instance is not left busy or broken by the errors.
    expect(hexEntriesOf(wasm.decodeBlock(good))).toEqual(hexEntriesOf(run));
  });

  it('rejects bad layouts behind a valid checksum, at the offset of the fault', () => {
    const key = [0x61, 1, 1, 0, 0, 0, 0, 0, 0];
    const b = [0x62, 1, 1, 0, 0, 0, 0, 0, 0];
    const cases: Array<[string, number[], number | undefined]> = [
      ['restart count larger than the block', [0, 9, 0, ...key, 0, 0, 0, 0, 9, 0, 0, 0], 100 + 16],
      ['zero restarts', [0, 9, 0, ...key, 0, 0, 0, 0], 100 + 12],
      ['value past the restart array', [0, 9, 50, ...key, 0, 0, 0, 0, 1, 0, 0, 0], 100],
      ['shares more than the previous key', [0, 9, 0, ...key, 10, 1, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0], 112],
      ['restart inside an entry', [0, 9, 0, ...key, 0, 9, 0, 0x62, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0], undefined],
      ['keys out of order', [0, 9, 0, ...b, 0, 9, 0, ...key, 0, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0], 112],
      ['key shorter than its trailer', [0, 3, 0, 1, 2, 3, 0, 0, 0, 0, 1, 0, 0, 0], 100],
      ['no entries', [0, 0, 0, 0, 1, 0, 0, 0], undefined],
      ['contents shorter than the restart count', [1, 0], 100],
      ['varint running into the restart array', [0x80, 0x80, 0x80, 0, 0, 0, 0, 1, 0, 0, 0], 100],
      ['restart entry with a shared prefix', [0, 9, 0, ...key, 1, 9, 0, ...b, 0, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0], 112],
    ];
    for (const [what, contents, offset] of cases) {
      const err = expectCorruption(() => wasm.decodeBlock(withBlockTrailer(contents), '000009.sst', 100));
      expect(err.file, what).toBe('000009.sst');
      if (offset !== undefined) expect(err.offset, what).toBe(offset);
    }
    const typed = withBlockTrailer([0, 9, 0, ...key, 0, 0, 0, 0, 1, 0, 0, 0], 2);
    expect(expectCorruption(() => wasm.decodeBlock(typed, 'f', 0)).offset).toBe(20);
  });

  it('never traps on random garbage with a valid checksum', () => {
    const seed = 0xb10c;
    let s = seed;
    const next = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16;
    for (let i = 0; i < 5000; i++) {
      const contents = Array.from({ length: next() % 64 }, () => next() & 0xff);
      if (contents.length >= 4 && next() % 2 === 0) contents.splice(contents.length - 4, 4, 1 + (next() % 3), 0, 0, 0);
      try {
        const run = wasm.decodeBlock(withBlockTrailer(contents), 'g', 0);
        expect(run.count, `seed ${seed} case ${i}`).toBeGreaterThan(0);
      } catch (err) {
        expect(err, `seed ${seed} case ${i}`).toBeInstanceOf(CorruptionError);
      }
    }
  });

  it('grows memory for big inputs and stays correct for small ones afterwards', () => {
    const value = new Uint8Array(256 * 1024).map((_, i) => (i * 7) & 0xff);
    const entries: EntryTuple[] = Array.from({ length: 40 }, (_, i): EntryTuple => [`big${String(i).padStart(3, '0')}`, 1000 + i, 1, value]);
    const run = runOfTuples(entries); // 10 MiB of values
    const tables = wasm.buildTables(run, { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 4 << 20 });
    const jsTables = jsHotPaths.buildTables(run, { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 4 << 20 });
    expect(tables.length).toBe(jsTables.length);
    expect(tables.length).toBeGreaterThan(2);
    for (let t = 0; t < tables.length; t++) expect(Buffer.compare(tables[t]!.bytes, jsTables[t]!.bytes)).toBe(0);
    const block = wasm.encodeBlock(run, 0, run.count, 16);
    expect(hexEntriesOf(wasm.decodeBlock(block))).toEqual(hexEntriesOf(run));
    const merged = wasm.mergeRuns([run, run], { snapshots: [], dropTombstones: false });
    expect(merged.count).toBe(run.count);
    const small = runOfTuples([['a', 1, 1, 'x']]);
    expect(hexEntriesOf(wasm.decodeBlock(wasm.encodeBlock(small, 0, 1, 16)))).toEqual(hexEntriesOf(small));
  });

  it('writes a footer with version, checksum and magic, and table metadata', () => {
    const run = runOfTuples([['a', 5, 1, 'x'], ['a', 4, 0, ''], ['b', 2 ** 40, 1, 'y']]);
    const [table, ...rest] = wasm.buildTables(run, { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 20 });
    expect(rest).toEqual([]);
    const bytes = table!.bytes;
    const footer = bytes.subarray(bytes.length - 56);
    expect(getFixed32(footer, 40)).toBe(2); // compressed data blocks by default
    expect(getFixed32(footer, 44)).toBe(maskCrc(jsCrc(footer.subarray(0, 44))));
    const [plain] = wasm.buildTables(run, { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 20, blockCompression: 'none' });
    expect(getFixed32(plain!.bytes, plain!.bytes.length - 16)).toBe(1);
    expect(Buffer.from(footer.subarray(48)).toString('latin1')).toBe('lsmraft.');
    expect(table!.entryCount).toBe(3);
    expect(table!.deletionCount).toBe(1);
    expect(table!.smallestSequence).toBe(4);
    expect(table!.largestSequence).toBe(2 ** 40);
    expect(Buffer.from(table!.smallestKey)).toEqual(Buffer.from(makeInternalKey(utf8('a'), 5, 1)));
    expect(Buffer.from(table!.largestKey)).toEqual(Buffer.from(makeInternalKey(utf8('b'), 2 ** 40, 1)));
    expect(wasm.buildTables(runOfTuples([]), { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 1 })).toEqual([]);
  });

  it('merges zero runs, empty runs, and keeps one entry per stripe', () => {
    expect(wasm.mergeRuns([], { snapshots: [], dropTombstones: true }).count).toBe(0);
    const empty = runOfTuples([]);
    expect(wasm.mergeRuns([empty, empty], { snapshots: [3], dropTombstones: false }).count).toBe(0);
    const newer = runOfTuples([['k', 9, 1, 'v9'], ['k', 7, 0, '']]);
    const older = runOfTuples([['k', 5, 1, 'v5'], ['k', 2, 1, 'v2'], ['z', 1, 0, '']]);
    // Snapshots 3 and 7: stripes (.., 3] [4, 7] (7, ..): kept 9, 7 (delete), 2; z's delete alone.
    const kept = wasm.mergeRuns([older, newer], { snapshots: [3, 7], dropTombstones: false });
    expect(hexEntriesOf(kept)).toEqual(hexEntriesOf(runOfTuples([['k', 9, 1, 'v9'], ['k', 7, 0, ''], ['k', 2, 1, 'v2'], ['z', 1, 0, '']])));
    // Bottom level with no snapshots: the newest of k is a put; z's lone delete goes.
    const bottom = wasm.mergeRuns([older, newer], { snapshots: [], dropTombstones: true });
    expect(hexEntriesOf(bottom)).toEqual(hexEntriesOf(runOfTuples([['k', 9, 1, 'v9']])));
    // Bottom level, snapshot 8: stripes (.., 8] and (8, ..): k@9 kept, k@7 (delete) is the oldest kept: dropped.
    const snap = wasm.mergeRuns([newer, older], { snapshots: [8], dropTombstones: true });
    expect(hexEntriesOf(snap)).toEqual(hexEntriesOf(runOfTuples([['k', 9, 1, 'v9']])));
  });
});
