import { describe, expect, it } from 'vitest';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { loadWasmHotPaths } from '../../src/engine/wasm/index.js';
import { CorruptionError } from '../../src/errors.js';
import { KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import type { FileSystem, RandomAccessFile } from '../../src/lsm/fs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { READAHEAD_BYTES_MAX, READAHEAD_BYTES_MIN, Readahead } from '../../src/lsm/readahead.js';
import { tableFileName } from '../../src/lsm/filenames.js';
import { writeTableFiles } from '../../src/lsm/table-file.js';
import { type CachedBlock, SCAN_BLOCKS_BEFORE_READAHEAD, TableReader } from '../../src/lsm/table-reader.js';
import { utf8 } from '../../src/util/bytes.js';
import { expectCorruption } from '../helpers/expect.js';
import { packRun } from '../helpers/runs.js';

const DIR = '/db';
const PATH = `${DIR}/${tableFileName(1)}`;
const KEYS_COUNT = 4000;
const BLOCK_BYTES = 256;

const userKey = (i: number): Uint8Array => utf8(`key-${String(i).padStart(6, '0')}`);
/** Compressible under LZ4 (a repeated byte), different for each key. */
const valueOf = (i: number): Uint8Array => new Uint8Array(24 + (i % 7)).fill(i & 0xff);

function table(compression: 'none' | 'lz4'): CrashableMemFileSystem {
  const fs = new CrashableMemFileSystem();
  fs.mkdirp(DIR);
  const pairs = Array.from({ length: KEYS_COUNT }, (_, i) => [makeInternalKey(userKey(i), i + 1, KIND_PUT), valueOf(i)] as const);
  const built = jsHotPaths.buildTables(packRun(pairs), {
    blockSizeBytes: BLOCK_BYTES, restartInterval: 4, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30, blockCompression: compression,
  });
  writeTableFiles(fs, DIR, built, [1]);
  return fs;
}

/** `fs` with every positional read of a data file recorded as [position, length]. */
function countingReads(fs: FileSystem, reads: Array<[number, number]>): FileSystem {
  return new Proxy(fs, {
    get(target, prop, receiver) {
      if (prop !== 'openRead') return Reflect.get(target, prop, receiver) as unknown;
      return (path: string): RandomAccessFile => {
        const f = target.openRead(path);
        return {
          path: f.path,
          size: () => f.size(),
          close: () => f.close(),
          read: (position: number, length: number) => {
            reads.push([position, length]);
            return f.read(position, length);
          },
          readInto: (buf: Uint8Array, position: number) => {
            reads.push([position, buf.length]);
            return f.readInto!(buf, position);
          },
        };
      };
    },
  });
}

/** Every entry of a forward scan as [key, value] arrays. */
function scanAll(reader: TableReader): Array<[number[], number[]]> {
  const out: Array<[number[], number[]]> = [];
  const it = reader.iterator();
  // Bounded by the table's entries.
  for (it.seekToFirst(); it.valid(); it.next()) out.push([[...it.key()], [...it.value()]]);
  it.close();
  return out;
}

const expected = (): Array<[number[], number[]]> =>
  Array.from({ length: KEYS_COUNT }, (_, i) => [[...makeInternalKey(userKey(i), i + 1, KIND_PUT)], [...valueOf(i)]]);

describe('table scans', () => {
  it('leave the blocks point reads keep hot in a cache smaller than the table', () => {
    const fs = table('none');
    const blocks = new BlockCache<CachedBlock>(8 * 1024);
    const reader = TableReader.open(fs, PATH, 1, jsHotPaths, blocks);
    expect(reader.dataBlockCount * BLOCK_BYTES).toBeGreaterThan(8 * blocks.usedBytes + 8 * 8 * 1024);
    const hot = userKey(KEYS_COUNT / 2);
    expect(reader.find(hot, 1e9)).toBe(KIND_PUT);
    expect(scanAll(reader)).toEqual(expected());
    const hitsBefore = blocks.hits;
    const missesBefore = blocks.misses;
    expect(reader.find(hot, 1e9)).toBe(KIND_PUT);
    expect(blocks.misses).toBe(missesBefore);
    expect(blocks.hits).toBe(hitsBefore + 1);
    reader.close();
  });

  it('decode the cached blocks they pass without charging the cache their runs', () => {
    const fs = table('none');
    const blocks = new BlockCache<CachedBlock>(1 << 22);
    const reader = TableReader.open(fs, PATH, 1, jsHotPaths, blocks);
    // Every block cached raw, as point reads leave them.
    for (let b = 0; b < reader.dataBlockCount; b++) reader.dataBlockContents(b);
    const rawBytes = blocks.usedBytes;
    expect(scanAll(reader)).toEqual(expected());
    expect(blocks.size).toBe(reader.dataBlockCount);
    // Only the blocks read before the scan turned sequential keep a run.
    let offset = 0;
    for (let b = 0; b < reader.dataBlockCount; b++) {
      const block = blocks.get(1, offset)!;
      offset += block.contents.length + 5;
      expect(block.run !== undefined).toBe(b <= SCAN_BLOCKS_BEFORE_READAHEAD);
    }
    expect(blocks.usedBytes).toBeGreaterThan(rawBytes);
    reader.close();
  });

  it.each([['none', 'js'], ['lz4', 'js'], ['none', 'wasm'], ['lz4', 'wasm']] as const)('read ahead in few reads, within the data blocks, and yield every entry (%s blocks, %s)', async (compression, engineName) => {
    const engine = engineName === 'js' ? jsHotPaths : await loadWasmHotPaths();
    const reads: Array<[number, number]> = [];
    const mem = table(compression);
    const reader = TableReader.open(countingReads(mem, reads), PATH, 1, engine, new BlockCache<CachedBlock>(1 << 20));
    const dataEnd = reader.dataBytes;
    reads.length = 0;
    expect(scanAll(reader)).toEqual(expected());
    const [a, b] = [reader.dataBlockCount, reads.length];
    // The first blocks through the cache, one read each; then windows from READAHEAD_BYTES_MIN, doubling.
    expect(a).toBeGreaterThan(50);
    let windows = 0;
    for (let w = READAHEAD_BYTES_MIN, covered = 0; covered < dataEnd; w = Math.min(2 * w, READAHEAD_BYTES_MAX)) {
      covered += w;
      windows++;
    }
    expect(b).toBeLessThanOrEqual(1 + SCAN_BLOCKS_BEFORE_READAHEAD + windows);
    for (const [position, length] of reads) expect(position + length).toBeLessThanOrEqual(dataEnd);
    // A seek starts over: its block goes through the cache again.
    const it = reader.iterator();
    it.seek(makeInternalKey(userKey(KEYS_COUNT - 1), 1e9, KIND_PUT));
    expect(it.valid()).toBe(true);
    expect([...it.value()]).toEqual([...valueOf(KEYS_COUNT - 1)]);
    it.close();
    reader.close();
  });

  it.each(['js', 'wasm'] as const)('check each block read ahead: a corrupt one deep in the table throws CorruptionError at its offset (%s)', async (engineName) => {
    const engine = engineName === 'js' ? jsHotPaths : await loadWasmHotPaths();
    const fs = table('none');
    const probe = TableReader.open(fs, PATH, 1, jsHotPaths, new BlockCache<CachedBlock>(1 << 20));
    const victim = probe.dataBlockCount - 3;
    // Blocks of an uncompressed table lie back to back: contents, then a 5-byte trailer.
    let offset = 0;
    for (let b = 0; b < victim; b++) offset += probe.dataBlockContents(b).length + 5;
    const probeBlockBytes = probe.dataBlockContents(victim).length + 5;
    probe.close();
    const bytes = fs.readFile(PATH).slice();
    bytes[offset + 5]! ^= 0x40;
    fs.remove(PATH);
    const f = fs.create(PATH);
    f.append(bytes);
    f.syncSync();
    f.close();
    const reader = TableReader.open(fs, PATH, 1, engine, new BlockCache<CachedBlock>(1 << 20));
    const at = expectCorruption(() => scanAll(reader)).offset!;
    expect(at).toBeGreaterThanOrEqual(offset);
    expect(at).toBeLessThan(offset + probeBlockBytes);
    reader.close();
  });
});

describe('Readahead', () => {
  it('serves views from its window, refills from the asked position, and never reads past the end', () => {
    const fs = new CrashableMemFileSystem();
    fs.mkdirp(DIR);
    const content = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
    const w = fs.create(`${DIR}/f`);
    w.append(content);
    w.syncSync();
    w.close();
    const reads: Array<[number, number]> = [];
    const file = countingReads(fs, reads).openRead(`${DIR}/f`);
    const ra = new Readahead();
    const end = 150_000;
    // Bounded: each view moves at least 1000 bytes on.
    for (let pos = 0; pos + 3000 <= end; pos += 1000 + (pos % 2000)) {
      const view = ra.view(file, 'f', pos, 3000, end);
      expect(view.length).toBe(3000);
      expect(view[0]).toBe(content[pos]);
      expect(view[2999]).toBe(content[pos + 2999]);
    }
    for (const [position, length] of reads) expect(position + length).toBeLessThanOrEqual(end);
    expect(reads[0]![1]).toBe(READAHEAD_BYTES_MIN);
    expect(reads[1]![1]).toBe(2 * READAHEAD_BYTES_MIN);
    expect(reads.length).toBeLessThan(10);
    // A block longer than the window is read whole.
    const fresh = new Readahead();
    const long = fresh.view(file, 'f', 100, 3 * READAHEAD_BYTES_MIN, 200_000);
    expect(long.length).toBe(3 * READAHEAD_BYTES_MIN);
    expect(long[long.length - 1]).toBe(content[100 + 3 * READAHEAD_BYTES_MIN - 1]);
    // A short read is a CorruptionError (the file ends before the block does).
    expect(() => fresh.view(file, 'f', 199_000, 2000, 201_000)).toThrow(CorruptionError);
    file.close();
  });
});
