// SSTable builder: a sorted run in, one or more complete table files out, cut at user-key
// boundaries. The file layout (data blocks, filter, properties, metaindex, index, footer) is
// docs/format/sstable.md; the structure follows leveldb's table/table_builder.cc. Twin of
// src/engine/js/table-builder.ts: the same run and options give the same bytes.
//
// Output stream, starting at align4(out), one record per table (all u32 little-endian):
//   header  TABLE_HEADER_WORDS words: [0] file bytes, [1] first entry, [2] last entry (inclusive),
//           [3] entries, [4] deletions, [5,6] smallest sequence lo/hi, [7,8] largest sequence lo/hi
//   file    the table's bytes, then padding to a multiple of 4
// The stream grows memory as it goes (checked before every entry and before each table's tail).

import { STATUS_OK, STATUS_OUT_OF_MEMORY, align4, ensureCapacity, setResult } from './memory';
import { compareBytes, putVarint32, putVarint64 } from './coding';
import { crc32c, maskCrc } from './crc32c';
import { bloomContentsBytes, bloomWrite } from './bloom';
import {
  COMPRESS_SCRATCH_BYTES, ENTRY_HEADER_BYTES_MAX, TRAILER_BYTES, blockAdd, blockAddFinishBytesMax, blockContentsBytes,
  blockFinish, blockFinishData, blockPos, blockReset, compressionGateReset, writeTrailer,
} from './block';

export const TABLE_HEADER_WORDS: usize = 12;
const TABLE_HEADER_BYTES: usize = TABLE_HEADER_WORDS << 2;
export const FOOTER_BYTES: usize = 56;
const FOOTER_HANDLES_BYTES: usize = 40;
/** Version 1: every block uncompressed; version 2: data blocks may be LZ4-compressed. */
const FORMAT_VERSION_PLAIN: u32 = 1;
const FORMAT_VERSION_COMPRESSED: u32 = 2;

/** Footer format version of tables written with (1) or without (0) block compression. */
export function formatVersion(compression: u32): u32 {
  return compression != 0 ? FORMAT_VERSION_COMPRESSED : FORMAT_VERSION_PLAIN;
}
/** Bytes of one data-block record in the block list scratch: last entry, offset, size. */
const BLOCK_RECORD_BYTES: usize = 12;
/** Generous bounds of the properties and metaindex blocks (names are < 32 bytes, values varints). */
export const PROPERTIES_BYTES_MAX: usize = 8 * (ENTRY_HEADER_BYTES_MAX + 32 + 10) + 9 * 4 + TRAILER_BYTES;
export const METAINDEX_BYTES_MAX: usize = 2 * (ENTRY_HEADER_BYTES_MAX + 32 + 20) + 3 * 4 + TRAILER_BYTES;
/** One index entry's handle: two varints of a u32. */
const HANDLE_BYTES_MAX: usize = 10;

// ---- static names (ASCII, copied from string literals at instantiation; no heap) ----
const NAMES: usize = memory.data(512, 16);
const NAME_PTRS: usize = memory.data(16 * 4, 16);
const NAME_LENS: usize = memory.data(16 * 4, 16);
const PROP_DATA_BLOCKS = 0;
const PROP_DELETIONS = 1;
const PROP_ENTRIES = 2;
const PROP_FILTER_BITS = 3;
const PROP_LARGEST_SEQ = 4;
const PROP_RAW_KEY_BYTES = 5;
const PROP_RAW_VALUE_BYTES = 6;
const PROP_SMALLEST_SEQ = 7;
const META_FILTER = 8;
const META_PROPERTIES = 9;
const MAGIC = 10;
const NAME_COUNT = 11;

