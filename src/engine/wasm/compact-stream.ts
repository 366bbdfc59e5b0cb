/**
 * The host side of asm/compact.ts (streamed compaction inside the module): lays out the module's
 * arena for one job, feeds each input a window of whole blocks when the module asks
 * (STATUS_NEED_INPUT), and hands finished output chunks and tables to the TableOutput. Every
 * crossing moves a window or a chunk, never a key.
 *
 * Arena layout (from the arena base, 8-aligned pieces), sized from the inputs' block handles:
 *   params, input descriptors, snapshots, loser tree
 *   the key range's bounds (StreamOptions.lowerUserKey, upperUserKey), if any
 *   current user key, last key, first key (each the largest key an input can hold)
 *   pending tombstones: (snapshots + 1) entries of the largest entry size
 *   data-block restart scratch
 *   the LZ4 scratch an output block is compressed through
 *   per input: its window (max(readAheadBytes, its largest block)), the window's block sizes,
 *     a buffer of COMPRESSED_RAW_BYTES_MAX a compressed block is decompressed to, two key
 *     buffers (as large as the largest raw block); a run input is placed whole instead, and a
 *     memtable image (a flush) is its arena chunks copied whole, placed before the buffers above
 *     since its walk sizes them;
 *     a chain of tables (a level) is one input, its tables opened one after another
 *   output: outputChunkBytes plus room for the open block and one pass's entries
 *   the table log and tail, which the module grows with the open table
 * So the arena is O(inputs x (readAheadBytes + largest raw block) + outputChunkBytes + one table's
 * index and filter), whatever the inputs' size, and it is the same region for every job.
 */
import type { BlockSource, EntryRun, SkipListSource, StreamOptions, StreamResult, StreamSource, TableOutput } from '../types.js';
import { assert } from '../../util/assert.js';
import { validateStreamOptions } from '../js/compact-stream.js';
import { COMPRESSED_RAW_BYTES_MAX } from '../js/block-compression.js';
import { compressesBlocks } from '../js/table-builder.js';
import { largestBlockBytes, readWindow, windowBlocksMax, windowEnd } from '../stream-window.js';
import {
  STATUS_CHUNK_READY, STATUS_NEED_INPUT, STATUS_OK, STATUS_SKIPLIST, STATUS_TABLE_READY, statusError,
} from './status.js';

/** The exports asm/compact.ts adds (asm/index.ts). */
export interface CompactExports {
  skipListMeasure(nodes: number, nodeChunks: number, entries: number): number;
  compactBegin(params: number): number;
  compactRefill(input: number, blockCount: number): number;
  compactRun(): number;
}

/** What the wrapper (src/engine/wasm/index.ts) lends a compaction: its guarded door. */
export interface ArenaDoor {
  readonly exports: CompactExports;
  readonly base: number;
  /** Makes [0, endPtr) addressable (throws WasmError past the arena limit). */
  reserve(endPtr: number): void;
  /** Current views of memory (re-read after every export call: growth detaches them). */
  u8(): Uint8Array;
  u32(): Uint32Array;
  result(index: number): number;
}

/** asm/compact.ts PARAM_WORDS and DESC_WORDS. */
const PARAM_WORDS = 28;
const DESC_WORDS = 24;
/** asm/compact.ts KIND_SKIPLIST and D_SHIFT: a memtable image input and its arena's chunk shift. */
const KIND_SKIPLIST = 2;
const D_SHIFT_WORD = 18;
/** asm/compact.ts D_NODE_CHUNKS, D_VALUE_CHUNKS, D_KEY_MAX, D_ENTRY_MAX. */
const D_NODE_CHUNKS_WORD = 19;
/** asm/compact.ts D_ENTRIES: entries an input has read. */
const D_ENTRIES_WORD = 14;
const ENTRY_HEADER_BYTES_MAX = 15;
/** asm/block.ts COMPRESS_SCRATCH_BYTES. */
const COMPRESS_SCRATCH_BYTES = COMPRESSED_RAW_BYTES_MAX + 16;

