import { describe, expect, it } from 'vitest';
import type { EntryRun, TableCutOptions } from '../../src/engine/types.js';
import { jsHotPaths } from '../../src/engine/js/index.js';
import { loadEngine } from '../../src/engine/index.js';
import { crc32c, maskCrc } from '../../src/format/crc32c.js';
import { BlockCache } from '../../src/lsm/block-cache.js';
import {
  KIND_DELETE, KIND_PUT, compareInternalKeys, makeInternalKey, trailerKind, trailerSequence,
} from '../../src/format/internal-key.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { type CachedBlock, FIND_NONE, TableReader } from '../../src/lsm/table-reader.js';
import { tableFileName, writeTableFiles } from '../../src/lsm/table-file.js';
import { Random } from '../../src/sim/random.js';
import { compareBytes, getVarint, putFixed32, utf8, type VarintRead } from '../../src/util/bytes.js';
import { packRun } from '../helpers/runs.js';
import { expectCorruption } from '../helpers/expect.js';
import { hex } from '../helpers/hex.js';

interface Entry {
  ikey: Uint8Array;
  user: Uint8Array;
  seq: number;
  kind: number;
  value: Uint8Array;
}

function randomEntries(rng: Random, users: number): Entry[] {
  const out: Entry[] = [];
  let seq = 1;
  for (let u = 0; u < users; u++) {
    const user = utf8(`user${String(u * 2).padStart(6, '0')}`); // odd numbers stay absent
    const versions = 1 + rng.int(3);
    for (let v = 0; v < versions; v++) {
      seq += 1 + rng.int(3);
      const kind = rng.int(4) === 0 ? KIND_DELETE : KIND_PUT;
      const value = kind === KIND_DELETE ? new Uint8Array(0) : new Uint8Array(rng.int(80)).map(() => rng.int(256));
      out.push({ ikey: makeInternalKey(user, seq, kind), user, seq, kind, value });
    }
  }
  return out.sort((a, b) => compareInternalKeys(a.ikey, b.ikey));
}

function runOf(entries: Entry[]): EntryRun {
  return packRun(entries.map((e) => [e.ikey, e.value] as const));
}

const OPTIONS: TableCutOptions = { blockSizeBytes: 512, restartInterval: 8, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 30 };
const DIR = '/db';

function setup(seed: number, options = OPTIONS) {
  const entries = randomEntries(new Random(seed), 400);
  const run = runOf(entries);
  const fs = new CrashableMemFileSystem();
  fs.mkdirp(DIR);
  const tables = jsHotPaths.buildTables(run, options);
  expect(tables.length).toBe(1);
  const [meta] = writeTableFiles(fs, DIR, tables, [7]);
  const path = `${DIR}/${tableFileName(7)}`;
  const cache = new BlockCache<CachedBlock>(1 << 20);
  return { entries, run, fs, meta: meta!, path, cache, bytes: tables[0]!.bytes };
}

const vr: VarintRead = { value: 0, pos: 0 };
/** Offsets of the metaindex and index blocks, from the footer. */
function footerHandles(bytes: Uint8Array): { metaindex: number; index: number } {
  const f = bytes.length - 56;
  const metaindex = getVarint(bytes, f, f + 40, vr).value;
  getVarint(bytes, vr.pos, f + 40, vr);
  const index = getVarint(bytes, vr.pos, f + 40, vr).value;
  return { metaindex, index };
}

function rewrite(fs: CrashableMemFileSystem, path: string, bytes: Uint8Array): void {
  const file = fs.create(path);
  file.append(bytes);
  file.close();
}

describe('loadEngine', () => {
  it('returns the js twin, and rejects unknown names by code', async () => {
    expect(await loadEngine('js')).toBe(jsHotPaths);
    await expect(loadEngine('nope' as 'js')).rejects.toMatchObject({ code: 'LSM_ERR_INVALID_ARGUMENT' });
  });
});

