// SSTable block codec: prefix-compressed entries with restart points and the 5-byte trailer (type
// byte, masked CRC32C of contents ++ type), leveldb's table/block_builder.cc layout as
// docs/format/sstable.md "Block contents" pins it. Twin of src/engine/js/block.ts: same bytes,
// and the decoder rejects exactly what the JS decoder rejects, with a status instead of a throw.
//
//   entry*      varint shared, varint nonShared, varint valueLength, key[shared..], value
//   restart*    fixed32 offset of each restart entry (entries 0, R, 2R, ...)
//   numRestarts fixed32
//   type        1 byte, 0 = uncompressed, 1 = LZ4 (contents = varint raw size ++ LZ4 block)
//   crc         fixed32 mask(crc32c(contents ++ type))
//
// A data block is stored compressed (blockFinishData) only when its raw contents are at most
// COMPRESSED_RAW_BYTES_MAX and the compressed contents save at least 1/8 (leveldb's rule in
// table/table_builder.cc WriteBlock) and it is tried at all (the incompressible-streak rule below);
// docs/format/sstable.md "Compressed blocks".
//
// The builder is one set of module globals (one block open at a time, no allocation). Its caller
// guarantees the memory it writes is addressable: see blockEntryBytesMax / blockFinishBytes.

import {
  STATUS_BLOCK_EMPTY, STATUS_BLOCK_ENTRY, STATUS_BLOCK_KEY_SHORT, STATUS_BLOCK_ORDER, STATUS_BLOCK_RESTARTS,
  STATUS_BLOCK_SHARED, STATUS_BLOCK_TOO_SHORT, STATUS_BLOCK_CHECKSUM, STATUS_BLOCK_TYPE, STATUS_OK,
  STATUS_BLOCK_LZ4, STATUS_OUT_OF_MEMORY, align4, ensureCapacity, setResult,
} from './memory';
import { compareInternal, copyBytes, getVarint, putVarint32, sharedPrefix, varintValue } from './coding';
import { crc32c, maskCrc } from './crc32c';
import { lz4CompressInto, lz4DecompressInto } from './lz4';

export const TRAILER_BYTES: usize = 5;
export const BLOCK_TYPE_UNCOMPRESSED: u8 = 0;
export const BLOCK_TYPE_LZ4: u8 = 1;
/** Largest raw contents of a compressed block: a reader sizes its buffer by it (twin of block-compression.ts). */
export const COMPRESSED_RAW_BYTES_MAX: usize = 65536;
/** Scratch blockFinishData needs to compress a block: compressed contents stay below the raw size. */
export const COMPRESS_SCRATCH_BYTES: usize = COMPRESSED_RAW_BYTES_MAX + 16;
/** Three length varints of at most 5 bytes each. */
export const ENTRY_HEADER_BYTES_MAX: usize = 15;

// ---- builder state: the open block ----
let bStart: usize = 0; // first contents byte
let bPos: usize = 0; // next byte to write
let bRestarts: usize = 0; // scratch u32 array of restart offsets
let bRestartCount: u32 = 0;
let bInterval: u32 = 1;
let bSinceRestart: u32 = 0; // entries since the last restart point
let bEntries: u32 = 0;
let bPrevKey: usize = 0; // previous key, read in place (it stays in memory until the block ends)
let bPrevKeyLen: usize = 0;

/** Opens a block at `start`; restart offsets are collected in `restartsScratch`. */
export function blockReset(start: usize, restartsScratch: usize, restartInterval: u32): void {
  bStart = start;
  bPos = start;
  bRestarts = restartsScratch;
  bRestartCount = 0;
  bInterval = restartInterval;
  bSinceRestart = 0;
  bEntries = 0;
}

@inline
export function blockEntries(): u32 {
  return bEntries;
}

@inline
export function blockPos(): usize {
  return bPos;
}

/** Contents size if the block were finished now: entryBytes + 4 * restarts + 4. */
@inline
export function blockContentsBytes(): usize {
  return bPos - bStart + (<usize>bRestartCount << 2) + 4;
}