function initNames(): void {
  let p = NAMES;
  for (let i = 0; i < NAME_COUNT; i++) {
    // Sorted: properties and metaindex entries are written in this order.
    const s = i == PROP_DATA_BLOCKS ? 'lsmraft.data_blocks'
      : i == PROP_DELETIONS ? 'lsmraft.deletions'
      : i == PROP_ENTRIES ? 'lsmraft.entries'
      : i == PROP_FILTER_BITS ? 'lsmraft.filter_bits_per_key'
      : i == PROP_LARGEST_SEQ ? 'lsmraft.largest_seq'
      : i == PROP_RAW_KEY_BYTES ? 'lsmraft.raw_key_bytes'
      : i == PROP_RAW_VALUE_BYTES ? 'lsmraft.raw_value_bytes'
      : i == PROP_SMALLEST_SEQ ? 'lsmraft.smallest_seq'
      : i == META_FILTER ? 'filter.lsmraft.bloom'
      : i == META_PROPERTIES ? 'lsmraft.properties'
      : 'lsmraft.';
    store<u32>(NAME_PTRS + (<usize>i << 2), <u32>p);
    store<u32>(NAME_LENS + (<usize>i << 2), <u32>s.length);
    for (let j = 0; j < s.length; j++) store<u8>(p++, <u8>s.charCodeAt(j));
  }
}
initNames();

@inline
function namePtr(i: i32): usize {
  return <usize>load<u32>(NAME_PTRS + (<usize>i << 2));
}

@inline
function nameLen(i: i32): usize {
  return <usize>load<u32>(NAME_LENS + (<usize>i << 2));
}

/** Scratch for one small encoded value (a varint or a block handle). */
const VALUE: usize = memory.data(32, 16);

function addVarintProperty(name: i32, v: u64): void {
  const end = putVarint64(VALUE, v);
  blockAdd(namePtr(name), nameLen(name), VALUE, end - VALUE);
}

function addHandle(key: usize, keyLen: usize, offset: u32, size: u32): void {
  const end = putVarint32(putVarint32(VALUE, offset), size);
  blockAdd(key, keyLen, VALUE, end - VALUE);
}

/**
 * Builds the tables of run entries [0, count). `scratch` must be addressable for
 * tableScratchBytes(count) bytes. `compression` 1 stores data blocks LZ4-compressed where it pays
 * (asm/block.ts blockFinishData) in version-2 tables; 0 writes version-1 tables.
 * Results: [0] table count, [1] pointer of the first record.
 */
