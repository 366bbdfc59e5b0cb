/**
 * SSTable builder: turns one sorted run into one or more complete table files, as
 * docs/format/sstable.md lays them out (after leveldb's table/table_builder.cc, with lsmraft's
 * whole-table bloom filter, properties block and versioned, checksummed footer). Twin of
 * asm/table.ts: the same run and options give the same bytes.
 *
 * What must hold:
 * - a data block is cut right after the entry that brings its contents size (entryBytes +
 *   4 * restarts + 4) to at least blockSizeBytes;
 * - a table is cut only before an entry whose user key differs from the previous entry's, once the
 *   table's size so far (finished blocks with trailers, plus the open block's contents size) is at
 *   least targetFileSizeBytes: all versions of a user key land in one table.
 *
 * All blocks of a table are appended to one reused ByteSink; the finished table is copied out once.
 */
import type { BuiltTable, EntryRun, TableCutOptions } from '../types.js';
import { assert, INVARIANTS } from '../../util/assert.js';
import { compareRange, putFixed32, putVarint, utf8 } from '../../util/bytes.js';
import { compareInternalRange, KIND_DELETE, TRAILER_BYTES, trailerKind, trailerSequence } from '../../format/internal-key.js';
import { appendRawBlock, BlockWriter, ByteSink } from './block.js';
import { bloomFromHashes, bloomHash } from './bloom.js';
import { crc32c, maskCrc } from '../../format/crc32c.js';

export const FOOTER_BYTES = 56;
export const FOOTER_HANDLES_BYTES = 40;
export const TABLE_FORMAT_VERSION = 1;
/** "lsmraft." */
export const TABLE_MAGIC: Uint8Array = Uint8Array.of(0x6c, 0x73, 0x6d, 0x72, 0x61, 0x66, 0x74, 0x2e);
export const META_FILTER_KEY = 'filter.lsmraft.bloom';
export const META_PROPERTIES_KEY = 'lsmraft.properties';

/** Property names, in the sorted order the properties block stores them. */
export const PROPERTY_KEYS = [
  'lsmraft.data_blocks',
  'lsmraft.deletions',
  'lsmraft.entries',
  'lsmraft.filter_bits_per_key',
  'lsmraft.largest_seq',
  'lsmraft.raw_key_bytes',
  'lsmraft.raw_value_bytes',
  'lsmraft.smallest_seq',
] as const;

const PROPERTY_KEY_BYTES = PROPERTY_KEYS.map((k) => utf8(k));
const META_FILTER_KEY_BYTES = utf8(META_FILTER_KEY);
const META_PROPERTIES_KEY_BYTES = utf8(META_PROPERTIES_KEY);
/** Two varints of values < 2^53: at most 8 bytes each (docs/format/sstable.md). */
const HANDLE_BYTES_MAX = 16;

export function validateTableOptions(options: TableCutOptions): void {
  assert(Number.isInteger(options.blockSizeBytes) && options.blockSizeBytes >= 1, 'blockSizeBytes >= 1');
  assert(Number.isInteger(options.restartInterval) && options.restartInterval >= 1, 'restartInterval >= 1');
  assert(Number.isInteger(options.bloomBitsPerKey) && options.bloomBitsPerKey >= 0, 'bloomBitsPerKey >= 0');
  assert(Number.isInteger(options.targetFileSizeBytes) && options.targetFileSizeBytes >= 1, 'targetFileSizeBytes >= 1');
}

/** Builds the tables of one run; holds the reusable buffers of one buildTables() call. */
class TablesBuilder {
  private readonly sink: ByteSink;
  private readonly data: BlockWriter;
  private readonly indexSink = new ByteSink(4096);
  private readonly index = new BlockWriter(this.indexSink);
  private readonly handle = new Uint8Array(HANDLE_BYTES_MAX);
  private hashes: Uint32Array;
  private readonly out: BuiltTable[] = [];

  // Per table.
  private tableStart = 0;
  private blockStart = 0;
  private hashCount = 0;
  private dataBlocks = 0;
  private deletions = 0;
  private smallestSeq = 0;
  private largestSeq = 0;
  private rawKeyBytes = 0;
  private rawValueBytes = 0;