const align8 = (n: number): number => (n + 7) & ~7;

interface InputPlan {
  source: StreamSource;
  /** Largest key and entry (key + value) bytes the input can hold. */
  keyBytesMax: number;
  entryBytesMax: number;
  windowBytes: number;
  sizesCount: number;
  /** The table being read (block sources and chains), its index in a chain, and where it began. */
  table: BlockSource | undefined;
  tableIndex: number;
  tableStartEntries: number;
  /** Next block of `table` to read, and the first block of the current window. */
  nextBlock: number;
  windowFirst: number;
}

function planInput(source: StreamSource, readAheadBytes: number): InputPlan {
  const plan: InputPlan = {
    source, keyBytesMax: 8, entryBytesMax: 8, windowBytes: 0, sizesCount: 0,
    table: undefined, tableIndex: 0, tableStartEntries: 0, nextBlock: 0, windowFirst: 0,
  };
  if (source.kind === 'skiplist') return plan; // measured in the module once its chunks are in (placeSkipList)
  if (source.kind === 'run') {
    const { offsets, count } = source.run;
    for (let i = 0; i < count; i++) {
      plan.keyBytesMax = Math.max(plan.keyBytesMax, offsets[2 * i + 1]! - offsets[2 * i]!);
      plan.entryBytesMax = Math.max(plan.entryBytesMax, offsets[2 * i + 2]! - offsets[2 * i]!);
    }
    plan.windowBytes = align8(4 * (2 * count + 1)) + (offsets[2 * count]! - offsets[0]!);
    return plan;
  }
  // A key is at most its block's raw contents (a restart key is whole in it, and every later key
  // only extends a shared prefix of the one before by bytes of the block); a value is too. Raw
  // contents are the block itself, or for a compressed block at most COMPRESSED_RAW_BYTES_MAX.
  const largest = source.kind === 'chain' ? source.blockBytesMax : largestBlockBytes(source);
  if (source.kind === 'blocks') plan.table = source;
  plan.keyBytesMax = Math.max(8, largest, COMPRESSED_RAW_BYTES_MAX);
  plan.entryBytesMax = 2 * plan.keyBytesMax;
  plan.windowBytes = Math.max(readAheadBytes, largest);
  plan.sizesCount = windowBlocksMax(readAheadBytes);
  return plan;
}

