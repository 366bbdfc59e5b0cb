/**
 * SSTable block codec: prefix-compressed entries with restart points, then the 5-byte trailer
 * (type byte, masked CRC32C of contents ++ type). The layout is leveldb's table/block_builder.cc
 * format as docs/format/sstable.md "Block contents" pins it. Twin of asm/block.ts: identical bytes.
 *
 *   entry*      varint shared, varint nonShared, varint valueLength, key[shared..], value
 *   restart*    fixed32 offset of each restart entry (entries 0, R, 2R, ...)
 *   numRestarts fixed32
 *   type        1 byte, 0 = uncompressed, 1 = LZ4 (contents = varint raw size ++ LZ4 block)
 *   crc         fixed32 mask(crc32c(contents ++ type))
 *
 * Data blocks may be stored compressed (./block-compression.ts); the other blocks never are.
 *
 * Encoding writes straight into a growable ByteSink (a table builder appends block after block to
 * one sink), copying key and value bytes from the source run in place. Decoding runs two passes:
 * the first validates every length and offset against the block bounds (a corrupt block can
 * neither read out of bounds nor loop: each entry advances at least 3 bytes), the second copies
 * into one exactly sized output run.
 */
import type { EntryRun } from '../types.js';
import { CorruptionError } from '../../errors.js';
import { assert } from '../../util/assert.js';
import { compareRange, getFixed32, getVarint, putFixed32, putVarint, type VarintRead } from '../../util/bytes.js';
import { compareInternalRange, TRAILER_BYTES } from '../../format/internal-key.js';
import { crc32c, maskCrc } from '../../format/crc32c.js';
import { BLOCK_TYPE_LZ4, compressContents, decompressContents } from './block-compression.js';

export const BLOCK_TRAILER_BYTES = 5;
export const BLOCK_TYPE_UNCOMPRESSED = 0;
/** Upper bound of an entry's three length varints (each length < 2^32: 5 bytes). */
const ENTRY_HEADER_BYTES_MAX = 15;
/** Below this many bytes a JS loop beats a native set()/copyWithin() call with its view object. */
const COPY_LOOP_BYTES_MAX = 32;

/** Copies src[srcStart..srcEnd) to dst[dstPos..]; dst and src may be the same buffer if disjoint. */
export function copyBytes(dst: Uint8Array, dstPos: number, src: Uint8Array, srcStart: number, srcEnd: number): void {
  const n = srcEnd - srcStart;
  if (n <= COPY_LOOP_BYTES_MAX) {
    for (let i = 0; i < n; i++) dst[dstPos + i] = src[srcStart + i]!;
  } else if (dst === src) {
    dst.copyWithin(dstPos, srcStart, srcEnd);
  } else {
    dst.set(src.subarray(srcStart, srcEnd), dstPos);
  }
}

/** A growable output buffer: bytes [0, length) are written. Grows by doubling. */
export class ByteSink {
  buf: Uint8Array;
  length = 0;

  constructor(capacityBytes: number) {
    this.buf = new Uint8Array(Math.max(capacityBytes, 64));
  }

  /** Makes room for `extraBytes` more bytes after `length`. */
  reserve(extraBytes: number): void {
    const need = this.length + extraBytes;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    if (cap < need) cap = need;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
}

/** Appends the trailer of the block whose contents are sink[contentsStart..length). */
export function appendBlockTrailer(sink: ByteSink, contentsStart: number, type = BLOCK_TYPE_UNCOMPRESSED): void {
  sink.reserve(BLOCK_TRAILER_BYTES);
  const buf = sink.buf;
  buf[sink.length] = type;
  const crc = crc32c(buf.subarray(contentsStart, sink.length + 1));
  putFixed32(buf, sink.length + 1, maskCrc(crc));
  sink.length += BLOCK_TRAILER_BYTES;
}

/** Appends `contents` as a whole block (contents ++ trailer); for the filter block. */
export function appendRawBlock(sink: ByteSink, contents: Uint8Array): void {
  sink.reserve(contents.length + BLOCK_TRAILER_BYTES);
  const start = sink.length;
  sink.buf.set(contents, start);
  sink.length += contents.length;
  appendBlockTrailer(sink, start);
}

/**
 * Writes one block's entries into a sink. REQUIRES: keys added in strictly increasing order; the
 * previous key's bytes stay unchanged until the next add() (it is read in place for the prefix).
 */
export class BlockWriter {
  private restarts = new Uint32Array(64);
  private restartCount = 0;
  private entryCount = 0;
  private contentsStart = 0;
  private restartInterval = 1;
  private prevKey: Uint8Array = new Uint8Array(0);
  private prevStart = 0;
  private prevEnd = 0;