  constructor(private readonly run: EntryRun, private readonly options: TableCutOptions) {
    const runBytes = run.offsets[2 * run.count]! - run.offsets[0]!;
    this.sink = new ByteSink(Math.min(runBytes, options.targetFileSizeBytes) + 2 * options.blockSizeBytes + 1024);
    this.data = new BlockWriter(this.sink);
    this.hashes = new Uint32Array(Math.min(run.count, 1 << 16));
  }

  build(): BuiltTable[] {
    const { run, options } = this;
    const { data, offsets, count } = run;
    const target = options.targetFileSizeBytes;
    const blockSize = options.blockSizeBytes;
    this.startTable(0);
    let prevUserStart = 0;
    let prevUserEnd = 0;
    for (let i = 0; i < count; i++) {
      const keyStart = offsets[2 * i]!;
      const keyEnd = offsets[2 * i + 1]!;
      const valueEnd = offsets[2 * i + 2]!;
      const userEnd = keyEnd - TRAILER_BYTES;
      const newUserKey = i === this.tableStart || compareRange(data, prevUserStart, prevUserEnd, data, keyStart, userEnd) !== 0;
      if (newUserKey && i > this.tableStart && this.tableSizeBytes() >= target) {
        this.finishTable(i);
        this.startTable(i);
      }
      if (this.data.entries === 0) {
        this.blockStart = this.sink.length;
        this.data.reset(options.restartInterval);
      }
      this.data.add(data, keyStart, keyEnd, data, keyEnd, valueEnd);
      if (newUserKey) {
        if (this.hashCount === this.hashes.length) {
          const grown = new Uint32Array(this.hashes.length * 2 + 16);
          grown.set(this.hashes);
          this.hashes = grown;
        }
        this.hashes[this.hashCount++] = bloomHash(data, keyStart, userEnd);
        prevUserStart = keyStart;
        prevUserEnd = userEnd;
      }
      const seq = trailerSequence(data, keyEnd);
      if (seq < this.smallestSeq) this.smallestSeq = seq;
      if (seq > this.largestSeq) this.largestSeq = seq;
      if (trailerKind(data, keyEnd) === KIND_DELETE) this.deletions++;
      this.rawKeyBytes += keyEnd - keyStart;
      this.rawValueBytes += valueEnd - keyEnd;
      if (this.data.contentsBytes() >= blockSize) this.finishDataBlock(keyStart, keyEnd);
    }
    this.finishTable(count);
    return this.out;
  }

  /** Finished blocks with trailers plus the open block's contents size (0 if it has no entry). */
  private tableSizeBytes(): number {
    return this.data.entries === 0 ? this.sink.length : this.blockStart + this.data.contentsBytes();
  }

  private startTable(start: number): void {
    this.tableStart = start;
    this.sink.length = 0;
    this.indexSink.length = 0;
    this.index.reset(1);
    this.data.reset(this.options.restartInterval);
    this.blockStart = 0;
    this.hashCount = 0;
    this.dataBlocks = 0;
    this.deletions = 0;
    this.smallestSeq = Number.MAX_SAFE_INTEGER;
    this.largestSeq = 0;
    this.rawKeyBytes = 0;
    this.rawValueBytes = 0;
  }

  private encodeHandle(offset: number, size: number): number {
    return putVarint(this.handle, putVarint(this.handle, 0, offset), size);
  }

  /** Finishes the open data block whose last key is run.data[lastKeyStart..lastKeyEnd). */
  private finishDataBlock(lastKeyStart: number, lastKeyEnd: number): void {
    const contentsBytes = this.data.finish();
    const n = this.encodeHandle(this.blockStart, contentsBytes);
    this.index.add(this.run.data, lastKeyStart, lastKeyEnd, this.handle, 0, n);
    this.dataBlocks++;
  }

