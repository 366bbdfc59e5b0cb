/**
 * The TypeScript twin of the hot paths (src/engine/types.ts): plain TypeScript, no WebAssembly.
 * It is the reference the WASM twin is tested against byte for byte, and the engine used where
 * WebAssembly is not wanted. Formats: docs/format/sstable.md.
 */
import type { HotPaths } from '../types.js';
import { decodeBlock, encodeBlock } from './block.js';
import { bloomBuild, bloomMayContain } from './bloom.js';
import { crc32c } from '../../format/crc32c.js';
import { mergeRuns } from './merge.js';
import { buildTables } from './table-builder.js';
import { compactStreams } from './compact-stream.js';
import { lz4CompressBytes, lz4DecompressBytes } from './lz4.js';

export const jsHotPaths: HotPaths = Object.freeze({
  name: 'js',
  crc32c,
  bloomBuild,
  bloomMayContain,
  encodeBlock,
  decodeBlock,
  lz4Compress: lz4CompressBytes,
  lz4Decompress: lz4DecompressBytes,
  buildTables,
  mergeRuns,
  compactStreams,
});