export function buildTablesInto(
  dataBias: usize, offsets: usize, count: u32,
  blockSizeBytes: u32, restartInterval: u32, bloomBitsPerKey: u32, targetFileSizeBytes: u32, compression: u32,
  scratch: usize, out: usize,
): i32 {
  const blockList = scratch;
  const restarts = scratch + <usize>count * BLOCK_RECORD_BYTES;
  const lz4Scratch = restarts + (<usize>count + 16) * 4;
  const compress = compression != 0;
  let header = align4(out);
  let tableCount: u32 = 0;
  let i: u32 = 0;
  while (i < count) {
    const first = i;
    compressionGateReset();
    const fileStart = header + TABLE_HEADER_BYTES;
    let p = fileStart; // write pointer outside an open block
    let blocks: u32 = 0;
    let blockOpen = false;
    let lastKeyBytes: usize = 0; // sum of the blocks' last key lengths (the index keys)
    let distinct: u32 = 0;
    let deletions: u32 = 0;
    let smallestSeq: u64 = u64.MAX_VALUE;
    let largestSeq: u64 = 0;
    let rawKeyBytes: u64 = 0;
    let rawValueBytes: u64 = 0;
    let prevUser: usize = 0;
    let prevUserLen: usize = 0;
    while (i < count) {
      const o = offsets + (<usize>i << 3);
      const key = dataBias + load<u32>(o);
      const value = dataBias + load<u32>(o, 4);
      const valueLen = dataBias + load<u32>(o, 8) - value;
      const keyLen = value - key;
      const userLen = keyLen - 8;
      const newUser = i == first || compareBytes(prevUser, prevUserLen, key, userLen) != 0;
      if (newUser && i > first) {
        // Cut before a new user key once the table is big enough (docs: "Cutting tables").
        const sizeBytes = p - fileStart + (blockOpen ? blockContentsBytes() : 0);
        if (sizeBytes >= <usize>targetFileSizeBytes) break;
      }
      if (newUser) distinct++;
      if (!blockOpen) {
        blockReset(p, restarts, restartInterval);
        blockOpen = true;
      }
      if (!ensureCapacity(blockPos() + blockAddFinishBytesMax(keyLen, valueLen))) return STATUS_OUT_OF_MEMORY;
      blockAdd(key, keyLen, value, valueLen);
      const trailer = load<u64>(key + userLen);
      if ((trailer & 0xff) == 0) deletions++;
      const seq = trailer >>> 8;
      if (seq < smallestSeq) smallestSeq = seq;
      if (seq > largestSeq) largestSeq = seq;
      rawKeyBytes += keyLen;
      rawValueBytes += valueLen;
      prevUser = key;
      prevUserLen = userLen;
      i++;
      if (blockContentsBytes() >= <usize>blockSizeBytes) {
        p = finishDataBlock(blockList, blocks++, fileStart, p, i - 1, compress, lz4Scratch);
        lastKeyBytes += keyLen;
        blockOpen = false;
      }
    }
    if (blockOpen) {
      const lastKeyLen = <usize>(load<u32>(offsets + (<usize>(i - 1) << 3), 4) - load<u32>(offsets + (<usize>(i - 1) << 3)));
      p = finishDataBlock(blockList, blocks++, fileStart, p, i - 1, compress, lz4Scratch);
      lastKeyBytes += lastKeyLen;
    }
    const entries = i - first;

    // The table's tail: filter, properties, metaindex, index, footer, and room for the next header.
    const filterBytes = bloomBitsPerKey > 0 ? bloomContentsBytes(distinct, bloomBitsPerKey) + TRAILER_BYTES : 0;
    const indexBytesMax = <usize>blocks * (ENTRY_HEADER_BYTES_MAX + HANDLE_BYTES_MAX + 4) + lastKeyBytes + 4 + TRAILER_BYTES;
    const tailBytes = filterBytes + PROPERTIES_BYTES_MAX + METAINDEX_BYTES_MAX + indexBytesMax + FOOTER_BYTES + TABLE_HEADER_BYTES + 4;
    if (!ensureCapacity(p + tailBytes)) return STATUS_OUT_OF_MEMORY;

    let filterOffset: u32 = 0;
    let filterSize: u32 = 0;
    if (bloomBitsPerKey > 0) {
      filterOffset = <u32>(p - fileStart);
      const end = bloomWrite(p, dataBias, offsets + (<usize>first << 3), entries, distinct, bloomBitsPerKey);
      filterSize = <u32>(end - p);
      p = writeTrailer(p, end);
    }

    p = writeMetaBlocks(p, fileStart, restarts, blocks, deletions, entries, bloomBitsPerKey, largestSeq,
      rawKeyBytes, rawValueBytes, smallestSeq, filterOffset, filterSize);
    const metaindexOffset = gMetaindexOffset;
    const metaindexSize = gMetaindexSize;

    const indexOffset = <u32>(p - fileStart);
    blockReset(p, restarts, 1);
    for (let b: u32 = 0; b < blocks; b++) {
      const rec = blockList + <usize>b * BLOCK_RECORD_BYTES;
      const o = offsets + (<usize>load<u32>(rec) << 3);
      const key = dataBias + load<u32>(o);
      addHandle(key, dataBias + load<u32>(o, 4) - key, load<u32>(rec, 4), load<u32>(rec, 8));
    }
    const indexSize = <u32>(blockContentsBytes());
    p = blockFinish();

    p = writeFooter(p, metaindexOffset, metaindexSize, indexOffset, indexSize, formatVersion(compression));

    store<u32>(header, <u32>(p - fileStart));
    store<u32>(header, first, 4);
    store<u32>(header, i - 1, 8);
    store<u32>(header, entries, 12);
    store<u32>(header, deletions, 16);
    store<u64>(header, smallestSeq, 20);
    store<u64>(header, largestSeq, 28);
    header = align4(p);
    tableCount++;
  }
  setResult(0, tableCount);
  setResult(1, <u32>align4(out));
  return STATUS_OK;
}

