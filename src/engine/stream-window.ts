/**
 * How a streamed compaction reads a table input (src/engine/types.ts BlockSource): a window of
 * whole, consecutive data blocks of at most `bytesMax` bytes, or one block when that block alone is
 * larger. Both twins read the same windows, so they ask the file for the same byte ranges.
 */
import type { BlockSource } from './types.js';
import { CorruptionError } from '../errors.js';

/**
 * Fewest bytes a data block takes in a file. Uncompressed: trailer (5), restart count and one
 * restart (8), one entry of a header (3) and an 8-byte key: 24. LZ4-compressed: trailer (5), the
 * raw size varint (1) and an LZ4 block of at least a literal, a match and the 5 last literals
 * (10): 16.
 */
const BLOCK_FILE_BYTES_MIN = 16;

/** Most blocks a window of `bytesMax` bytes can hold. */
export function windowBlocksMax(bytesMax: number): number {
  return Math.floor(bytesMax / BLOCK_FILE_BYTES_MIN) + 1;
}

/** Bytes of a data block in the file: contents plus its 5-byte trailer. */
export function blockFileBytes(source: BlockSource, b: number): number {
  return source.blockSizes[b]! + 5;
}

/**
 * End (exclusive) of the window of blocks starting at block `from`. REQUIRES: from < block count.
 * A window holds at most windowBlocksMax(bytesMax) blocks, even when a corrupt index names blocks
 * smaller than any writer makes.
 */
export function windowEnd(source: BlockSource, from: number, bytesMax: number): number {
  const n = Math.min(source.blockOffsets.length, from + windowBlocksMax(bytesMax));
  let bytes = blockFileBytes(source, from);
  let end = from + 1;
  while (end < n && bytes + blockFileBytes(source, end) <= bytesMax) {
    bytes += blockFileBytes(source, end);
    end++;
  }
  return end;
}

/** Reads blocks [from, end) as one byte range; throws CorruptionError on a short read. */
export function readWindow(source: BlockSource, from: number, end: number): Uint8Array {
  const start = source.blockOffsets[from]!;
  const length = source.blockOffsets[end - 1]! + blockFileBytes(source, end - 1) - start;
  const bytes = source.read(start, length);
  if (bytes.length !== length) throw new CorruptionError('short read of data blocks', source.path, start);
  return bytes;
}

/** The largest block of `source` in the file, trailer included (sizes a window's buffer). */
export function largestBlockBytes(source: BlockSource): number {
  let max = 0;
  for (let b = 0; b < source.blockSizes.length; b++) max = Math.max(max, blockFileBytes(source, b));
  return max;
}