describe('writeTableFiles', () => {
  it('writes NNNNNN.sst files durably and returns their metadata', () => {
    const { fs, meta, bytes, run, entries } = setup(9001);
    expect(tableFileName(7)).toBe('000007.sst');
    expect(meta.number).toBe(7);
    expect(meta.size).toBe(bytes.length);
    expect(meta.entryCount).toBe(run.count);
    expect(meta.deletionCount).toBe(entries.filter((e) => e.kind === KIND_DELETE).length);
    expect(hex(meta.smallest)).toBe(hex(entries[0]!.ikey));
    expect(hex(meta.largest)).toBe(hex(entries[entries.length - 1]!.ikey));
    expect(meta.smallestSeq).toBe(Math.min(...entries.map((e) => e.seq)));
    expect(meta.largestSeq).toBe(Math.max(...entries.map((e) => e.seq)));
    fs.crash();
    expect(fs.list(DIR)).toEqual(['000007.sst']);
    expect(hex(fs.readFile(`${DIR}/000007.sst`))).toBe(hex(bytes));
  });
});

describe('TableReader', () => {
  it('reads properties and point lookups at every sequence, consulting the bloom filter first', async () => {
    const { fs, path, cache, entries } = setup(9002);
    const engine = await loadEngine('js');
    const reader = TableReader.open(fs, path, 7, engine, cache);
    const p = reader.properties;
    expect(p.entries).toBe(entries.length);
    expect(p.deletions).toBe(entries.filter((e) => e.kind === KIND_DELETE).length);
    expect(p.dataBlocks).toBeGreaterThan(10);
    expect(p.filterBitsPerKey).toBe(10);
    expect(p.smallestSeq).toBe(Math.min(...entries.map((e) => e.seq)));
    expect(p.largestSeq).toBe(Math.max(...entries.map((e) => e.seq)));
    expect(p.rawKeyBytes).toBe(entries.reduce((s, e) => s + e.ikey.length, 0));
    expect(p.rawValueBytes).toBe(entries.reduce((s, e) => s + e.value.length, 0));
    expect(reader.fileSize).toBe(fs.fileSize(path));

    entries.forEach((e, i) => {
      const hit = reader.get(e.user, e.seq);
      expect(hit?.kind).toBe(e.kind);
      expect(hex(hit!.value)).toBe(hex(e.value));
      // Just below this entry's sequence: the next older version of the key, if any.
      const older = entries[i + 1] !== undefined && compareBytes(entries[i + 1]!.user, e.user) === 0 ? entries[i + 1] : undefined;
      const below = reader.get(e.user, e.seq - 1);
      expect(below === undefined ? undefined : below.kind).toBe(older?.kind);
    });
    expect(reader.get(entries[0]!.user, 0)).toBeUndefined();
    const checksBefore = reader.bloomChecks;
    for (let u = 0; u < 400; u++) expect(reader.get(utf8(`user${String(u * 2 + 1).padStart(6, '0')}`), 1e9)).toBeUndefined();
    expect(reader.bloomChecks - checksBefore).toBe(400);
    expect(reader.bloomUseful).toBeGreaterThan(380);
    const hits = cache.hits;
    reader.get(entries[0]!.user, entries[0]!.seq);
    expect(cache.hits).toBe(hits + 1);
    reader.close();
  });

  it('without filterFirst, asks the filter only before a block read, and finds the same', async () => {
    const { fs, path, cache, entries } = setup(9003);
    const engine = await loadEngine('js');
    const reader = TableReader.open(fs, path, 7, engine, cache);
    const absent = Array.from({ length: 400 }, (_, u) => utf8(`user${String(u * 2 + 1).padStart(6, '0')}`));
    // Nothing cached: an absent key inside the table's range reaches the filter unless a false
    // positive before it cached its block; every block read follows a probe that let it through.
    for (const key of absent) {
      const [checks, useful, cached] = [reader.bloomChecks, reader.bloomUseful, cache.size];
      expect(reader.find(key, 1e9, false)).toBe(FIND_NONE);
      if (cache.size > cached) expect([reader.bloomChecks, reader.bloomUseful]).toEqual([checks + 1, useful]);
    }
    const inRange = absent.filter((k) => compareBytes(k, entries[0]!.user) > 0 && compareBytes(k, entries.at(-1)!.user) < 0).length;
    expect(reader.bloomChecks).toBeGreaterThan(0.9 * inRange);
    expect(reader.bloomUseful).toBeGreaterThan(0.9 * reader.bloomChecks);
    expect(cache.size).toBe(reader.bloomChecks - reader.bloomUseful);
    // Every entry found as with the filter first; their blocks are now cached.
    for (const e of entries) {
      expect(reader.find(e.user, e.seq, false)).toBe(e.kind);
      expect(hex(reader.foundData.subarray(reader.foundValueStart, reader.foundValueEnd))).toBe(hex(e.value));
    }
    expect(cache.size).toBe(reader.dataBlockCount);
    // All blocks cached: no filter probe at all, and still no false hit.
    const checks = reader.bloomChecks;
    for (const key of absent) expect(reader.find(key, 1e9, false)).toBe(FIND_NONE);
    expect(reader.bloomChecks).toBe(checks);
    // With the filter first, the same lookups all probe it.
    for (const key of absent) expect(reader.find(key, 1e9)).toBe(FIND_NONE);
    expect(reader.bloomChecks).toBe(checks + absent.length);
    reader.close();
  });

  it('iterates forward and backward and seeks like a sorted list', () => {
    const seed = 9003;
    const { fs, path, cache, entries, run } = setup(seed);
    const reader = TableReader.open(fs, path, 7, jsHotPaths, cache);
    const it = reader.iterator();
    const forward: string[] = [];
    for (it.seekToFirst(); it.valid(); it.next()) forward.push(hex(it.key()) + hex(it.value()));
    expect(forward).toEqual(entries.map((e) => hex(e.ikey) + hex(e.value)));
    const backward: string[] = [];
    for (it.seekToLast(); it.valid(); it.prev()) backward.push(hex(it.key()));
    expect(backward).toEqual(entries.map((e) => hex(e.ikey)).reverse());

    const rng = new Random(seed);
    for (let t = 0; t < 500; t++) {
      const target = makeInternalKey(utf8(`user${String(rng.int(820)).padStart(6, '0')}`), rng.int(1500), rng.int(2));
      const lb = entries.findIndex((e) => compareInternalKeys(e.ikey, target) >= 0);
      it.seek(target);
      if (lb < 0) expect(it.valid(), `seed ${seed}`).toBe(false);
      else expect(hex(it.key()), `seed ${seed}`).toBe(hex(entries[lb]!.ikey));
      let le = entries.length - 1;
      while (le >= 0 && compareInternalKeys(entries[le]!.ikey, target) > 0) le--;
      it.seekForPrev(target);
      if (le < 0) expect(it.valid(), `seed ${seed}`).toBe(false);
      else expect(hex(it.key()), `seed ${seed}`).toBe(hex(entries[le]!.ikey));
    }
    // Exact keys, then step across block boundaries both ways.
    for (let i = 1; i < entries.length - 1; i += 37) {
      it.seekForPrev(entries[i]!.ikey);
      expect(hex(it.key())).toBe(hex(entries[i]!.ikey));
      it.prev();
      expect(hex(it.key())).toBe(hex(entries[i - 1]!.ikey));
      it.next();
      it.next();
      expect(hex(it.key())).toBe(hex(entries[i + 1]!.ikey));
    }
    // A reader closed under an open iterator stays readable until the iterator closes.
    reader.close();
    it.seekToFirst();
    expect(hex(it.key())).toBe(hex(entries[0]!.ikey));
    it.seekToLast();
    expect(hex(it.key())).toBe(hex(entries[entries.length - 1]!.ikey));
    it.close();
    it.close();

    const again = TableReader.open(fs, path, 7, jsHotPaths, new BlockCache<CachedBlock>(0));
    const all = again.readAll();
    expect(all.count).toBe(run.count);
    expect(hex(all.data.subarray(0, all.offsets[2 * all.count]!))).toBe(hex(run.data));
    expect([...all.offsets]).toEqual([...run.offsets]);
    for (let i = 0; i < all.count; i++) {
      expect(trailerSequence(all.data, all.offsets[2 * i + 1]!)).toBe(entries[i]!.seq);
      expect(trailerKind(all.data, all.offsets[2 * i + 1]!)).toBe(entries[i]!.kind);
    }
    again.close();
  });

  it('works without a filter block', () => {
    const { fs, path, cache, entries } = setup(9004, { ...OPTIONS, bloomBitsPerKey: 0 });
    const reader = TableReader.open(fs, path, 7, jsHotPaths, cache);
    expect(reader.properties.filterBitsPerKey).toBe(0);
    expect(reader.get(utf8('user000001'), 1e9)).toBeUndefined();
    expect(reader.get(entries[5]!.user, entries[5]!.seq)?.kind).toBe(entries[5]!.kind);
    expect(reader.bloomChecks).toBe(0);
    reader.close();
  });

  it('reports a corrupt data block, index or footer with the file and offset', () => {
    const { fs, path, bytes, entries } = setup(9005);
    const open = (): TableReader => TableReader.open(fs, path, 7, jsHotPaths, new BlockCache<CachedBlock>(1 << 20));

    // Data block 0 (at offset 0): open succeeds, reads of that block fail.
    const dataBad = bytes.slice();
    dataBad[10]! ^= 1;
    rewrite(fs, path, dataBad);
    const reader = open();
    let err = expectCorruption(() => reader.get(entries[0]!.user, entries[0]!.seq));
    expect([err.file, err.offset]).toEqual([path, 0]);
    err = expectCorruption(() => reader.readAll());
    expect([err.file, err.offset]).toEqual([path, 0]);
    const it = reader.iterator();
    expect(expectCorruption(() => it.seekToFirst()).offset).toBe(0);
    it.close();
    reader.close();

    const { index, metaindex } = footerHandles(bytes);
    const indexBad = bytes.slice();
    indexBad[index + 3]! ^= 0x40;
    rewrite(fs, path, indexBad);
    err = expectCorruption(open);
    expect([err.file, err.offset]).toEqual([path, index]);

    const metaBad = bytes.slice();
    metaBad[metaindex + 1]! ^= 0x40;
    rewrite(fs, path, metaBad);
    expect(expectCorruption(open).offset).toBe(metaindex);

    const footer = bytes.length - 56;
    const footerBad = bytes.slice();
    footerBad[footer + 2]! ^= 1;
    rewrite(fs, path, footerBad);
    expect(expectCorruption(open).offset).toBe(footer + 44);

    const magicBad = bytes.slice();
    magicBad[bytes.length - 1] = 0;
    rewrite(fs, path, magicBad);
    expect(expectCorruption(open).offset).toBe(footer + 48);

    // Versions 1 and 2 are known (docs/format/sstable.md); 3 is not.
    const version3 = bytes.slice();
    putFixed32(version3, footer + 40, 3);
    putFixed32(version3, footer + 44, maskCrc(crc32c(version3.subarray(footer, footer + 44))));
    rewrite(fs, path, version3);
    err = expectCorruption(open);
    expect(err.offset).toBe(footer + 40);
    expect(err.message).toContain('version 3');

    rewrite(fs, path, bytes.subarray(bytes.length - 40));
    expect(expectCorruption(open).offset).toBe(0);

    // Every single-byte flip anywhere is caught at open or on a full read; never another error.
    for (let pos = 0; pos < bytes.length; pos += 31) {
      const bad = bytes.slice();
      bad[pos]! ^= 0x10;
      rewrite(fs, path, bad);
      expectCorruption(() => {
        const r = open();
        try {
          r.readAll();
        } finally {
          r.close();
        }
      });
    }
  });
});