/** Most bytes the next add() plus finish() can write past blockPos() for this key and value. */
@inline
export function blockAddFinishBytesMax(keyLen: usize, valueLen: usize): usize {
  return ENTRY_HEADER_BYTES_MAX + keyLen + valueLen + (<usize>(bRestartCount + 1) << 2) + 4 + TRAILER_BYTES;
}

/** Appends one entry. REQUIRES: keys strictly increasing; blockAddFinishBytesMax bytes addressable. */
export function blockAdd(key: usize, keyLen: usize, value: usize, valueLen: usize): void {
  let shared: usize = 0;
  if (bSinceRestart == 0) {
    store<u32>(bRestarts + (<usize>bRestartCount << 2), <u32>(bPos - bStart));
    bRestartCount++;
  } else {
    shared = sharedPrefix(bPrevKey, bPrevKeyLen, key, keyLen);
  }
  bSinceRestart++;
  if (bSinceRestart == bInterval) bSinceRestart = 0;
  let p = putVarint32(bPos, <u32>shared);
  p = putVarint32(p, <u32>(keyLen - shared));
  p = putVarint32(p, <u32>valueLen);
  copyBytes(p, key + shared, keyLen - shared);
  p += keyLen - shared;
  copyBytes(p, value, valueLen);
  bPos = p + valueLen;
  bPrevKey = key;
  bPrevKeyLen = keyLen;
  bEntries++;
}

/** First byte of the open block. */
@inline
export function blockStartPtr(): usize {
  return bStart;
}

/**
 * Where the previous key is read for prefix compression: a caller whose keys do not stay in place
 * until the next add() passes a copy of the key it just added.
 */
@inline
export function blockSetPrevKey(key: usize): void {
  bPrevKey = key;
}

/** The open block's bytes were moved `delta` bytes down: follow them. */
export function blockMovedDown(delta: usize): void {
  bStart -= delta;
  bPos -= delta;
}

/** Writes the restart array and the count; returns the end of the contents. */
function blockFinishContents(): usize {
  let p = bPos;
  for (let i: u32 = 0; i < bRestartCount; i++) {
    store<u32>(p, load<u32>(bRestarts + (<usize>i << 2)));
    p += 4;
  }
  store<u32>(p, bRestartCount);
  return p + 4;
}

/** Writes the restart array, the count and the trailer. Returns the pointer after the trailer. */
export function blockFinish(): usize {
  return writeTrailer(bStart, blockFinishContents(), BLOCK_TYPE_UNCOMPRESSED);
}

/**
 * Finishes a data block as blockFinish does, stored LZ4-compressed when `compress` is set and
 * compression pays (see the header), compressing through `scratch` (COMPRESS_SCRATCH_BYTES,
 * disjoint from the block). Returns the pointer after the trailer.
 */
export function blockFinishData(compress: bool, scratch: usize): usize {
  const end = blockFinishContents();
  if (compress && compressionGateTry()) {
    const size = compressContents(bStart, end - bStart, scratch);
    compressionGateRecord(size > 0);
    if (size > 0) {
      memory.copy(bStart, scratch, size);
      return writeTrailer(bStart, bStart + size, BLOCK_TYPE_LZ4);
    }
  }
  return writeTrailer(bStart, end, BLOCK_TYPE_UNCOMPRESSED);
}

// The incompressible-streak rule (twin of src/engine/js/block-compression.ts CompressionGate,
// which says why): after INCOMPRESSIBLE_STREAK_BLOCKS data blocks in a row of one table did not
// compress, only every COMPRESSION_PROBE_BLOCKS-th block is tried until one compresses again.
const INCOMPRESSIBLE_STREAK_BLOCKS: u32 = 8;
const COMPRESSION_PROBE_BLOCKS: u32 = 16;
let gateMisses: u32 = 0;
let gateSkipped: u32 = 0;