export function wasmCompactStreams(
  door: ArenaDoor, inputs: readonly StreamSource[], options: StreamOptions, output: TableOutput,
): StreamResult {
  validateStreamOptions(options);
  const { snapshots } = options;
  const k = inputs.length;
  const plans = inputs.map((source) => planInput(source, options.readAheadBytes));

  // ---- layout ----
  let at = door.base;
  const take = (bytes: number): number => {
    const ptr = at;
    at = align8(at + bytes);
    return ptr;
  };
  const params = take(4 * PARAM_WORDS);
  const descs = take(4 * DESC_WORDS * k);
  const snaps = take(8 * snapshots.length);
  const tree = take(12 * k + 4);
  // A memtable image first: its largest key and entry, which size the buffers below, are known
  // only once the module has walked it.
  const skipLists = plans.map((p) => (p.source.kind === 'skiplist' ? placeSkipList(door, p, p.source, take, () => at) : undefined));
  let keyBytesMax = 8;
  let entryBytesMax = 8;
  for (const p of plans) {
    keyBytesMax = Math.max(keyBytesMax, p.keyBytesMax);
    entryBytesMax = Math.max(entryBytesMax, p.entryBytesMax);
  }
  const curUser = take(keyBytesMax);
  const lastKey = take(keyBytesMax);
  const firstKey = take(keyBytesMax);
  const pending = take((snapshots.length + 1) * (entryBytesMax + 16));
  const restarts = take(options.blockSizeBytes + 64);
  const lz4Scratch = take(COMPRESS_SCRATCH_BYTES);
  const lower = options.lowerUserKey;
  const upper = options.upperUserKey;
  const lowerPtr = take(lower?.length ?? 0);
  const upperPtr = take(upper?.length ?? 0);
  const slots = plans.map((p) => ({
    window: take(p.windowBytes + 16),
    sizes: take(4 * p.sizesCount),
    raw: p.source.kind === 'run' || p.source.kind === 'skiplist' ? 0 : take(COMPRESSED_RAW_BYTES_MAX),
    keyA: take(p.keyBytesMax),
    keyB: take(p.keyBytesMax),
  }));
  // One pass of the module's loop writes at most the held-back tombstones and one entry, and the
  // open block is below blockSizeBytes before it; the chunk is handed out once it reaches its size.
  const outBase = take(0);
  const outBytes = options.outputChunkBytes + 2 * options.blockSizeBytes + 2 * restartsBytes(options.blockSizeBytes) +
    (snapshots.length + 2) * (entryBytesMax + ENTRY_HEADER_BYTES_MAX + 8) + 1024;
  const outEnd = outBase + outBytes;
  at = align8(outEnd);
  const logBase = take(0);
  door.reserve(logBase + 64 * 1024);

  let u32 = door.u32();
  const words = (ptr: number): number => ptr >>> 2;
  const P = words(params);
  u32.fill(0, P, P + PARAM_WORDS);
  const paramValues = [
    k, descs, snaps, snapshots.length, options.dropTombstones ? 1 : 0, options.blockSizeBytes, options.restartInterval,
    options.bloomBitsPerKey, Math.min(options.targetFileSizeBytes, 0xffff_ffff), tree, curUser, pending, lastKey, firstKey,
    restarts, outBase, outEnd, options.outputChunkBytes, logBase, compressesBlocks(options) ? 1 : 0, lz4Scratch,
    (lower === undefined ? 0 : 1) | (upper === undefined ? 0 : 2), lowerPtr, lower?.length ?? 0, upperPtr, upper?.length ?? 0,
  ];
  for (let i = 0; i < paramValues.length; i++) u32[P + i] = paramValues[i]!;
  if (lower !== undefined) door.u8().set(lower, lowerPtr);
  if (upper !== undefined) door.u8().set(upper, upperPtr);
  for (let i = 0; i < snapshots.length; i++) {
    u32[words(snaps) + 2 * i] = snapshots[i]! >>> 0;
    u32[words(snaps) + 2 * i + 1] = Math.floor(snapshots[i]! / 0x1_0000_0000);
  }
  for (let r = 0; r < k; r++) {
    const plan = plans[r]!;
    const slot = slots[r]!;
    const d = words(descs) + DESC_WORDS * r;
    u32.fill(0, d, d + DESC_WORDS);
    u32[d + 7] = slot.keyA;
    u32[d + 8] = slot.keyB;
    u32[d + 17] = slot.raw;
    const skipList = skipLists[r];
    if (skipList !== undefined) {
      u32[d] = KIND_SKIPLIST;
      u32[d + 1] = skipList.nodes;
      u32[d + 2] = skipList.values;
      u32[d + 3] = skipList.entries;
      u32[d + D_SHIFT_WORD] = skipList.shift;
      u32[d + D_NODE_CHUNKS_WORD] = skipList.nodeChunks;
      u32[d + D_NODE_CHUNKS_WORD + 1] = skipList.valueChunks;
      u32[d + D_NODE_CHUNKS_WORD + 2] = plan.keyBytesMax;
      u32[d + D_NODE_CHUNKS_WORD + 3] = plan.entryBytesMax;
    } else if (plan.source.kind === 'run') {
      const placed = placeRun(door, plan.source.run, slot.window);
      u32 = door.u32();
      u32[d] = 1;
      u32[d + 1] = placed.dataBias;
      u32[d + 2] = placed.offsetsPtr;
      u32[d + 3] = plan.source.run.count;
    } else {
      u32[d + 1] = slot.window;
      u32[d + 2] = slot.sizes;
      u32[d + 3] = fillWindow(door, plan, slot.window, slot.sizes, options.readAheadBytes, 0);
      u32 = door.u32();
    }
  }

  const fail = (operation: string, status: number): Error => {
    assert(status !== STATUS_SKIPLIST, () => `memtable image input ${door.result(5)} does not walk (after ${door.result(4)} entries)`);
    const source = plans[door.result(5)]?.table;
    if (source === undefined) return statusError(operation, status);
    const plan = plans[door.result(5)]!;
    return statusError(operation, status, source.path, source.blockOffsets[plan.windowFirst + door.result(6)], door.result(4));
  };

  let status = door.exports.compactBegin(params);
  if (status !== STATUS_OK) throw fail('compactBegin', status);
  let outputEntries = 0;
  // Each call returns with progress: a window used up, a chunk or a table written, or the end.
  for (;;) {
    status = door.exports.compactRun();
    if (status === STATUS_OK) {
      outputEntries = door.result(0);
      break;
    }
    if (status === STATUS_NEED_INPUT) {
      const r = door.result(0);
      const plan = plans[r]!;
      const slot = slots[r]!;
      const entriesSoFar = door.u32()[words(descs) + DESC_WORDS * r + D_ENTRIES_WORD]!;
      const count = fillWindow(door, plan, slot.window, slot.sizes, options.readAheadBytes, entriesSoFar);
      status = door.exports.compactRefill(r, count);
      if (status !== STATUS_OK) throw fail('compactRefill', status);
    } else if (status === STATUS_CHUNK_READY) {
      const ptr = door.result(0);
      output.write(door.u8().subarray(ptr, ptr + door.result(1)));
    } else if (status === STATUS_TABLE_READY) {
      const u8 = door.u8();
      const dataPtr = door.result(0);
      const dataBytes = door.result(1);
      const tailPtr = door.result(2);
      if (dataBytes > 0) output.write(u8.subarray(dataPtr, dataPtr + dataBytes));
      output.write(u8.subarray(tailPtr, tailPtr + door.result(3)));
      output.end({
        fileBytes: door.result(12),
        smallestKey: u8.slice(firstKey, firstKey + door.result(10)),
        largestKey: u8.slice(lastKey, lastKey + door.result(11)),
        entryCount: door.result(4),
        deletionCount: door.result(5),
        smallestSequence: door.result(6) + door.result(7) * 0x1_0000_0000,
        largestSequence: door.result(8) + door.result(9) * 0x1_0000_0000,
      });
    } else {
      throw fail('compactRun', status);
    }
  }
  u32 = door.u32();
  const inputEntries = plans.map((_, r) => u32[words(descs) + DESC_WORDS * r + D_ENTRIES_WORD]!);
  return { inputEntries, outputEntries };
}

