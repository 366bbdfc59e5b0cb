/**
 * Block compression (docs/format/sstable.md "Compressed blocks"): a data block's contents are
 * stored as varint(raw size) ++ an LZ4 block (./lz4.ts) with trailer type 1, when that saves at
 * least 1/8 of the raw contents (leveldb's rule in table/table_builder.cc WriteBlock) and the raw
 * contents are at most COMPRESSED_RAW_BYTES_MAX bytes (so a reader, a streamed compaction above
 * all, sizes its buffer for any compressed block up front). Twin of asm/block.ts compressContents
 * and its decompression in validateBlock.
 */
import { CorruptionError } from '../../errors.js';
import { getVarint, putVarint, type VarintRead } from '../../util/bytes.js';
import { lz4Compress, lz4Decompress } from './lz4.js';

export const BLOCK_TYPE_LZ4 = 1;
/** Largest raw contents of a compressed block. */
export const COMPRESSED_RAW_BYTES_MAX = 65536;

/**
 * Incompressible data (random or already compressed values) costs a full LZ4 pass per block for
 * nothing. After INCOMPRESSIBLE_STREAK_BLOCKS data blocks in a row of one table did not compress,
 * only every COMPRESSION_PROBE_BLOCKS-th block is tried, until one compresses again (then every
 * block is tried again). Like LZ4's own acceleration and Snappy's skipping within a block, but
 * across blocks; RocksDB tries every block. Both twins decide from the same blocks in the same
 * order (asm/block.ts compressionGateTry), so they write the same bytes; a reader needs none of
 * this: it sees raw and LZ4 blocks, each with its type.
 */
export const INCOMPRESSIBLE_STREAK_BLOCKS = 8;
export const COMPRESSION_PROBE_BLOCKS = 16;

/** The per-table state of the rule above: reset() at each table's start. */
export class CompressionGate {
  private misses = 0;
  private skipped = 0;

  reset(): void {
    this.misses = 0;
    this.skipped = 0;
  }

  /** Whether to try compressing the next data block. */
  shouldTry(): boolean {
    if (this.misses < INCOMPRESSIBLE_STREAK_BLOCKS) return true;
    if (++this.skipped < COMPRESSION_PROBE_BLOCKS) return false;
    this.skipped = 0;
    return true;
  }

  /** The block shouldTry() allowed did (true) or did not compress. */
  record(compressed: boolean): void {
    if (compressed) this.misses = 0;
    else if (this.misses < INCOMPRESSIBLE_STREAK_BLOCKS) this.misses++;
  }
}

/** Compressed contents are below the raw size: this holds any of them. */
const scratch = new Uint8Array(COMPRESSED_RAW_BYTES_MAX + 16);
const varint: VarintRead = { value: 0, pos: 0 };

/**
 * The compressed contents of raw contents buf[start..end), or undefined when compression does not
 * pay. The result is a view of a shared scratch buffer, valid until the next call.
 */
export function compressContents(buf: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const rawBytes = end - start;
  if (rawBytes > COMPRESSED_RAW_BYTES_MAX) return undefined;
  const lz4Start = putVarint(scratch, 0, rawBytes);
  const sizeMax = rawBytes - (rawBytes >>> 3) - 1;
  if (sizeMax <= lz4Start) return undefined;
  const lz4End = lz4Compress(buf, start, end, scratch, lz4Start, sizeMax);
  return lz4End < 0 ? undefined : scratch.subarray(0, lz4End);
}

/**
 * Raw contents of the compressed contents block[0..contentsBytes). Throws CorruptionError at
 * `offset` plus the position of the fault (0 for a bad raw size).
 */
export function decompressContents(block: Uint8Array, contentsBytes: number, file?: string, offset?: number): Uint8Array {
  getVarint(block, 0, contentsBytes, varint);
  if (varint.pos < 0 || varint.value > COMPRESSED_RAW_BYTES_MAX) {
    throw new CorruptionError(`compressed block raw size does not parse or exceeds ${COMPRESSED_RAW_BYTES_MAX}`, file, offset);
  }
  const start = varint.pos;
  const raw = new Uint8Array(varint.value);
  const bad = lz4Decompress(block, start, contentsBytes, raw, 0, raw.length);
  if (bad >= 0) {
    throw new CorruptionError(`LZ4 block does not decode (block byte ${start + bad})`, file,
      offset === undefined ? undefined : offset + start + bad);
  }
  return raw;
}
