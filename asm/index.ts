// lsmraft WebAssembly hot paths: the module's exports, documented in asm/README.md. Every export
// takes pointers into this module's memory (laid out by src/engine/wasm from arenaBase() upward)
// and returns a status (asm/memory.ts STATUS_*) or a plain value; extra results go to RESULT.

import { lz4CompressInto, lz4DecompressInto } from './lz4';
import { STATUS_BLOCK_LZ4, STATUS_OK, STATUS_OUT_OF_MEMORY, RESULT, arenaBase, ensureCapacity, setResult } from './memory';
import { bloomContentsBytes, bloomMayContain as mayContain, bloomWrite, distinctUserKeys, bloomHash as hash } from './bloom';
import { decodeBlockInto, encodeBlockInto } from './block';
import { buildTablesInto, tableScratchBytes as scratchBytes } from './table';
import { mergeRunsInto } from './merge';

export { compactBegin, compactRefill, compactRun } from './compact';
export { skipListMeasure } from './skiplist';

export { crc32c } from './crc32c';
export { arenaBase };

/** Pointer of the result slots (16 u32). */
export function resultPtr(): usize {
  return RESULT;
}

/** Grows memory so [0, endPtr) is addressable. Returns STATUS_OK or STATUS_OUT_OF_MEMORY. */
export function reserve(endPtr: usize): i32 {
  return ensureCapacity(endPtr) ? STATUS_OK : STATUS_OUT_OF_MEMORY;
}

/** MurmurHash3 x86_32 of [ptr, ptr+len), seed 0xbc9f1d34 (the bloom filter's key hash). */
export function bloomHash(ptr: usize, len: usize): u32 {
  return hash(ptr, len);
}

/** Filter contents for the run's distinct user keys, written at `out`. Results: [0] bytes. */
export function bloomBuild(dataBias: usize, offsets: usize, count: u32, bitsPerKey: u32, out: usize): i32 {
  const distinct = distinctUserKeys(dataBias, offsets, count);
  const bytes = bloomContentsBytes(distinct, bitsPerKey);
  if (!ensureCapacity(out + bytes)) return STATUS_OUT_OF_MEMORY;
  bloomWrite(out, dataBias, offsets, count, distinct, bitsPerKey);
  setResult(0, <u32>bytes);
  return STATUS_OK;
}

/** 1 when the key may be in the filter, 0 when it is certainly absent. */
export function bloomMayContain(filter: usize, filterLen: usize, key: usize, keyLen: usize): i32 {
  return mayContain(filter, filterLen, key, keyLen) ? 1 : 0;
}

/**
 * Encodes run entries [0, count) as one block (contents ++ trailer) at `out`, restart offsets
 * collected at `restartsScratch`. The caller reserved both. Results: [0] block bytes.
 */
export function encodeBlock(
  dataBias: usize, offsets: usize, count: u32, restartInterval: u32, restartsScratch: usize, out: usize,
): i32 {
  const end = encodeBlockInto(out, restartsScratch, dataBias, offsets, count, restartInterval);
  setResult(0, <u32>(end - out));
  return STATUS_OK;
}

/** Verifies and decodes a data block; see asm/block.ts decodeBlockInto for the results. */
export function decodeBlock(block: usize, len: usize, out: usize): i32 {
  return decodeBlockInto(block, len, out);
}

/** Scratch bytes buildTables needs for `count` entries. */
export function tableScratchBytes(count: u32): usize {
  return scratchBytes(count);
}

/** Builds the tables of a run; see asm/table.ts for the output stream. */
export function buildTables(
  dataBias: usize, offsets: usize, count: u32,
  blockSizeBytes: u32, restartInterval: u32, bloomBitsPerKey: u32, targetFileSizeBytes: u32, compression: u32,
  scratch: usize, out: usize,
): i32 {
  return buildTablesInto(dataBias, offsets, count, blockSizeBytes, restartInterval, bloomBitsPerKey,
    targetFileSizeBytes, compression, scratch, out);
}

/**
 * LZ4 block of [src, src+len) at `dst`, ending at most at dst + limit. Results: [0] bytes written,
 * or 0 when the block would not fit in `limit` bytes (no byte is written at or past dst + limit).
 */
export function lz4Compress(src: usize, len: usize, dst: usize, limit: usize): i32 {
  const end = lz4CompressInto(src, len, dst, dst + limit);
  setResult(0, end == 0 ? 0 : <u32>(end - dst));
  return STATUS_OK;
}

/**
 * Decodes the LZ4 block [src, src+len) into exactly rawBytes bytes at `dst` (reserved by the
 * caller). STATUS_BLOCK_LZ4 with R[4] = the position of the fault when it does not.
 */
export function lz4Decompress(src: usize, len: usize, dst: usize, rawBytes: usize): i32 {
  const bad = lz4DecompressInto(src, len, dst, rawBytes);
  if (bad < 0) return STATUS_OK;
  setResult(4, <u32>bad);
  return STATUS_BLOCK_LZ4;
}

/** k-way merge with the compaction rules; see asm/merge.ts for the layout. */
export function mergeRuns(
  runs: usize, k: u32, snapshots: usize, snapCount: u32, dropTombstones: u32,
  scratch: usize, outOffsets: usize, outData: usize,
): i32 {
  return mergeRunsInto(runs, k, snapshots, snapCount, dropTombstones != 0, scratch, outOffsets, outData);
}
