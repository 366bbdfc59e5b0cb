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
 *   least targetFileSizeBytes: all versions of a user key land in one table;
 * - with blockCompression 'lz4' (the default) a finished data block is stored LZ4-compressed when
 *   that saves 1/8 and it is tried (./block-compression.ts: a long streak of incompressible
 *   blocks is tried only now and then) and the footer says version 2; block cuts count raw
 *   contents, table cuts the finished blocks as stored.
 *
 * TableWriter streams one table at a time (flush and compaction, src/engine/js/compact-stream.ts);
 * buildTables runs it over a whole run and copies each finished table out once.
 */
import type { BuiltTable, EntryRun, TableCutOptions, TableOptions, TableSummary } from '../types.js';
import { assert, INVARIANTS } from '../../util/assert.js';
import { compareRange, putFixed32, putVarint, utf8 } from '../../util/bytes.js';
import { compareInternalRange, KIND_DELETE, TRAILER_BYTES, trailerKind, trailerSequence } from '../../format/internal-key.js';
import { appendRawBlock, BlockWriter, ByteSink } from './block.js';
import { CompressionGate } from './block-compression.js';
import { bloomFromHashes, bloomHash } from './bloom.js';
import { crc32c, maskCrc } from '../../format/crc32c.js';

export const FOOTER_BYTES = 56;
export const FOOTER_HANDLES_BYTES = 40;
/** Version 1: every block uncompressed. Version 2: data blocks may be LZ4-compressed. */
export const TABLE_FORMAT_VERSION_PLAIN = 1;
export const TABLE_FORMAT_VERSION_COMPRESSED = 2;
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
  assert(options.blockCompression === undefined || options.blockCompression === 'none' || options.blockCompression === 'lz4',
    () => `blockCompression ${String(options.blockCompression)}`);
}

/** True when tables are written with compressed data blocks (the default). */
export function compressesBlocks(options: TableOptions): boolean {
  return options.blockCompression !== 'none';
}

/**
 * Writes tables one at a time, streaming: entries go into data blocks in a reused ByteSink, and
 * once the finished blocks reach `flushBytes` they are handed to `out` (a view, valid during the
 * call) and the sink starts over. What stays in memory is one open block, the finished blocks not
 * yet handed out, and the table's index block and filter hashes: O(flushBytes + blockSizeBytes +
 * index and filter of one table). buildTables passes flushBytes = Infinity: each table whole.
 * REQUIRES: the key bytes of the last entry added stay unchanged until the next add() (they are
 * read in place for prefix compression and the index).
 */
export class TableWriter {
  private readonly sink: ByteSink;
  private readonly data: BlockWriter;
  private readonly indexSink = new ByteSink(4096);
  private readonly index = new BlockWriter(this.indexSink);
  private readonly handle = new Uint8Array(HANDLE_BYTES_MAX);
  private hashes = new Uint32Array(1024);
  private readonly compress: boolean;
  private readonly gate = new CompressionGate();

  // Per table.
  private entries = 0;
  /** Bytes of this table already handed to `out`. */
  private flushedBytes = 0;
  private blockStart = 0;
  private hashCount = 0;
  private dataBlocks = 0;
  private deletions = 0;
  private smallestSeq = 0;
  private largestSeq = 0;
  private rawKeyBytes = 0;
  private rawValueBytes = 0;
  private firstKey: Uint8Array = new Uint8Array(0);
  private lastKey: Uint8Array = new Uint8Array(0);
  private lastStart = 0;
  private lastEnd = 0;

  constructor(
    private readonly options: TableOptions,
    private readonly flushBytes: number,
    private readonly out: (bytes: Uint8Array) => void,
    initialBytes: number,
  ) {
    this.sink = new ByteSink(initialBytes);
    this.data = new BlockWriter(this.sink);
    this.compress = compressesBlocks(options);
  }

  /** Entries in the open table (0: none is open). */
  get entryCount(): number {
    return this.entries;
  }

  /** The open table's size so far: finished blocks with trailers, plus the open block's contents. */
  sizeBytes(): number {
    return this.flushedBytes + (this.data.entries === 0 ? this.sink.length : this.blockStart + this.data.contentsBytes());
  }