/** Starts the rule afresh: at each output table's start. */
export function compressionGateReset(): void {
  gateMisses = 0;
  gateSkipped = 0;
}

/** Whether to try compressing the next data block. */
function compressionGateTry(): bool {
  if (gateMisses < INCOMPRESSIBLE_STREAK_BLOCKS) return true;
  if (++gateSkipped < COMPRESSION_PROBE_BLOCKS) return false;
  gateSkipped = 0;
  return true;
}

/** The block compressionGateTry allowed did (true) or did not compress. */
function compressionGateRecord(compressed: bool): void {
  if (compressed) gateMisses = 0;
  else if (gateMisses < INCOMPRESSIBLE_STREAK_BLOCKS) gateMisses++;
}

/**
 * Writes varint(rawBytes) ++ LZ4 block of [raw, raw+rawBytes) at `out` when it takes fewer than
 * rawBytes - rawBytes / 8 bytes and rawBytes <= COMPRESSED_RAW_BYTES_MAX; returns its size, else 0.
 */
export function compressContents(raw: usize, rawBytes: usize, out: usize): usize {
  if (rawBytes > COMPRESSED_RAW_BYTES_MAX) return 0;
  const lz4Start = putVarint32(out, <u32>rawBytes);
  const sizeMax = rawBytes - (rawBytes >>> 3) - 1;
  if (sizeMax <= lz4Start - out) return 0;
  const end = lz4CompressInto(raw, rawBytes, lz4Start, out + sizeMax);
  return end == 0 ? 0 : end - out;
}

/** Writes the trailer of the block whose contents are [start, end); returns the pointer after it. */
export function writeTrailer(start: usize, end: usize, type: u8 = BLOCK_TYPE_UNCOMPRESSED): usize {
  store<u8>(end, type);
  store<u32>(end + 1, maskCrc(crc32c(start, end + 1 - start, 0)));
  return end + TRAILER_BYTES;
}

/** Writes an entry with shared = 0 (blocks with restart interval 1); returns the end pointer. */
export function putWholeEntry(p: usize, key: usize, keyLen: usize, value: usize, valueLen: usize): usize {
  p = putVarint32(p, 0);
  p = putVarint32(p, <u32>keyLen);
  p = putVarint32(p, <u32>valueLen);
  copyBytes(p, key, keyLen);
  p += keyLen;
  copyBytes(p, value, valueLen);
  return p + valueLen;
}

/**
 * Encodes run entries [0, count) (run = dataBias + offsets, see asm/README.md) as one block at `out`
 * with restart offsets collected at `restartsScratch`. Both regions must be addressable for the
 * bound the JS side computes. Returns the pointer after the trailer.
 */
export function encodeBlockInto(
  out: usize, restartsScratch: usize, dataBias: usize, offsets: usize, count: u32, restartInterval: u32,
): usize {
  blockReset(out, restartsScratch, restartInterval);
  for (let i: u32 = 0; i < count; i++) {
    const o = offsets + (<usize>i << 3);
    const key = dataBias + load<u32>(o);
    const value = dataBias + load<u32>(o, 4);
    const end = dataBias + load<u32>(o, 8);
    blockAdd(key, value - key, value, end - value);
  }
  return blockFinish();
}

// ---- decoding ----

/** Records a failure position (bytes from the block's start) and returns the status. */
function fail(status: i32, pos: usize): i32 {
  setResult(4, <u32>pos);
  return status;
}

// What validateBlock found in the last block it accepted.
let vContents: usize = 0; // the contents: in the block, or the raw buffer it was decompressed to
let vContentsBytes: usize = 0;
let vCount: u32 = 0; // entries
let vDataBytes: u64 = 0; // key and value bytes of the entries, decoded
let vEntriesBytes: usize = 0; // bytes of the entries: they end where the restart array starts

/** Entries in the block validateBlock last accepted. */
export function validatedCount(): u32 {
  return vCount;
}

/** Where the entries of the block validateBlock last accepted end (the restart array starts). */
export function validatedEntriesBytes(): usize {
  return vEntriesBytes;
}

