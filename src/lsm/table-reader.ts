/**
 * SSTable reader (docs/format/sstable.md), after leveldb's table/table.cc and two_level_iterator.cc:
 * open() reads and checks the footer, then the metaindex, properties, filter and index blocks, and
 * keeps them in memory for as long as the table is open (leveldb pins them the same way; their bytes
 * are pinnedBytes, which the table cache bounds). Data blocks are read on demand, their checksums
 * checked, and their raw contents shared through the block cache (keyed by file number and block
 * offset), as leveldb and RocksDB cache them: a point read searches a block in place over its
 * restart points (src/lsm/block-seek.ts) and copies out only the value; an iterator decodes the
 * whole block once into a run it walks.
 *
 * What must hold: every byte read from the file is checked (footer checksum, each block's
 * checksum, every handle inside the file) before it is trusted, and any failure is a
 * CorruptionError naming the file and the offset of what failed. Point reads consult the bloom
 * filter first. A reader closed while iterators are open stays usable by them: the file is closed
 * when the last of them closes (a table cache may evict a reader an iterator still walks).
 */
import type { BlockSource, EntryRun, HotPaths } from '../engine/types.js';
import { BlockSeeker } from './block-seek.js';
import { IndexSearch } from './index-search.js';
import type { BlockCache } from './block-cache.js';
import type { FileSystem, RandomAccessFile } from './fs.js';
import type { InternalIterator } from './iterator.js';
import type { Readahead } from './readahead.js';
import { TableIterator } from './table-iterator.js';
import { CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import { compareRange, fromUtf8, getFixed32, getVarint, type VarintRead } from '../util/bytes.js';
import { compareInternalRange, KIND_SEEK, TRAILER_BYTES, trailerKind, writeTrailer } from '../format/internal-key.js';
import { BLOCK_TRAILER_BYTES, decodeBlockContents, verifyBlockTrailer } from '../engine/js/block.js';
import { BLOCK_TYPE_LZ4, decompressContents } from '../engine/js/block-compression.js';
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

/**
 * A data block as the block cache holds it: its raw contents, which point reads search in place,
 * and its decoded run once an iterator has read it (charged to the cache as well).
 */
export class CachedBlock {
  constructor(
    public contents: Uint8Array,
    public run: EntryRun | undefined = undefined,
  ) {}
}

/** Block read buffers are allocated in multiples of this, so one can be reused for another block. */
const BLOCK_BUFFER_ROUND_BYTES = 128;

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

export class TableReader {
  private bloomCheckCount = 0;
  private bloomUsefulCount = 0;
  private openIterators = 0;
  private closing = false;
  private closed = false;
  private seekScratch = new Uint8Array(64);
  private readonly seeker = new BlockSeeker();
  /** The engine's CRC32C, bound once: block checks on the read path. */
  private readonly checksum = (data: Uint8Array): number => this.engine.crc32c(data);
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
    private readonly cache: BlockCache<CachedBlock>,
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
    fs: FileSystem, path: string, fileNumber: number, engine: HotPaths, cache: BlockCache<CachedBlock>, loadFilter = true,
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
    file: RandomAccessFile, path: string, fileNumber: number, engine: HotPaths, cache: BlockCache<CachedBlock>,
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

  /**
   * Bytes this open table keeps in memory whatever the block cache holds: its decoded index (keys,
   * offsets, the search words), its block handles and its bloom filter. The table cache bounds
   * their sum (src/lsm/table-cache.ts).
   */
  get pinnedBytes(): number {
    return this.index.data.byteLength + this.index.offsets.byteLength + this.indexSearch.wordBytes +
      this.blockOffsets.byteLength + this.blockSizes.byteLength + (this.filter?.byteLength ?? 0);
  }

  get dataBlockCount(): number {
    return this.index.count;
  }

  /** Bytes of the data blocks with their trailers: they lie back to back from offset 0. */
  get dataBytes(): number {
    const last = this.index.count - 1;
    return this.blockOffsets[last]! + this.blockSizes[last]! + BLOCK_TRAILER_BYTES;
  }

  /**
   * Data block `b` from the cache, or read, checked and cached. Its contents: read them, never
   * write them, and only until the next read through this cache (a dropped block's buffer is
   * reused for the next read).
   */
  cachedBlock(b: number): CachedBlock {
    if (this.closed) assert(false, () => `read of closed table ${this.path}`);
    const hit = this.cache.get(this.fileNumber, this.blockOffsets[b]!);
    return hit ?? this.loadBlock(b);
  }

  /** Data block `b`, not in the cache: read, checked, decompressed and cached. */
  private loadBlock(b: number): CachedBlock {
    const offset = this.blockOffsets[b]!;
    const spare = this.cache.takeSpare();
    const bytes = this.readBlockBytes(offset, this.blockSizes[b]! + BLOCK_TRAILER_BYTES, spare);
    const contentsBytes = verifyBlockTrailer(bytes, this.path, offset, true, this.checksum);
    // The cache holds raw (uncompressed) contents: a point read searches them in place.
    const contents = bytes[contentsBytes] === BLOCK_TYPE_LZ4
      ? decompressContents(bytes, contentsBytes, this.path, offset)
      : bytes.subarray(0, contentsBytes);
    const block = spare ?? new CachedBlock(contents);
    block.contents = contents;
    block.run = undefined;
    // Charged the whole buffer: the trailer's bytes and any slack stay allocated with the contents.
    this.cache.insert(this.fileNumber, offset, block, contents.buffer.byteLength);
    return block;
  }

  /** The raw contents of data block `b` (trailer checked and cut off); cachedBlock() says for how long they hold. */
  dataBlockContents(b: number): Uint8Array {
    return this.cachedBlock(b).contents;
  }

  /**
   * `length` bytes at `offset`, read into the buffer of a block the cache dropped if one is big
   * enough, else into a new buffer rounded up to BLOCK_BUFFER_ROUND_BYTES (so it can serve later
   * blocks of about the same size); a file system without readInto allocates each read.
   */
  private readBlockBytes(offset: number, length: number, spare: CachedBlock | undefined): Uint8Array {
    const file = this.file;
    if (file.readInto === undefined) {
      const bytes = file.read(offset, length);
      if (bytes.length !== length) throw new CorruptionError('short data block read', this.path, offset);
      return bytes;
    }
    const buffer = spare !== undefined && spare.contents.buffer.byteLength >= length
      ? spare.contents.buffer
      : new ArrayBuffer(Math.ceil(length / BLOCK_BUFFER_ROUND_BYTES) * BLOCK_BUFFER_ROUND_BYTES);
    const bytes = new Uint8Array(buffer, 0, length);
    if (file.readInto(bytes, offset) !== length) throw new CorruptionError('short data block read', this.path, offset);
    return bytes;
  }

  /**
   * Data block `b` decoded into a run (for iterators and checks), its layout and key order checked.
   * A block found in the cache (read before: hot) keeps its run when the cache has room for it
   * too, so iterators seeking in a hot block do not decode it again; a block just read does not,
   * so a long scan does not double what its blocks cost the cache. A run is never reused: it
   * stays valid while held.
   */
  dataBlock(b: number): EntryRun {
    const hitsBefore = this.cache.hits;
    const block = this.cachedBlock(b);
    if (block.run !== undefined) return block.run;
    const offset = this.blockOffsets[b]!;
    const run = decodeBlockContents(block.contents, block.contents.length, true, this.path, offset);
    const hot = this.cache.hits !== hitsBefore;
    if (hot && this.cache.addCharge(this.fileNumber, offset, run.data.byteLength + run.offsets.byteLength)) block.run = run;
    return run;
  }

  /**
   * Data block `b` for a sequential scan: decoded from the cache when the block is cached, else
   * read through the iterator's readahead window, checked and decoded by the engine without
   * entering the cache (src/lsm/readahead.ts says why). The run owns its bytes.
   */
  scanBlock(b: number, readahead: Readahead): EntryRun {
    if (this.closed) assert(false, () => `read of closed table ${this.path}`);
    const offset = this.blockOffsets[b]!;
    const cached = this.cache.get(this.fileNumber, offset);
    if (cached !== undefined) {
      // Its run, if a seek left one; else decoded, not charged: a run added per scanned block
      // would evict as many bytes of other blocks as a filled cache would.
      return cached.run ?? decodeBlockContents(cached.contents, cached.contents.length, true, this.path, offset);
    }
    const bytes = readahead.view(this.file, this.path, offset, this.blockSizes[b]! + BLOCK_TRAILER_BYTES, this.dataBytes);
    // The engine checks, decompresses and decodes in one call: the WASM twin does all three for
    // about what the JS decode alone costs (bench/hotpaths.bench.ts decodeBlock).
    return this.engine.decodeBlock(bytes, this.path, offset);
  }

  /** Data block `b` read, checked and decoded by the engine, bypassing the cache. */
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
   * not hidden: the caller must stop at it). undefined if the table holds no such entry. The value
   * is valid as long as find()'s is.
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
   * valid until the next read of any table sharing this block cache (a dropped block's buffer is
   * reused for the next read).
   *
   * With `filterFirst` (the default) the bloom filter is asked before anything else, as leveldb
   * does: a table that may not hold the key costs only the probe. Without it the filter is asked
   * only before a data block is read from the file: a block already cached is searched as cheaply
   * as the filter's k scattered bits are probed. The tree's point read passes false for the last
   * table it would read (a hit there is the common case, RocksDB's optimize_filters_for_hits
   * reasoning), true for tables above it.
   */
  find(userKey: Uint8Array, sequence: number, filterFirst = true): number {
    if (this.closed) assert(false, () => `read of closed table ${this.path}`);
    if (filterFirst && !this.filterMayContain(userKey)) return FIND_NONE;
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
    const offset = this.blockOffsets[b]!;
    let cached = this.cache.get(this.fileNumber, offset);
    if (cached === undefined) {
      if (!filterFirst && !this.filterMayContain(userKey)) return FIND_NONE;
      cached = this.loadBlock(b);
    }
    const block = cached.contents;
    const seeker = this.seeker;
    // The index key is the block's last key and is >= the seek key: an entry >= it is in the block.
    if (!seeker.seek(block, seek, keyLen, this.path, offset)) {
      throw new CorruptionError('index key is past its data block', this.path, offset);
    }
    const keyEnd = seeker.keyLength - TRAILER_BYTES;
    if (compareRange(seeker.key, 0, keyEnd, userKey, 0, n) !== 0) return FIND_NONE;
    this.foundData = block;
    this.foundValueStart = seeker.valueStart;
    this.foundValueEnd = seeker.valueEnd;
    return trailerKind(seeker.key, seeker.keyLength);
  }

  /** The bloom filter's answer for `userKey` (true without a filter), counted in bloomChecks and bloomUseful. */
  private filterMayContain(userKey: Uint8Array): boolean {
    if (this.filter === undefined) return true;
    this.bloomCheckCount++;
    // JS twin whatever the engine: WASM copies the whole filter in per probe (1000x slower at 1.25 MB).
    if (bloomMayContain(this.filter, userKey)) return true;
    this.bloomUsefulCount++;
    return false;
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

  /**
   * Data block b's index key (an internal key at or past the block's last key and below the next
   * block's first), a view valid while the reader is open: where a subcompaction may split a job
   * (src/lsm/subcompactions.ts).
   */
  indexKey(b: number): Uint8Array {
    const { data, offsets } = this.index;
    return data.subarray(offsets[2 * b]!, offsets[2 * b + 1]!);
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

export { SCAN_BLOCKS_BEFORE_READAHEAD } from './table-iterator.js';