  /** True when the open table is to be cut before the entry whose key is key[keyStart..keyEnd). */
  cutBefore(key: Uint8Array, keyStart: number, keyEnd: number, targetFileSizeBytes: number): boolean {
    return this.entries > 0 && this.sizeBytes() >= targetFileSizeBytes &&
      compareRange(this.lastKey, this.lastStart, this.lastEnd - TRAILER_BYTES, key, keyStart, keyEnd - TRAILER_BYTES) !== 0;
  }

  add(key: Uint8Array, keyStart: number, keyEnd: number, value: Uint8Array, valueStart: number, valueEnd: number): void {
    const userEnd = keyEnd - TRAILER_BYTES;
    const newUserKey = this.entries === 0 ||
      compareRange(this.lastKey, this.lastStart, this.lastEnd - TRAILER_BYTES, key, keyStart, userEnd) !== 0;
    if (this.entries === 0) this.startTable(key, keyStart, keyEnd);
    if (this.data.entries === 0) {
      this.blockStart = this.sink.length;
      this.data.reset(this.options.restartInterval);
    }
    this.data.add(key, keyStart, keyEnd, value, valueStart, valueEnd);
    if (newUserKey) {
      if (this.hashCount === this.hashes.length) {
        const grown = new Uint32Array(this.hashes.length * 2);
        grown.set(this.hashes);
        this.hashes = grown;
      }
      this.hashes[this.hashCount++] = bloomHash(key, keyStart, userEnd);
    }
    const seq = trailerSequence(key, keyEnd);
    if (seq < this.smallestSeq) this.smallestSeq = seq;
    if (seq > this.largestSeq) this.largestSeq = seq;
    if (trailerKind(key, keyEnd) === KIND_DELETE) this.deletions++;
    this.rawKeyBytes += keyEnd - keyStart;
    this.rawValueBytes += valueEnd - valueStart;
    this.lastKey = key;
    this.lastStart = keyStart;
    this.lastEnd = keyEnd;
    this.entries++;
    if (this.data.contentsBytes() >= this.options.blockSizeBytes) {
      this.finishDataBlock();
      if (this.sink.length >= this.flushBytes) {
        this.out(this.sink.buf.subarray(0, this.sink.length));
        this.flushedBytes += this.sink.length;
        this.sink.length = 0;
      }
    }
  }