/** Upper bound of a data block's restart array: an entry takes at least 4 bytes. */
function restartsBytes(blockSizeBytes: number): number {
  return 4 * (Math.ceil(blockSizeBytes / 4) + 2);
}

/**
 * The table the input's next window comes from: in a chain, a used-up table is closed (with the
 * entries read from it, `entriesSoFar` minus those before it) and the next one opened.
 * undefined once the input has ended.
 */
function currentTable(plan: InputPlan, entriesSoFar: number): BlockSource | undefined {
  // Bounded: each pass opens the next table of the chain or returns.
  for (;;) {
    const table = plan.table;
    if (table !== undefined && plan.nextBlock < table.blockOffsets.length) return table;
    const chain = plan.source;
    if (chain.kind !== 'chain') {
      plan.table = undefined;
      return undefined;
    }
    if (table !== undefined) {
      chain.close(plan.tableIndex, entriesSoFar - plan.tableStartEntries);
      plan.tableIndex++;
    }
    plan.table = undefined;
    if (plan.tableIndex >= chain.length) return undefined;
    plan.tableStartEntries = entriesSoFar;
    plan.nextBlock = 0;
    plan.table = chain.open(plan.tableIndex);
  }
}

/** Reads the input's next window into its slot; returns its block count (0: the input ended). */
function fillWindow(
  door: ArenaDoor, plan: InputPlan, window: number, sizes: number, readAheadBytes: number, entriesSoFar: number,
): number {
  const source = currentTable(plan, entriesSoFar);
  if (source === undefined) return 0;
  const from = plan.nextBlock;
  const end = windowEnd(source, from, readAheadBytes);
  const bytes = readWindow(source, from, end);
  assert(bytes.length <= plan.windowBytes && end - from <= plan.sizesCount, 'a window fits its slot');
  door.u8().set(bytes, window);
  const u32 = door.u32();
  for (let b = from; b < end; b++) u32[(sizes >>> 2) + b - from] = source.blockSizes[b]! + 5;
  plan.windowFirst = from;
  plan.nextBlock = end;
  return end - from;
}