  constructor(readonly sink: ByteSink) {}

  /** Starts a new block at the sink's current end. */
  reset(restartInterval: number): void {
    assert(restartInterval >= 1, 'restartInterval >= 1');
    this.restartInterval = restartInterval;
    this.restartCount = 0;
    this.entryCount = 0;
    this.contentsStart = this.sink.length;
  }

  get entries(): number {
    return this.entryCount;
  }

  /** Contents size if the block were finished now: entryBytes + 4 * restarts + 4. */
  contentsBytes(): number {
    return this.sink.length - this.contentsStart + 4 * this.restartCount + 4;
  }

  add(key: Uint8Array, keyStart: number, keyEnd: number, value: Uint8Array, valueStart: number, valueEnd: number): void {
    const sink = this.sink;
    const keyLen = keyEnd - keyStart;
    const valueLen = valueEnd - valueStart;
    let shared = 0;
    if (this.entryCount % this.restartInterval === 0) {
      if (this.restartCount === this.restarts.length) {
        const grown = new Uint32Array(this.restarts.length * 2);
        grown.set(this.restarts);
        this.restarts = grown;
      }
      this.restarts[this.restartCount++] = sink.length - this.contentsStart;
    } else {
      const prev = this.prevKey;
      const prevStart = this.prevStart;
      const limit = Math.min(keyLen, this.prevEnd - prevStart);
      while (shared < limit && prev[prevStart + shared] === key[keyStart + shared]) shared++;
    }
    sink.reserve(ENTRY_HEADER_BYTES_MAX + keyLen - shared + valueLen);
    const buf = sink.buf;
    let pos = putVarint(buf, sink.length, shared);
    pos = putVarint(buf, pos, keyLen - shared);
    pos = putVarint(buf, pos, valueLen);
    copyBytes(buf, pos, key, keyStart + shared, keyEnd);
    pos += keyLen - shared;
    copyBytes(buf, pos, value, valueStart, valueEnd);
    sink.length = pos + valueLen;
    this.prevKey = key;
    this.prevStart = keyStart;
    this.prevEnd = keyEnd;
    this.entryCount++;
  }

  /**
   * Appends the restart array, the count and the trailer, and leaves the writer empty at the new
   * end of the sink. With `compress`, the contents are stored LZ4-compressed when that pays
   * (./block-compression.ts). Returns the contents size as stored.
   */
  /** Whether the last finish() stored its block compressed. */
  compressedLast = false;