  private startTable(key: Uint8Array, keyStart: number, keyEnd: number): void {
    this.firstKey = key.slice(keyStart, keyEnd);
    this.gate.reset();
    this.flushedBytes = 0;
    this.sink.length = 0;
    this.indexSink.length = 0;
    this.index.reset(1);
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

  /** Finishes the open data block; its index key is the last key added. */
  private finishDataBlock(): void {
    const tried = this.compress && this.gate.shouldTry();
    const contentsBytes = this.data.finish(tried);
    if (tried) this.gate.record(this.data.compressedLast);
    const n = this.encodeHandle(this.flushedBytes + this.blockStart, contentsBytes);
    this.index.add(this.lastKey, this.lastStart, this.lastEnd, this.handle, 0, n);
    this.dataBlocks++;
  }

  /** Writes the open table's meta blocks, index and footer, hands out its last bytes; summary. */
  finish(): TableSummary {
    const { sink, options } = this;
    assert(this.entries > 0, 'a table holds at least one entry');
    if (this.data.entries > 0) this.finishDataBlock();

    let filterOffset = -1;
    let filterBytes = 0;
    if (options.bloomBitsPerKey > 0) {
      const filter = bloomFromHashes(this.hashes, this.hashCount, options.bloomBitsPerKey);
      filterOffset = this.flushedBytes + sink.length;
      filterBytes = filter.length;
      appendRawBlock(sink, filter);
    }

    const values = [
      this.dataBlocks, this.deletions, this.entries, options.bloomBitsPerKey,
      this.largestSeq, this.rawKeyBytes, this.rawValueBytes, this.smallestSeq,
    ];
    const propertiesOffset = this.flushedBytes + sink.length;
    const meta = new BlockWriter(sink);
    meta.reset(1);
    for (let p = 0; p < PROPERTY_KEY_BYTES.length; p++) {
      const key = PROPERTY_KEY_BYTES[p]!;
      const n = putVarint(this.handle, 0, values[p]!);
      meta.add(key, 0, key.length, this.handle, 0, n);
    }
    const propertiesBytes = meta.finish();

    const metaindexOffset = this.flushedBytes + sink.length;
    meta.reset(1);
    if (filterOffset >= 0) {
      const n = this.encodeHandle(filterOffset, filterBytes);
      meta.add(META_FILTER_KEY_BYTES, 0, META_FILTER_KEY_BYTES.length, this.handle, 0, n);
    }
    const n = this.encodeHandle(propertiesOffset, propertiesBytes);
    meta.add(META_PROPERTIES_KEY_BYTES, 0, META_PROPERTIES_KEY_BYTES.length, this.handle, 0, n);
    const metaindexBytes = meta.finish();

    const indexOffset = this.flushedBytes + sink.length;
    const indexBytes = this.index.finish();
    sink.reserve(this.indexSink.length + FOOTER_BYTES);
    sink.buf.set(this.indexSink.buf.subarray(0, this.indexSink.length), sink.length);
    sink.length += this.indexSink.length;

    const footerStart = sink.length;
    const buf = sink.buf;
    buf.fill(0, footerStart, footerStart + FOOTER_BYTES);
    let pos = putVarint(buf, footerStart, metaindexOffset);
    pos = putVarint(buf, pos, metaindexBytes);
    pos = putVarint(buf, pos, indexOffset);
    pos = putVarint(buf, pos, indexBytes);
    assert(pos <= footerStart + FOOTER_HANDLES_BYTES, 'footer handles fit in 40 bytes');
    putFixed32(buf, footerStart + FOOTER_HANDLES_BYTES,
      this.compress ? TABLE_FORMAT_VERSION_COMPRESSED : TABLE_FORMAT_VERSION_PLAIN);
    const crc = crc32c(buf.subarray(footerStart, footerStart + FOOTER_HANDLES_BYTES + 4));
    putFixed32(buf, footerStart + FOOTER_HANDLES_BYTES + 4, maskCrc(crc));
    buf.set(TABLE_MAGIC, footerStart + FOOTER_HANDLES_BYTES + 8);
    sink.length += FOOTER_BYTES;

    this.out(buf.subarray(0, sink.length));
    const summary: TableSummary = {
      fileBytes: this.flushedBytes + sink.length,
      smallestKey: this.firstKey,
      largestKey: this.lastKey.slice(this.lastStart, this.lastEnd),
      entryCount: this.entries,
      deletionCount: this.deletions,
      smallestSequence: this.smallestSeq,
      largestSequence: this.largestSeq,
    };
    this.entries = 0;
    sink.length = 0;
    return summary;
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
  const { data, offsets, count } = run;
  const tables: BuiltTable[] = [];
  let bytes: Uint8Array = new Uint8Array(0);
  const runBytes = offsets[2 * count]! - offsets[0]!;
  const writer = new TableWriter(options, Infinity, (b) => { bytes = b.slice(); },
    Math.min(runBytes, options.targetFileSizeBytes) + 2 * options.blockSizeBytes + 1024);
  const target = options.targetFileSizeBytes;
  for (let i = 0; i < count; i++) {
    const keyStart = offsets[2 * i]!;
    const keyEnd = offsets[2 * i + 1]!;
    if (writer.cutBefore(data, keyStart, keyEnd, target)) tables.push(withBytes(writer.finish(), bytes));
    writer.add(data, keyStart, keyEnd, data, keyEnd, offsets[2 * i + 2]!);
  }
  tables.push(withBytes(writer.finish(), bytes));
  return tables;
}

function withBytes(summary: TableSummary, bytes: Uint8Array): BuiltTable {
  const { fileBytes, ...rest } = summary;
  assert(fileBytes === bytes.length, 'a whole table is handed out at once');
  return { bytes, ...rest };
}
