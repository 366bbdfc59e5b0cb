import { describe, expect, it } from 'vitest';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { TableCache } from '../../src/lsm/table-cache.js';
import { writeTableFiles } from '../../src/lsm/table-file.js';
import { type CachedBlock, FIND_NONE, SCAN_BLOCKS_BEFORE_READAHEAD } from '../../src/lsm/table-reader.js';
import { utf8 } from '../../src/util/bytes.js';
import { packRun } from '../helpers/runs.js';

const DIR = '/db';
const TABLES = 6;
const KEYS_PER_TABLE = 300;

const userKey = (t: number, i: number): Uint8Array => utf8(`t${t}-${String(i).padStart(5, '0')}`);

/** TABLES tables (file numbers 1..TABLES), each KEYS_PER_TABLE keys with a bloom filter. */
function tables(): CrashableMemFileSystem {
  const fs = new CrashableMemFileSystem();
  fs.mkdirp(DIR);
  for (let t = 1; t <= TABLES; t++) {
    const pairs = Array.from({ length: KEYS_PER_TABLE }, (_, i) => [makeInternalKey(userKey(t, i), i + 1, KIND_PUT), Uint8Array.of(t, i & 0xff)] as const);
    const built = jsHotPaths.buildTables(packRun(pairs), { blockSizeBytes: 256, restartInterval: 4, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30, blockCompression: 'none' });
    writeTableFiles(fs, DIR, built, [t]);
  }
  return fs;
}