  finish(compress = false): number {
    assert(this.entryCount > 0, 'a block holds at least one entry');
    const sink = this.sink;
    sink.reserve(4 * this.restartCount + 4);
    let pos = sink.length;
    for (let i = 0; i < this.restartCount; i++) pos = putFixed32(sink.buf, pos, this.restarts[i]!);
    pos = putFixed32(sink.buf, pos, this.restartCount);
    let type = BLOCK_TYPE_UNCOMPRESSED;
    const compressed = compress ? compressContents(sink.buf, this.contentsStart, pos) : undefined;
    this.compressedLast = compressed !== undefined;
    if (compressed !== undefined) {
      sink.buf.set(compressed, this.contentsStart);
      pos = this.contentsStart + compressed.length;
      type = BLOCK_TYPE_LZ4;
    }
    sink.length = pos;
    const contentsBytes = pos - this.contentsStart;
    appendBlockTrailer(sink, this.contentsStart, type);
    // Ready for the next block, right after this one, with the same restart interval.
    this.entryCount = 0;
    this.restartCount = 0;
    this.contentsStart = sink.length;
    return contentsBytes;
  }
}

/** Encodes run entries [start, end) as one data block (contents ++ trailer). */
export function encodeBlock(run: EntryRun, start: number, end: number, restartInterval: number): Uint8Array {
  assert(start >= 0 && start < end && end <= run.count, () => `encodeBlock range [${start}, ${end}) of ${run.count}`);
  const offsets = run.offsets;
  const count = end - start;
  const upperBytes = offsets[2 * end]! - offsets[2 * start]! + ENTRY_HEADER_BYTES_MAX * count +
    4 * (Math.ceil(count / restartInterval) + 1) + BLOCK_TRAILER_BYTES;
  const sink = new ByteSink(upperBytes);
  const writer = new BlockWriter(sink);
  writer.reset(restartInterval);
  const data = run.data;
  for (let i = start; i < end; i++) {
    writer.add(data, offsets[2 * i]!, offsets[2 * i + 1]!, data, offsets[2 * i + 1]!, offsets[2 * i + 2]!);
  }
  writer.finish();
  return sink.buf.subarray(0, sink.length);
}

/**
 * Checks the trailer of `block` (contents ++ trailer): checksum and type (0; or 1, LZ4, when
 * `compressedAllowed`: data blocks). Returns the contents size. `offset` is the block's offset in
 * `file`, reported on failure. `checksum` computes CRC32C (a reader passes its engine's: the WASM
 * twin's is several times faster on a 4 KiB block).
 */
export function verifyBlockTrailer(
  block: Uint8Array, file?: string, offset?: number, compressedAllowed = false, checksum: (data: Uint8Array) => number = crc32c,
): number {
  if (block.length < BLOCK_TRAILER_BYTES) {
    throw new CorruptionError(`block of ${block.length} bytes is shorter than its trailer`, file, offset);
  }
  const contentsBytes = block.length - BLOCK_TRAILER_BYTES;
  const stored = getFixed32(block, contentsBytes + 1);
  const actual = maskCrc(checksum(block.subarray(0, contentsBytes + 1)));
  if (stored !== actual) {
    throw new CorruptionError(
      `block checksum mismatch: stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}`, file, offset);
  }
  const type = block[contentsBytes]!;
  if (type !== BLOCK_TYPE_UNCOMPRESSED && !(compressedAllowed && type === BLOCK_TYPE_LZ4)) {
    throw new CorruptionError(`unknown block type ${type}`, file, offset === undefined ? undefined : offset + contentsBytes);
  }
  return contentsBytes;
}

const varint: VarintRead = { value: 0, pos: 0 };

/**
 * Decodes the entries of block contents block[0..contentsBytes) (trailer already verified).
 * `internalKeys`: keys must be internal keys (>= 8 bytes) strictly increasing in internal-key order
 * (data and index blocks); otherwise plain keys strictly increasing by bytes (metaindex, properties).
 * Layout failures report `offset` plus the position in the block where they were found.
 */
export function decodeBlockContents(
  block: Uint8Array, contentsBytes: number, internalKeys: boolean, file?: string, offset?: number,
): EntryRun {
  const at = (pos: number): number | undefined => (offset === undefined ? undefined : offset + pos);
  if (contentsBytes < 4) throw new CorruptionError(`block contents of ${contentsBytes} bytes`, file, at(0));
  const numRestarts = getFixed32(block, contentsBytes - 4);
  if (numRestarts < 1 || numRestarts > (contentsBytes - 4) / 4) {
    throw new CorruptionError(`block restart count ${numRestarts} does not fit`, file, at(contentsBytes - 4));
  }
  const restartsStart = contentsBytes - 4 - 4 * numRestarts;
  const keyBytesMin = internalKeys ? TRAILER_BYTES : 0;

  // Pass 1: validate the layout, count entries and output bytes.
  let pos = 0;
  let count = 0;
  let totalBytes = 0;
  let prevKeyLen = 0;
  let restartIndex = 0;
  let nextRestart = getFixed32(block, restartsStart);
  while (pos < restartsStart) {
    const entryPos = pos;
    if (restartIndex < numRestarts && entryPos > nextRestart) {
      throw new CorruptionError(`restart offset ${nextRestart} is not an entry boundary`, file, at(restartsStart + 4 * restartIndex));
    }
    const isRestart = restartIndex < numRestarts && entryPos === nextRestart;
    getVarint(block, pos, restartsStart, varint);
    const shared = varint.value;
    pos = varint.pos;
    if (pos >= 0) {
      getVarint(block, pos, restartsStart, varint);
      pos = varint.pos;
    }
    const nonShared = varint.value;
    if (pos >= 0) {
      getVarint(block, pos, restartsStart, varint);
      pos = varint.pos;
    }
    const valueLen = varint.value;
    if (pos < 0) throw new CorruptionError('bad entry header varint', file, at(entryPos));
    if (count === 0 && !isRestart) throw new CorruptionError('first entry is not a restart point', file, at(entryPos));
    if (isRestart) {
      if (shared !== 0) throw new CorruptionError(`restart entry shares ${shared} bytes`, file, at(entryPos));
      restartIndex++;
      nextRestart = restartIndex < numRestarts ? getFixed32(block, restartsStart + 4 * restartIndex) : 0;
    } else if (shared > prevKeyLen) {
      throw new CorruptionError(`entry shares ${shared} bytes of a ${prevKeyLen}-byte key`, file, at(entryPos));
    }
    if (nonShared > restartsStart - pos || valueLen > restartsStart - pos - nonShared) {
      throw new CorruptionError('entry runs past the restart array', file, at(entryPos));
    }
    const keyLen = shared + nonShared;
    if (keyLen < keyBytesMin) throw new CorruptionError(`key of ${keyLen} bytes is shorter than its trailer`, file, at(entryPos));
    pos += nonShared + valueLen;
    totalBytes += keyLen + valueLen;
    prevKeyLen = keyLen;
    count++;
  }
  if (restartIndex !== numRestarts) {
    throw new CorruptionError(`restart offset ${nextRestart} is not an entry boundary`, file, at(restartsStart + 4 * restartIndex));
  }

  // Pass 2: copy out; lengths are known good. Keys are checked for strict order.
  const data = new Uint8Array(totalBytes);
  const offsets = new Uint32Array(2 * count + 1);
  pos = 0;
  let out = 0;
  let prevStart = 0;
  for (let i = 0; i < count; i++) {
    const entryPos = pos;
    // Lengths below 128 are one byte: the common case skips the general varint reader.
    let shared = block[pos]!;
    if (shared < 0x80) {
      pos++;
    } else {
      shared = getVarint(block, pos, restartsStart, varint).value;
      pos = varint.pos;
    }
    let nonShared = block[pos]!;
    if (nonShared < 0x80) {
      pos++;
    } else {
      nonShared = getVarint(block, pos, restartsStart, varint).value;
      pos = varint.pos;
    }
    let valueLen = block[pos]!;
    if (valueLen < 0x80) {
      pos++;
    } else {
      valueLen = getVarint(block, pos, restartsStart, varint).value;
      pos = varint.pos;
    }
    const keyStart = out;
    offsets[2 * i] = keyStart;
    copyBytes(data, out, data, prevStart, prevStart + shared);
    out += shared;
    // The key's unshared bytes and the value are adjacent in the block and in the run.
    copyBytes(data, out, block, pos, pos + nonShared + valueLen);
    const keyEnd = out + nonShared;
    offsets[2 * i + 1] = keyEnd;
    out = keyEnd + valueLen;
    pos += nonShared + valueLen;
    if (i > 0 && !follows(data, prevStart, offsets[2 * i - 1]!, keyStart, keyEnd, shared, internalKeys)) {
      throw new CorruptionError('block keys out of order', file, at(entryPos));
    }
    prevStart = keyStart;
  }
  offsets[2 * count] = out;
  assert(out === totalBytes && pos === restartsStart, 'block pass 2 agrees with pass 1');
  return { data, offsets, count };
}

/**
 * True if key data[bStart..bEnd) sorts strictly after data[aStart..aEnd), which shares its first
 * `shared` bytes: the comparison starts past them (they are equal, and for internal keys they are
 * equal user-key bytes as far as both user keys reach).
 */
function follows(
  data: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number, shared: number, internalKeys: boolean,
): boolean {
  if (!internalKeys) return compareRange(data, aStart + shared, aEnd, data, bStart + shared, bEnd) < 0;
  const aUserEnd = aEnd - TRAILER_BYTES;
  const bUserEnd = bEnd - TRAILER_BYTES;
  const s = Math.min(shared, aUserEnd - aStart, bUserEnd - bStart);
  const c = compareRange(data, aStart + s, aUserEnd, data, bStart + s, bUserEnd);
  if (c !== 0) return c < 0;
  // Equal user keys: the trailers decide (an empty user key range compares equal).
  return compareInternalRange(data, aUserEnd, aEnd, data, bUserEnd, bEnd) < 0;
}

/**
 * Verifies and decodes a data block (contents ++ trailer, uncompressed or LZ4) into a run of
 * internal keys. Layout faults of a compressed block are reported at `offset` plus their position
 * in the raw contents.
 */
export function decodeBlock(block: Uint8Array, file?: string, offset?: number): EntryRun {
  const contentsBytes = verifyBlockTrailer(block, file, offset, true);
  if (block[contentsBytes] === BLOCK_TYPE_LZ4) {
    const raw = decompressContents(block, contentsBytes, file, offset);
    return decodeBlockContents(raw, raw.length, true, file, offset);
  }
  return decodeBlockContents(block, contentsBytes, true, file, offset);
}