  /** Writes the meta blocks, index and footer of the table holding entries [tableStart, end). */
  private finishTable(end: number): void {
    const { run, sink, options } = this;
    assert(end > this.tableStart, 'a table holds at least one entry');
    if (this.data.entries > 0) this.finishDataBlock(run.offsets[2 * (end - 1)]!, run.offsets[2 * end - 1]!);

    let filterOffset = -1;
    let filterBytes = 0;
    if (options.bloomBitsPerKey > 0) {
      const filter = bloomFromHashes(this.hashes, this.hashCount, options.bloomBitsPerKey);
      filterOffset = sink.length;
      filterBytes = filter.length;
      appendRawBlock(sink, filter);
    }

    const values = [
      this.dataBlocks, this.deletions, end - this.tableStart, options.bloomBitsPerKey,
      this.largestSeq, this.rawKeyBytes, this.rawValueBytes, this.smallestSeq,
    ];
    const propertiesOffset = sink.length;
    const meta = new BlockWriter(sink);
    meta.reset(1);
    for (let p = 0; p < PROPERTY_KEY_BYTES.length; p++) {
      const key = PROPERTY_KEY_BYTES[p]!;
      const n = putVarint(this.handle, 0, values[p]!);
      meta.add(key, 0, key.length, this.handle, 0, n);
    }
    const propertiesBytes = meta.finish();

    const metaindexOffset = sink.length;
    meta.reset(1);
    if (filterOffset >= 0) {
      const n = this.encodeHandle(filterOffset, filterBytes);
      meta.add(META_FILTER_KEY_BYTES, 0, META_FILTER_KEY_BYTES.length, this.handle, 0, n);
    }
    const n = this.encodeHandle(propertiesOffset, propertiesBytes);
    meta.add(META_PROPERTIES_KEY_BYTES, 0, META_PROPERTIES_KEY_BYTES.length, this.handle, 0, n);
    const metaindexBytes = meta.finish();

    const indexOffset = sink.length;
    const indexBytes = this.index.finish();
    sink.reserve(this.indexSink.length + FOOTER_BYTES);
    sink.buf.set(this.indexSink.buf.subarray(0, this.indexSink.length), indexOffset);
    sink.length += this.indexSink.length;

    const footerStart = sink.length;
    const buf = sink.buf;
    buf.fill(0, footerStart, footerStart + FOOTER_BYTES);
    let pos = putVarint(buf, footerStart, metaindexOffset);
    pos = putVarint(buf, pos, metaindexBytes);
    pos = putVarint(buf, pos, indexOffset);
    pos = putVarint(buf, pos, indexBytes);
    assert(pos <= footerStart + FOOTER_HANDLES_BYTES, 'footer handles fit in 40 bytes');
    putFixed32(buf, footerStart + FOOTER_HANDLES_BYTES, TABLE_FORMAT_VERSION);
    const crc = crc32c(buf.subarray(footerStart, footerStart + FOOTER_HANDLES_BYTES + 4));
    putFixed32(buf, footerStart + FOOTER_HANDLES_BYTES + 4, maskCrc(crc));
    buf.set(TABLE_MAGIC, footerStart + FOOTER_HANDLES_BYTES + 8);
    sink.length += FOOTER_BYTES;

    const { data, offsets } = run;
    this.out.push({
      bytes: buf.slice(0, sink.length),
      smallestKey: data.slice(offsets[2 * this.tableStart]!, offsets[2 * this.tableStart + 1]!),
      largestKey: data.slice(offsets[2 * (end - 1)]!, offsets[2 * end - 1]!),
      entryCount: end - this.tableStart,
      deletionCount: this.deletions,
      smallestSequence: this.smallestSeq,
      largestSequence: this.largestSeq,
    });
  }
}

/** Builds complete SSTable files from `run` (none for an empty run), cut at user-key boundaries. */
export function buildTables(run: EntryRun, options: TableCutOptions): BuiltTable[] {
  validateTableOptions(options);
  if (run.count === 0) return [];
  if (INVARIANTS) {
    // Prefix compression, the index and the table cuts all rely on a strictly sorted run.
    const { data, offsets } = run;
    for (let i = 1; i < run.count; i++) {
      assert(compareInternalRange(
        data, offsets[2 * i - 2]!, offsets[2 * i - 1]!, data, offsets[2 * i]!, offsets[2 * i + 1]!) < 0,
      () => `buildTables input is strictly sorted (entry ${i})`);
    }
  }
  return new TablesBuilder(run, options).build();
}