// Where writeMetaBlocks put the metaindex block (offset in the file, contents size).
let gMetaindexOffset: u32 = 0;
let gMetaindexSize: u32 = 0;

/** The metaindex handle of the last writeMetaBlocks call. */
export function lastMetaindexOffset(): u32 {
  return gMetaindexOffset;
}

export function lastMetaindexSize(): u32 {
  return gMetaindexSize;
}

/**
 * Writes the properties block at `p`, then the metaindex naming it and the filter (when
 * filterSize > 0). Offsets are p - fileStart (mod 2^32). Returns the pointer after the metaindex;
 * its handle is left in gMetaindexOffset / gMetaindexSize.
 */
export function writeMetaBlocks(
  p: usize, fileStart: usize, restarts: usize, blocks: u32, deletions: u32, entries: u32, bloomBitsPerKey: u32,
  largestSeq: u64, rawKeyBytes: u64, rawValueBytes: u64, smallestSeq: u64, filterOffset: u32, filterSize: u32,
): usize {
  const propertiesOffset = <u32>(p - fileStart);
  blockReset(p, restarts, 1);
  addVarintProperty(PROP_DATA_BLOCKS, blocks);
  addVarintProperty(PROP_DELETIONS, deletions);
  addVarintProperty(PROP_ENTRIES, entries);
  addVarintProperty(PROP_FILTER_BITS, bloomBitsPerKey);
  addVarintProperty(PROP_LARGEST_SEQ, largestSeq);
  addVarintProperty(PROP_RAW_KEY_BYTES, rawKeyBytes);
  addVarintProperty(PROP_RAW_VALUE_BYTES, rawValueBytes);
  addVarintProperty(PROP_SMALLEST_SEQ, smallestSeq);
  const propertiesSize = <u32>blockContentsBytes();
  p = blockFinish();

  gMetaindexOffset = <u32>(p - fileStart);
  blockReset(p, restarts, 1);
  if (bloomBitsPerKey > 0) addHandle(namePtr(META_FILTER), nameLen(META_FILTER), filterOffset, filterSize);
  addHandle(namePtr(META_PROPERTIES), nameLen(META_PROPERTIES), propertiesOffset, propertiesSize);
  gMetaindexSize = <u32>(blockContentsBytes());
  return blockFinish();
}

/** Footer at `p`: two handles zero-padded to 40 bytes, version, masked CRC of bytes 0..44, magic. */
export function writeFooter(
  p: usize, metaindexOffset: u32, metaindexSize: u32, indexOffset: u32, indexSize: u32, version: u32,
): usize {
  memory.fill(p, 0, FOOTER_HANDLES_BYTES);
  putVarint32(putVarint32(putVarint32(putVarint32(p, metaindexOffset), metaindexSize), indexOffset), indexSize);
  store<u32>(p, version, 40);
  store<u32>(p, maskCrc(crc32c(p, 44, 0)), 44);
  memory.copy(p + 48, namePtr(MAGIC), 8);
  return p + FOOTER_BYTES;
}

/** Finishes the open data block and records it in the block list; returns the write pointer. */
function finishDataBlock(
  blockList: usize, index: u32, fileStart: usize, start: usize, lastEntry: u32, compress: bool, lz4Scratch: usize,
): usize {
  const end = blockFinishData(compress, lz4Scratch);
  const rec = blockList + <usize>index * BLOCK_RECORD_BYTES;
  store<u32>(rec, lastEntry);
  store<u32>(rec, <u32>(start - fileStart), 4);
  store<u32>(rec, <u32>(end - TRAILER_BYTES - start), 8);
  return end;
}

/** Scratch bytes buildTablesInto needs for a run of `count` entries. */
export function tableScratchBytes(count: u32): usize {
  return <usize>count * BLOCK_RECORD_BYTES + (<usize>count + 16) * 4 + COMPRESS_SCRATCH_BYTES;
}