/** Where the (raw) contents of the block validateBlock last accepted are. */
export function validatedContents(): usize {
  return vContents;
}

/** The status of decompressContents' last failure. */
let gStatus: i32 = STATUS_OK;

/**
 * Decompresses the contents [block, block+contentsBytes) of an LZ4 block (varint raw size, then
 * the LZ4 block) to `raw`, growing memory for it. Returns the raw size, or -1 after setting the
 * failure status (gStatus) and position.
 */
function decompressContents(block: usize, contentsBytes: usize, raw: usize): i64 {
  const p = getVarint(block, block + contentsBytes);
  if (p == 0 || varintValue > <u64>COMPRESSED_RAW_BYTES_MAX) {
    gStatus = fail(STATUS_BLOCK_LZ4, 0);
    return -1;
  }
  const rawBytes = <usize>varintValue;
  if (!ensureCapacity(raw + rawBytes)) {
    gStatus = STATUS_OUT_OF_MEMORY;
    return -1;
  }
  const bad = lz4DecompressInto(p, block + contentsBytes - p, raw, rawBytes);
  if (bad >= 0) {
    gStatus = fail(STATUS_BLOCK_LZ4, p - block + <usize>bad);
    return -1;
  }
  return <i64>rawBytes;
}

/**
 * Pass 1 of decoding: verifies the trailer of [block, block+len), decompresses an LZ4 block to
 * `raw` (growing memory for it), and checks the layout of the entries (every length within the
 * contents, restarts at entry boundaries and only there, shares within the previous key, keys of
 * at least 8 bytes), without copying. Key order is not checked here. On failure R[4] is the
 * position where the fault was found: in the block, or for a layout fault of a compressed block,
 * in its raw contents.
 */
export function validateBlock(block: usize, len: usize, raw: usize): i32 {
  if (len < TRAILER_BYTES) return fail(STATUS_BLOCK_TOO_SHORT, 0);
  let contentsBytes = len - TRAILER_BYTES;
  const stored = load<u32>(block + contentsBytes + 1);
  if (stored != maskCrc(crc32c(block, contentsBytes + 1, 0))) return fail(STATUS_BLOCK_CHECKSUM, 0);
  const type = load<u8>(block + contentsBytes);
  if (type == BLOCK_TYPE_LZ4) {
    const rawBytes = decompressContents(block, contentsBytes, raw);
    if (rawBytes < 0) return gStatus;
    block = raw;
    contentsBytes = <usize>rawBytes;
  } else if (type != BLOCK_TYPE_UNCOMPRESSED) {
    return fail(STATUS_BLOCK_TYPE, contentsBytes);
  }
  if (contentsBytes < 4) return fail(STATUS_BLOCK_TOO_SHORT, 0);
  const numRestarts = <usize>load<u32>(block + contentsBytes - 4);
  if (numRestarts < 1 || numRestarts > (contentsBytes - 4) >>> 2) return fail(STATUS_BLOCK_RESTARTS, contentsBytes - 4);
  const restartsStart = contentsBytes - 4 - (numRestarts << 2);
  const limit = block + restartsStart;

  // Pass 1: validate the layout, count entries and output bytes.
  let p = block;
  let count: u32 = 0;
  let totalBytes: u64 = 0;
  let prevKeyLen: u64 = 0;
  let restartIndex: usize = 0;
  let nextRestart = <usize>load<u32>(limit);
  while (p < limit) {
    const entryPos = p - block;
    if (restartIndex < numRestarts && entryPos > nextRestart) {
      return fail(STATUS_BLOCK_RESTARTS, restartsStart + (restartIndex << 2));
    }
    const isRestart = restartIndex < numRestarts && entryPos == nextRestart;
    p = getVarint(p, limit);
    const shared = varintValue;
    if (p != 0) p = getVarint(p, limit);
    const nonShared = varintValue;
    if (p != 0) p = getVarint(p, limit);
    const valueLen = varintValue;
    if (p == 0) return fail(STATUS_BLOCK_ENTRY, entryPos);
    if (count == 0 && !isRestart) return fail(STATUS_BLOCK_RESTARTS, entryPos);
    if (isRestart) {
      if (shared != 0) return fail(STATUS_BLOCK_SHARED, entryPos);
      restartIndex++;
      nextRestart = restartIndex < numRestarts ? <usize>load<u32>(limit + (restartIndex << 2)) : 0;
    } else if (shared > prevKeyLen) {
      return fail(STATUS_BLOCK_SHARED, entryPos);
    }
    const room = <u64>(limit - p);
    if (nonShared > room || valueLen > room - nonShared) return fail(STATUS_BLOCK_ENTRY, entryPos);
    const keyLen = shared + nonShared;
    if (keyLen < 8) return fail(STATUS_BLOCK_KEY_SHORT, entryPos);
    p += <usize>(nonShared + valueLen);
    totalBytes += keyLen + valueLen;
    prevKeyLen = keyLen;
    count++;
  }
  if (count == 0) return fail(STATUS_BLOCK_EMPTY, 0);
  if (restartIndex != numRestarts) return fail(STATUS_BLOCK_RESTARTS, restartsStart + (restartIndex << 2));
  vContents = block;
  vContentsBytes = contentsBytes;
  vCount = count;
  vDataBytes = totalBytes;
  vEntriesBytes = restartsStart;
  return STATUS_OK;
}