/** Where placeSkipList put a memtable image: its chunk tables (asm/skiplist.ts). */
interface PlacedSkipList {
  nodes: number;
  values: number;
  nodeChunks: number;
  valueChunks: number;
  entries: number;
  shift: number;
}

/**
 * Copies a memtable image's chunks, each whole, and their chunk tables into the arena at `take`
 * (`end` is the arena's end so far), then has the module scan them (asm/skiplist.ts
 * skipListMeasure): the plan learns its largest key and entry, which the merge checks each node
 * against as it walks the links.
 */
function placeSkipList(
  door: ArenaDoor, plan: InputPlan, source: SkipListSource, take: (bytes: number) => number, end: () => number,
): PlacedSkipList {
  const chunkBytes = source.chunkBytes;
  assert(Number.isInteger(chunkBytes) && chunkBytes > 0 && (chunkBytes & (chunkBytes - 1)) === 0, 'chunkBytes is a power of two');
  const shift = 31 - Math.clz32(chunkBytes);
  const tables = [source.nodeChunks, source.valueChunks].map((chunks) => {
    const table = take(8 * chunks.length);
    const at = chunks.map((c) => take(c.byteLength));
    return { table, at };
  });
  door.reserve(end());
  const u8 = door.u8();
  const u32 = door.u32();
  [source.nodeChunks, source.valueChunks].forEach((chunks, t) => {
    const { table, at } = tables[t]!;
    chunks.forEach((c, i) => {
      u8.set(new Uint8Array(c), at[i]!);
      u32[(table >>> 2) + 2 * i] = at[i]!;
      u32[(table >>> 2) + 2 * i + 1] = c.byteLength;
    });
  });
  const nodes = tables[0]!.table;
  const values = tables[1]!.table;
  const status = door.exports.skipListMeasure(nodes, source.nodeChunks.length, source.entries);
  assert(status === STATUS_OK, () => `memtable image does not parse (${door.result(0)} nodes with keys of ${source.entries})`);
  plan.keyBytesMax = Math.max(8, door.result(0));
  plan.entryBytesMax = Math.max(8, door.result(1));
  return { nodes, values, nodeChunks: source.nodeChunks.length, valueChunks: source.valueChunks.length, entries: source.entries, shift };
}

/** Copies a run (offsets, then data) to `at`; key i is then at dataBias + offsets[2i]. */
function placeRun(door: ArenaDoor, run: EntryRun, at: number): { dataBias: number; offsetsPtr: number } {
  const offsetCount = 2 * run.count + 1;
  const dataPtr = align8(at + 4 * offsetCount);
  const first = run.offsets[0]!;
  door.u32().set(run.offsets.subarray(0, offsetCount), at >>> 2);
  door.u8().set(run.data.subarray(first, run.offsets[2 * run.count]!), dataPtr);
  return { dataBias: (dataPtr - first) >>> 0, offsetsPtr: at };
}
