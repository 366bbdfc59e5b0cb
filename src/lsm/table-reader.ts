/**
 * SSTable reader (docs/format/sstable.md), after leveldb's table/table.cc and two_level_iterator.cc:
 * open() reads and checks the footer, then the metaindex, properties, filter and index blocks, and
 * keeps them in memory; data blocks are read on demand, decoded by the hot-path engine and shared
 * through the block cache (keyed by file number and block offset).
 *
 * What must hold: every byte read from the file is checked (footer checksum, each block's
 * checksum, every handle inside the file) before it is trusted, and any failure is a
 * CorruptionError naming the file and the offset of what failed. Point reads consult the bloom
 * filter first. A reader closed while iterators are open stays usable by them: the file is closed
 * when the last of them closes (a table cache may evict a reader an iterator still walks).
 */
import type { BlockSource, EntryRun, HotPaths } from '../engine/types.js';
import type { BlockCache } from './block-cache.js';
import type { FileSystem, RandomAccessFile } from './fs.js';
import type { InternalIterator } from './iterator.js';
import { CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import { compareRange, fromUtf8, getFixed32, getVarint, type VarintRead } from '../util/bytes.js';
import { compareInternalRange, KIND_SEEK, TRAILER_BYTES, trailerKind, writeTrailer } from '../format/internal-key.js';
import { BLOCK_TRAILER_BYTES, decodeBlockContents, verifyBlockTrailer } from '../engine/js/block.js';
import { bloomMayContain } from '../engine/js/bloom.js';
import {
  FOOTER_BYTES, FOOTER_HANDLES_BYTES, META_FILTER_KEY, META_PROPERTIES_KEY, PROPERTY_KEYS,
  TABLE_FORMAT_VERSION_COMPRESSED, TABLE_FORMAT_VERSION_PLAIN,
  TABLE_MAGIC,
} from '../engine/js/table-builder.js';
import { unmaskCrc, crc32c } from '../format/crc32c.js';

export interface TableProperties {
  entries: number;
  deletions: number;
  dataBlocks: number;
  smallestSeq: number;
  largestSeq: number;
  rawKeyBytes: number;
  rawValueBytes: number;
  filterBitsPerKey: number;
}

const PROPERTY_FIELDS: Record<(typeof PROPERTY_KEYS)[number], keyof TableProperties> = {
  'lsmraft.data_blocks': 'dataBlocks',
  'lsmraft.deletions': 'deletions',
  'lsmraft.entries': 'entries',
  'lsmraft.filter_bits_per_key': 'filterBitsPerKey',
  'lsmraft.largest_seq': 'largestSeq',
  'lsmraft.raw_key_bytes': 'rawKeyBytes',
  'lsmraft.raw_value_bytes': 'rawValueBytes',
  'lsmraft.smallest_seq': 'smallestSeq',
};

interface Handle {
  offset: number;
  size: number;
}

/** What TableReader.find() returns when the table holds no entry of the key at the sequence. */
export const FIND_NONE = -1;
const EMPTY = new Uint8Array(0);

const varint: VarintRead = { value: 0, pos: 0 };

/** Reads a block handle filling buf[start..end) exactly; undefined if it does not parse. */
function parseHandle(buf: Uint8Array, start: number, end: number, exact: boolean): Handle | undefined {
  getVarint(buf, start, end, varint);
  if (varint.pos < 0) return undefined;
  const offset = varint.value;
  getVarint(buf, varint.pos, end, varint);
  if (varint.pos < 0 || (exact && varint.pos !== end)) return undefined;
  return { offset, size: varint.value };
}

/**
 * Index of the first entry of `run` whose internal key is >= key[0..keyLen). REQUIRES: the first
 * `skipBytes` user-key bytes of every key of the run equal key's (0 always holds).
 */
function lowerBound(run: EntryRun, key: Uint8Array, keyLen: number, skipBytes = 0): number {
  const { data, offsets } = run;
  let lo = 0;
  let hi = run.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareInternalRange(data, offsets[2 * mid]! + skipBytes, offsets[2 * mid + 1]!, key, skipBytes, keyLen);
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The index block's keys, searched through a compact array of 4-byte key words first (a "key
 * prefix" search, as B-tree and ART implementations do): all index keys of a table share their
 * first `commonBytes` user-key bytes, so word i is index key i's next 4 user-key bytes, big-endian
 * and zero-padded. Word order agrees with key order (a smaller word means a smaller key; equal words
 * decide nothing), so a binary search reads the full key only on a tie. Why: a point read searches
 * ~1000 index keys per table, and each full comparison touches two more cache lines (the offsets
 * and the key bytes) in an index that is cold for a random read.
 */
class IndexSearch {
  /** User-key bytes every index key starts with. */
  readonly commonBytes: number;
  private readonly words: Uint32Array;

  constructor(private readonly index: EntryRun) {
    const { data, offsets, count } = index;
    assert(count > 0, 'index search of an empty index');
    const firstStart = offsets[0]!;
    const firstEnd = offsets[1]! - TRAILER_BYTES;
    const lastStart = offsets[2 * count - 2]!;
    const lastEnd = offsets[2 * count - 1]! - TRAILER_BYTES;
    // Keys are sorted, so the prefix the first and last share is shared by every key between them.
    let common = 0;
    const bound = Math.min(firstEnd - firstStart, lastEnd - lastStart);
    while (common < bound && data[firstStart + common] === data[lastStart + common]) common++;
    this.commonBytes = common;
    this.words = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      this.words[i] = keyWord(data, offsets[2 * i]! + common, offsets[2 * i + 1]! - TRAILER_BYTES);
    }
  }

  /** Index of the first index key >= key[0..keyLen) (an internal key); count if none. */
  lowerBound(key: Uint8Array, keyLen: number): number {
    const { data, offsets, count } = this.index;
    const userEnd = keyLen - TRAILER_BYTES;
    const common = this.commonBytes;
    if (common > 0) {
      // Every index key starts with data[offsets[0] .. +common): a key outside that prefix is below
      // or above them all.
      const c = compareRange(key, 0, Math.min(common, userEnd), data, offsets[0]!, offsets[0]! + common);
      if (c < 0) return 0;
      if (c > 0) return count;
    }
    const word = keyWord(key, common, userEnd);
    const words = this.words;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const w = words[mid]!;
      const less = w !== word
        ? w < word
        : compareInternalRange(data, offsets[2 * mid]!, offsets[2 * mid + 1]!, key, 0, keyLen) < 0;
      if (less) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** buf[start..start+4) big-endian as an unsigned 32-bit number, bytes at or past `end` read as 0. */
function keyWord(buf: Uint8Array, start: number, end: number): number {
  if (start + 4 <= end) {
    return ((buf[start]! << 24) | (buf[start + 1]! << 16) | (buf[start + 2]! << 8) | buf[start + 3]!) >>> 0;
  }
  let w = 0;
  for (let i = 0; i < 4; i++) w = (w << 8) | (start + i < end ? buf[start + i]! : 0);
  return w >>> 0;
}

export class TableReader {
  private bloomCheckCount = 0;
  private bloomUsefulCount = 0;
  private openIterators = 0;
  private closing = false;
  private closed = false;
  private seekScratch = new Uint8Array(64);
  /** The last find() hit: its value is foundData[foundValueStart..foundValueEnd). */
  foundData: Uint8Array = EMPTY;
  foundValueStart = 0;
  foundValueEnd = 0;
  private readonly indexSearch: IndexSearch;

  private constructor(
    private readonly file: RandomAccessFile,
    readonly path: string,
    readonly fileNumber: number,
    private readonly engine: HotPaths,
    private readonly cache: BlockCache<EntryRun>,
    private readonly sizeBytes: number,
    /** Index block: key i = last internal key of data block i. */
    private readonly index: EntryRun,
    private readonly blockOffsets: Float64Array,
    private readonly blockSizes: Float64Array,
    private readonly filter: Uint8Array | undefined,
    readonly properties: Readonly<TableProperties>,
  ) {
    this.indexSearch = new IndexSearch(index);
  }

  /** Opens and checks the table at `path`. Throws CorruptionError (file, offset) on bad bytes. */
  static open(
    fs: FileSystem, path: string, fileNumber: number, engine: HotPaths, cache: BlockCache<EntryRun>, loadFilter = true,
  ): TableReader {
    const file = fs.openRead(path);
    try {
      return TableReader.load(file, path, fileNumber, engine, cache, loadFilter);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  private static load(
    file: RandomAccessFile, path: string, fileNumber: number, engine: HotPaths, cache: BlockCache<EntryRun>,
    loadFilter: boolean,
  ): TableReader {
    const sizeBytes = file.size();
    if (sizeBytes < FOOTER_BYTES) {
      throw new CorruptionError(`table of ${sizeBytes} bytes is shorter than its ${FOOTER_BYTES}-byte footer`, path, 0);
    }
    const footerOffset = sizeBytes - FOOTER_BYTES;
    const footer = file.read(footerOffset, FOOTER_BYTES);
    if (footer.length !== FOOTER_BYTES) throw new CorruptionError('short read of the footer', path, footerOffset);
    for (let i = 0; i < TABLE_MAGIC.length; i++) {
      if (footer[FOOTER_HANDLES_BYTES + 8 + i] !== TABLE_MAGIC[i]) {
        throw new CorruptionError('bad table magic', path, footerOffset + FOOTER_HANDLES_BYTES + 8);
      }
    }
    const storedCrc = unmaskCrc(getFixed32(footer, FOOTER_HANDLES_BYTES + 4));
    if (storedCrc !== crc32c(footer.subarray(0, FOOTER_HANDLES_BYTES + 4))) {
      throw new CorruptionError('footer checksum mismatch', path, footerOffset + FOOTER_HANDLES_BYTES + 4);
    }
    const version = getFixed32(footer, FOOTER_HANDLES_BYTES);
    // Both versions read alike: data blocks say in their trailer whether they are compressed.
    if (version !== TABLE_FORMAT_VERSION_PLAIN && version !== TABLE_FORMAT_VERSION_COMPRESSED) {
      throw new CorruptionError(`unknown table format version ${version}`, path, footerOffset + FOOTER_HANDLES_BYTES);
    }
    const metaindex = parseHandle(footer, 0, FOOTER_HANDLES_BYTES, false);
    const afterMeta = metaindex === undefined ? -1 : varint.pos; // parseHandle leaves varint.pos after it
    const indexHandle = afterMeta < 0 ? undefined : parseHandle(footer, afterMeta, FOOTER_HANDLES_BYTES, false);
    if (metaindex === undefined || indexHandle === undefined) {
      throw new CorruptionError('footer block handles do not parse', path, footerOffset);
    }

    /** Reads and checks the block at `h`, named by the record at `holderOffset` on failure. */
    const readBlock = (h: Handle, holderOffset: number): { bytes: Uint8Array; contentsBytes: number } => {
      if (h.offset + h.size + BLOCK_TRAILER_BYTES > footerOffset) {
        throw new CorruptionError(`block handle (${h.offset}, ${h.size}) runs past the data`, path, holderOffset);
      }
      const bytes = file.read(h.offset, h.size + BLOCK_TRAILER_BYTES);
      if (bytes.length !== h.size + BLOCK_TRAILER_BYTES) throw new CorruptionError('short block read', path, h.offset);
      return { bytes, contentsBytes: verifyBlockTrailer(bytes, path, h.offset) };
    };

    const meta = readBlock(metaindex, footerOffset);
    const metaRun = decodeBlockContents(meta.bytes, meta.contentsBytes, false, path, metaindex.offset);
    let filterHandle: Handle | undefined;
    let propertiesHandle: Handle | undefined;
    for (let i = 0; i < metaRun.count; i++) {
      const name = fromUtf8(metaRun.data.subarray(metaRun.offsets[2 * i]!, metaRun.offsets[2 * i + 1]!));
      if (name !== META_FILTER_KEY && name !== META_PROPERTIES_KEY) continue; // room for later meta blocks
      const h = parseHandle(metaRun.data, metaRun.offsets[2 * i + 1]!, metaRun.offsets[2 * i + 2]!, true);
      if (h === undefined) throw new CorruptionError(`metaindex handle of ${name} does not parse`, path, metaindex.offset);
      if (name === META_FILTER_KEY) filterHandle = h;
      else propertiesHandle = h;
    }
    if (propertiesHandle === undefined) throw new CorruptionError('metaindex has no properties block', path, metaindex.offset);

    const propsBlock = readBlock(propertiesHandle, metaindex.offset);
    const propsRun = decodeBlockContents(propsBlock.bytes, propsBlock.contentsBytes, false, path, propertiesHandle.offset);
    const props: Partial<TableProperties> = {};
    for (let i = 0; i < propsRun.count; i++) {
      const name = fromUtf8(propsRun.data.subarray(propsRun.offsets[2 * i]!, propsRun.offsets[2 * i + 1]!));
      const field = PROPERTY_FIELDS[name as (typeof PROPERTY_KEYS)[number]];
      if (field === undefined) continue; // unknown properties are allowed
      const end = propsRun.offsets[2 * i + 2]!;
      getVarint(propsRun.data, propsRun.offsets[2 * i + 1]!, end, varint);
      if (varint.pos !== end) throw new CorruptionError(`property ${name} does not parse`, path, propertiesHandle.offset);
      props[field] = varint.value;
    }
    for (const key of PROPERTY_KEYS) {
      if (props[PROPERTY_FIELDS[key]] === undefined) {
        throw new CorruptionError(`properties block lacks ${key}`, path, propertiesHandle.offset);
      }
    }
    const properties = Object.freeze(props as TableProperties);

    let filter: Uint8Array | undefined;
    if (filterHandle !== undefined && loadFilter) {
      const f = readBlock(filterHandle, metaindex.offset);
      filter = f.bytes.subarray(0, f.contentsBytes);
    }

    const idx = readBlock(indexHandle, footerOffset);
    const index = decodeBlockContents(idx.bytes, idx.contentsBytes, true, path, indexHandle.offset);
    if (index.count === 0 || index.count !== properties.dataBlocks) {
      throw new CorruptionError(
        `index has ${index.count} entries for ${properties.dataBlocks} data blocks`, path, indexHandle.offset);
    }
    const blockOffsets = new Float64Array(index.count);
    const blockSizes = new Float64Array(index.count);
    let dataEnd = 0;
    for (let b = 0; b < index.count; b++) {
      const h = parseHandle(index.data, index.offsets[2 * b + 1]!, index.offsets[2 * b + 2]!, true);
      // Data blocks are back to back from offset 0, before every other block.
      if (h === undefined || h.offset !== dataEnd || h.offset + h.size + BLOCK_TRAILER_BYTES > footerOffset) {
        throw new CorruptionError(`index entry ${b} holds a bad data block handle`, path, indexHandle.offset);
      }
      blockOffsets[b] = h.offset;
      blockSizes[b] = h.size;
      dataEnd = h.offset + h.size + BLOCK_TRAILER_BYTES;
    }
    return new TableReader(
      file, path, fileNumber, engine, cache, sizeBytes, index, blockOffsets, blockSizes, filter, properties);
  }

  get fileSize(): number {
    return this.sizeBytes;
  }

  /** Point lookups the bloom filter was asked about. */
  get bloomChecks(): number {
    return this.bloomCheckCount;
  }

  /** Point lookups the bloom filter answered "absent" (no data block read). */
  get bloomUseful(): number {
    return this.bloomUsefulCount;
  }

  get dataBlockCount(): number {
    return this.index.count;
  }

  /** Data block `b`, from the cache or read, checked and decoded (then cached). */
  dataBlock(b: number): EntryRun {
    if (this.closed) assert(false, () => `read of closed table ${this.path}`);
    const offset = this.blockOffsets[b]!;
    const hit = this.cache.get(this.fileNumber, offset);
    if (hit !== undefined) return hit;
    const run = this.readDataBlock(b);
    this.cache.insert(this.fileNumber, offset, run, run.data.length + run.offsets.byteLength);
    return run;
  }

  private readDataBlock(b: number): EntryRun {
    const offset = this.blockOffsets[b]!;
    const length = this.blockSizes[b]! + BLOCK_TRAILER_BYTES;
    const bytes = this.file.read(offset, length);
    if (bytes.length !== length) throw new CorruptionError('short data block read', this.path, offset);
    return this.engine.decodeBlock(bytes, this.path, offset);
  }

  /** First data block whose last key is >= key[0..keyLen); dataBlockCount if none. */
  findBlock(key: Uint8Array, keyLen: number): number {
    return this.indexSearch.lowerBound(key, keyLen);
  }

  /**
   * The newest entry of `userKey` with sequence <= `sequence`, with its kind (a delete is returned,
   * not hidden: the caller must stop at it). undefined if the table holds no such entry.
   */
  get(userKey: Uint8Array, sequence: number): { kind: number; value: Uint8Array } | undefined {
    const kind = this.find(userKey, sequence);
    if (kind === FIND_NONE) return undefined;
    return { kind, value: this.foundData.subarray(this.foundValueStart, this.foundValueEnd) };
  }

  /**
   * get() without its result object, for the tree's point reads: returns the kind of the newest
   * entry of `userKey` with sequence <= `sequence`, or FIND_NONE. After a hit, the value is
   * foundData[foundValueStart..foundValueEnd) (a cached block's bytes: copy it, never write it),
   * valid until the next find().
   */
  find(userKey: Uint8Array, sequence: number): number {
    if (this.closed) assert(false, () => `read of closed table ${this.path}`);
    if (this.filter !== undefined) {
      this.bloomCheckCount++;
      // JS twin whatever the engine: WASM copies the whole filter in per probe (1000x slower at 1.25 MB).
      if (!bloomMayContain(this.filter, userKey)) {
        this.bloomUsefulCount++;
        return FIND_NONE;
      }
    }
    const keyLen = userKey.length + TRAILER_BYTES;
    if (this.seekScratch.length < keyLen) this.seekScratch = new Uint8Array(keyLen * 2);
    const seek = this.seekScratch;
    const n = userKey.length;
    // A loop, not set(): keys are short and set() is a builtin call.
    if (n <= 64) for (let i = 0; i < n; i++) seek[i] = userKey[i]!;
    else seek.set(userKey, 0);
    writeTrailer(seek, n, sequence, KIND_SEEK);
    const b = this.indexSearch.lowerBound(seek, keyLen);
    if (b === this.index.count) return FIND_NONE;
    const block = this.dataBlock(b);
    // Block b > 0 holds keys above index key b - 1 and up to index key b, which both start with the
    // index's common prefix, as then do these keys and the seek key (IndexSearch checked it): the
    // search skips those bytes. Block 0 may hold keys below index key 0's prefix.
    const j = lowerBound(block, seek, keyLen, b > 0 ? this.indexSearch.commonBytes : 0);
    if (j === block.count) {
      throw new CorruptionError('index key is past its data block', this.path, this.blockOffsets[b]!);
    }
    const data = block.data;
    const keyEnd = block.offsets[2 * j + 1]!;
    if (compareRange(data, block.offsets[2 * j]!, keyEnd - TRAILER_BYTES, userKey, 0, userKey.length) !== 0) return FIND_NONE;
    this.foundData = data;
    this.foundValueStart = keyEnd;
    this.foundValueEnd = block.offsets[2 * j + 2]!;
    return trailerKind(data, keyEnd);
  }

  /** A two-level iterator (index, then data blocks) over the whole table, both directions. */
  iterator(): InternalIterator {
    assert(!this.closed && !this.closing, () => `iterator of closed table ${this.path}`);
    this.openIterators++;
    return new TableIterator(this);
  }

  /**
   * The table's first and last internal keys: the first entry of data block 0 (read and decoded,
   * not cached) and the last index key (the last key of the last block).
   */
  keyRange(): { smallest: Uint8Array; largest: Uint8Array } {
    const first = this.readDataBlock(0);
    return { smallest: first.data.slice(first.offsets[0]!, first.offsets[1]!), largest: this.lastIndexKey() };
  }

  /** The last index key: the table's last internal key, known without reading a data block. */
  lastIndexKey(): Uint8Array {
    const { data, offsets, count } = this.index;
    return data.slice(offsets[2 * count - 2]!, offsets[2 * count - 1]!);
  }

  /**
   * The data blocks as a compaction input (src/engine: compactStreams), read a window at a time
   * through this reader's file; valid until close(). Open compaction inputs with loadFilter false:
   * a merge probes no filter.
   */
  blockSource(): BlockSource {
    assert(!this.closed, () => `read of closed table ${this.path}`);
    const file = this.file;
    return {
      kind: 'blocks',
      path: this.path,
      blockOffsets: this.blockOffsets,
      blockSizes: this.blockSizes,
      read: (position, length) => file.read(position, length),
    };
  }

  /**
   * The whole table as one run (tests and tools; compactions stream through blockSource()): reads all data blocks in one read, checks
   * and decodes them, and concatenates. Bypasses the cache (a compaction reads each block once).
   */
  readAll(): EntryRun {
    assert(!this.closed, () => `read of closed table ${this.path}`);
    const n = this.index.count;
    const dataEnd = this.blockOffsets[n - 1]! + this.blockSizes[n - 1]! + BLOCK_TRAILER_BYTES;
    const bytes = this.file.read(0, dataEnd);
    if (bytes.length !== dataEnd) throw new CorruptionError('short read of the data blocks', this.path, 0);
    const blocks: EntryRun[] = [];
    let totalBytes = 0;
    let totalCount = 0;
    for (let b = 0; b < n; b++) {
      const offset = this.blockOffsets[b]!;
      const run = this.engine.decodeBlock(
        bytes.subarray(offset, offset + this.blockSizes[b]! + BLOCK_TRAILER_BYTES), this.path, offset);
      if (b > 0) {
        const prev = blocks[b - 1]!;
        const c = compareInternalRange(
          prev.data, prev.offsets[2 * prev.count - 2]!, prev.offsets[2 * prev.count - 1]!,
          run.data, run.offsets[0]!, run.offsets[1]!);
        if (c >= 0) throw new CorruptionError('data blocks out of order', this.path, offset);
      }
      blocks.push(run);
      totalBytes += run.offsets[2 * run.count]! - run.offsets[0]!;
      totalCount += run.count;
    }
    if (totalCount !== this.properties.entries) {
      throw new CorruptionError(
        `data blocks hold ${totalCount} entries, properties say ${this.properties.entries}`, this.path, 0);
    }
    const data = new Uint8Array(totalBytes);
    const offsets = new Uint32Array(2 * totalCount + 1);
    let pos = 0;
    let o = 0;
    for (const run of blocks) {
      const base = run.offsets[0]!;
      const end = run.offsets[2 * run.count]!;
      data.set(run.data.subarray(base, end), pos);
      for (let i = 0; i < 2 * run.count; i++) offsets[o++] = run.offsets[i]! - base + pos;
      pos += end - base;
    }
    offsets[o] = pos;
    return { data, offsets, count: totalCount };
  }

  /**
   * Closes the file, now or (if iterators are open) when the last one closes. Idempotent. Blocks of
   * this file stay in the shared cache; the owner evicts them when the file is deleted.
   */
  close(): void {
    this.closing = true;
    if (this.openIterators === 0 && !this.closed) {
      this.closed = true;
      this.file.close();
    }
  }

  /** Called once by each TableIterator's close(). */
  releaseIterator(): void {
    assert(this.openIterators > 0, 'iterator release matches an open');
    this.openIterators--;
    if (this.closing) this.close();
  }
}

/** Two-level iterator: a position in the index (block) and in that block's decoded run (entry). */
class TableIterator implements InternalIterator {
  private blockIndex = -1;
  private block: EntryRun | undefined;
  private entry = 0;
  private released = false;

  constructor(private readonly table: TableReader) {}

  valid(): boolean {
    return this.block !== undefined;
  }

  private load(b: number): EntryRun {
    assert(!this.released, 'iterator used after close');
    this.blockIndex = b;
    const block = this.table.dataBlock(b);
    this.block = block;
    return block;
  }

  private invalidate(): void {
    this.block = undefined;
    this.blockIndex = -1;
  }

  seekToFirst(): void {
    if (this.table.dataBlockCount === 0) return this.invalidate();
    this.load(0);
    this.entry = 0;
  }

  seekToLast(): void {
    const n = this.table.dataBlockCount;
    if (n === 0) return this.invalidate();
    this.entry = this.load(n - 1).count - 1;
  }

  seek(target: Uint8Array): void {
    const b = this.table.findBlock(target, target.length);
    if (b === this.table.dataBlockCount) return this.invalidate();
    const block = this.load(b);
    this.entry = lowerBound(block, target, target.length);
    // The index key is the block's last key, so the target is in this block (if the table is sane).
    if (this.entry === block.count) this.nextBlock();
  }

  seekForPrev(target: Uint8Array): void {
    const b = this.table.findBlock(target, target.length);
    if (b === this.table.dataBlockCount) return this.seekToLast();
    const block = this.load(b);
    const j = lowerBound(block, target, target.length);
    const exact = j < block.count &&
      compareInternalRange(block.data, block.offsets[2 * j]!, block.offsets[2 * j + 1]!, target, 0, target.length) === 0;
    this.entry = exact ? j : j - 1;
    if (this.entry < 0) this.prevBlock();
  }

  next(): void {
    assert(this.block !== undefined, 'next() on an invalid iterator');
    this.entry++;
    if (this.entry >= this.block.count) this.nextBlock();
  }

  prev(): void {
    assert(this.block !== undefined, 'prev() on an invalid iterator');
    this.entry--;
    if (this.entry < 0) this.prevBlock();
  }

  private nextBlock(): void {
    const b = this.blockIndex + 1;
    if (b >= this.table.dataBlockCount) return this.invalidate();
    this.load(b);
    this.entry = 0;
  }

  private prevBlock(): void {
    const b = this.blockIndex - 1;
    if (b < 0) return this.invalidate();
    this.entry = this.load(b).count - 1;
  }

  key(): Uint8Array {
    const block = this.block;
    assert(block !== undefined, 'key() on an invalid iterator');
    return block.data.subarray(block.offsets[2 * this.entry]!, block.offsets[2 * this.entry + 1]!);
  }

  value(): Uint8Array {
    const block = this.block;
    assert(block !== undefined, 'value() on an invalid iterator');
    return block.data.subarray(block.offsets[2 * this.entry + 1]!, block.offsets[2 * this.entry + 2]!);
  }

  close(): void {
    if (this.released) return;
    this.released = true;
    this.invalidate();
    this.table.releaseIterator();
  }
}