/**
 * Verifies and decodes the data block [block, block+len) (contents ++ trailer) into a run written
 * at `out`: offsets (2n+1 u32) then data. Results: [0] count, [1] offsets pointer, [2] data
 * pointer, [3] data bytes, [4] on failure the position in the block where it was found.
 * Every read is bounded by the block: a corrupt block yields a status, never a trap.
 */
export function decodeBlockInto(block: usize, len: usize, out: usize): i32 {
  // A compressed block's raw contents go to `out`, the run after them.
  const status = validateBlock(block, len, out);
  if (status != STATUS_OK) return status;
  if (vContents != block) out += vContentsBytes;
  block = vContents;
  const count = vCount;
  const totalBytes = vDataBytes;
  const limit = block + vEntriesBytes;

  // Pass 2: copy out; lengths are known good. Keys must be strictly increasing.
  const offsetsOut = align4(out);
  const dataOut = offsetsOut + ((<usize>count * 2 + 1) << 2);
  if (totalBytes > 0xffff_0000 || !ensureCapacity(dataOut + <usize>totalBytes)) {
    return STATUS_OUT_OF_MEMORY;
  }
  let p = block;
  let o: usize = dataOut;
  let prevStart: usize = 0;
  let prevLen: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    const entryPos = p - block;
    p = getVarint(p, limit);
    const shared = <usize>varintValue;
    p = getVarint(p, limit);
    const nonShared = <usize>varintValue;
    p = getVarint(p, limit);
    const valueLen = <usize>varintValue;
    const keyStart = o;
    store<u32>(offsetsOut + (<usize>i << 3), <u32>(keyStart - dataOut));
    copyBytes(o, prevStart, shared);
    o += shared;
    copyBytes(o, p, nonShared);
    o += nonShared;
    p += nonShared;
    store<u32>(offsetsOut + (<usize>i << 3), <u32>(o - dataOut), 4);
    if (i > 0 && compareInternal(prevStart, prevLen, keyStart, o - keyStart) >= 0) {
      return fail(STATUS_BLOCK_ORDER, entryPos);
    }
    copyBytes(o, p, valueLen);
    o += valueLen;
    p += valueLen;
    prevStart = keyStart;
    prevLen = shared + nonShared;
  }
  store<u32>(offsetsOut + (<usize>count << 3), <u32>(o - dataOut));
  setResult(0, count);
  setResult(1, <u32>offsetsOut);
  setResult(2, <u32>dataOut);
  setResult(3, <u32>(o - dataOut));
  return STATUS_OK;
}