describe('TableCache', () => {
  it('keeps the open tables\' index and filter bytes within its budget, reopening a closed table on demand', () => {
    const fs = tables();
    const probe = new TableCache(fs, DIR, jsHotPaths, new BlockCache<CachedBlock>(1 << 20), 100, Number.MAX_SAFE_INTEGER);
    const onePinned = probe.get(1).pinnedBytes;
    // Index keys, handles and a bloom filter of 300 keys: some hundreds of bytes at least.
    expect(onePinned).toBeGreaterThan(KEYS_PER_TABLE * 10 / 8);
    probe.closeAll();

    const budget = Math.floor(2.5 * onePinned);
    const cache = new TableCache(fs, DIR, jsHotPaths, new BlockCache<CachedBlock>(1 << 20), 100, budget);
    for (let round = 0; round < 2; round++) {
      for (let t = 1; t <= TABLES; t++) {
        const reader = cache.get(t);
        expect(reader.find(userKey(t, 17), 1e9)).toBe(KIND_PUT);
        expect([...reader.foundData.subarray(reader.foundValueStart, reader.foundValueEnd)]).toEqual([t, 17]);
        expect(reader.find(userKey(t + 1, 17), 1e9)).toBe(FIND_NONE);
        expect(cache.pinnedBytes).toBeLessThanOrEqual(budget);
        expect(cache.openCount).toBeLessThanOrEqual(2);
      }
    }
    expect(cache.openCount).toBe(2);
    cache.closeAll();
    expect(cache.pinnedBytes).toBe(0);

    // A budget below one table still opens the table it must read, and only it.
    const tight = new TableCache(fs, DIR, jsHotPaths, new BlockCache<CachedBlock>(1 << 20), 100, 1);
    for (let t = 1; t <= TABLES; t++) {
      expect(tight.get(t).find(userKey(t, 3), 1e9)).toBe(KIND_PUT);
      expect(tight.openCount).toBe(1);
      expect(tight.pinnedBytes).toBe(onePinned);
    }
    tight.closeAll();
  });

  it('closes the least recently used reader when one more opens past openTablesMax', () => {
    const fs = tables();
    const cache = new TableCache(fs, DIR, jsHotPaths, new BlockCache<CachedBlock>(1 << 20), 3, Number.MAX_SAFE_INTEGER);
    const r1 = cache.get(1);
    const r2 = cache.get(2);
    const r3 = cache.get(3);
    // Table 1 used again: table 2 is now the least recently used.
    expect(cache.get(1)).toBe(r1);
    cache.get(4);
    expect(cache.openCount).toBe(3);
    // Hits return the open readers themselves; table 2 was closed, so it opens anew (closing table 3).
    expect(cache.get(1)).toBe(r1);
    expect(cache.get(4).find(userKey(4, 5), 1e9)).toBe(KIND_PUT);
    const r2again = cache.get(2);
    expect(r2again).not.toBe(r2);
    expect(r2again.find(userKey(2, 5), 1e9)).toBe(KIND_PUT);
    expect(cache.get(1)).toBe(r1);
    expect(cache.get(3)).not.toBe(r3);
    expect(cache.openCount).toBe(3);
    cache.closeAll();
  });

  it('caches data blocks as their raw bytes, and their decoded runs once an iterator reads them, charging both', () => {
    const fs = tables();
    const blocks = new BlockCache<CachedBlock>(1 << 20);
    const cache = new TableCache(fs, DIR, jsHotPaths, blocks, 100, Number.MAX_SAFE_INTEGER);
    const reader = cache.get(1);
    expect(reader.find(userKey(1, 0), 1e9)).toBe(KIND_PUT);
    expect(blocks.size).toBe(1);
    // Block 0 starts at offset 0, read into a buffer rounded up to 128 bytes; a point read decodes nothing.
    const block0 = blocks.get(1, 0)!;
    expect(block0.run).toBeUndefined();
    expect(blocks.usedBytes).toBe(Math.ceil((block0.contents.length + 5) / 128) * 128);
    expect(blocks.usedBytes).toBe(block0.contents.buffer.byteLength);
    // A scan reads the other blocks for the first time: it keeps no run of theirs; block 0 was hot.
    // Past its first SCAN_BLOCKS_BEFORE_READAHEAD forward block moves it reads ahead and caches nothing.
    const scan = (): number => {
      const it = reader.iterator();
      let n = 0;
      for (it.seekToFirst(); it.valid(); it.next()) n++;
      it.close();
      return n;
    };
    expect(reader.dataBlockCount).toBeGreaterThan(SCAN_BLOCKS_BEFORE_READAHEAD + 2);
    expect(scan()).toBe(KEYS_PER_TABLE);
    expect(blocks.size).toBe(1 + SCAN_BLOCKS_BEFORE_READAHEAD);
    expect(block0.run).toBeDefined();
    expect(blocks.get(1, block0.contents.length + 5)!.run).toBeUndefined();
    // Once every block is cached (as point reads cache them), an iterator's seek into a block finds
    // it hot and keeps its run (a scan's sequential blocks do not: test/lsm/table-scan.test.ts).
    for (let b = 0; b < reader.dataBlockCount; b++) reader.dataBlockContents(b);
    for (let b = 0; b < reader.dataBlockCount; b++) reader.dataBlock(b);
    // Blocks lie back to back from offset 0: each is cached at its offset, charged its buffer and its run.
    let offset = 0;
    let charged = 0;
    for (let b = 0; b < reader.dataBlockCount; b++) {
      const block = blocks.get(1, offset)!;
      offset += block.contents.length + 5;
      charged += block.contents.buffer.byteLength + block.run!.data.byteLength + block.run!.offsets.byteLength;
      // A later iterator gets the same run: the block is not decoded again.
      expect(reader.dataBlock(b)).toBe(block.run);
    }
    expect(blocks.usedBytes).toBe(charged);
    cache.closeAll();

    // A cache with room for a raw block but not for its run too keeps the block and decodes each time.
    const rawOnly = new BlockCache<CachedBlock>(block0.contents.buffer.byteLength + 16);
    const small = new TableCache(fs, DIR, jsHotPaths, rawOnly, 100, Number.MAX_SAFE_INTEGER);
    small.get(1).dataBlock(0);
    const first = small.get(1).dataBlock(0);
    expect(rawOnly.size).toBe(1);
    expect(rawOnly.get(1, 0)!.run).toBeUndefined();
    expect(small.get(1).dataBlock(0)).not.toBe(first);
    small.closeAll();
  });

  it('reads a missed block into the buffer of the block the cache just evicted', () => {
    const fs = tables();
    const probe = new TableCache(fs, DIR, jsHotPaths, new BlockCache<CachedBlock>(1 << 20), 100, Number.MAX_SAFE_INTEGER);
    const block0 = probe.get(1).dataBlockContents(0);
    probe.closeAll();
    // Room for one block: each miss evicts the one before, and the next miss reuses its buffer.
    const blocks = new BlockCache<CachedBlock>(block0.buffer.byteLength + 64, 1);
    const cache = new TableCache(fs, DIR, jsHotPaths, blocks, 100, Number.MAX_SAFE_INTEGER);
    const reader = cache.get(1);
    const buffers: ArrayBufferLike[] = [];
    // Keys 0, 40, 80, ... fall in distinct blocks (about 12 keys a 256-byte block).
    for (let i = 0; i < KEYS_PER_TABLE; i += 40) {
      expect(reader.find(userKey(1, i), 1e9)).toBe(KIND_PUT);
      expect([...reader.foundData.subarray(reader.foundValueStart, reader.foundValueEnd)]).toEqual([1, i & 0xff]);
      buffers.push(reader.foundData.buffer);
      expect(blocks.size).toBe(1);
    }
    // Two buffers serve every read: the cached block's and the spare it replaces.
    expect(new Set(buffers).size).toBeLessThanOrEqual(2);
    expect(buffers.length).toBeGreaterThan(5);
    cache.closeAll();
  });
});
