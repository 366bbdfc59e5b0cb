// Streamed compaction: merge k inputs and cut output tables in one pass, inside this module's
// memory, in bounded space. Twin of src/engine/js/compact-stream.ts (same tables, byte for byte);
// the merge rules are docs/format/sstable.md "Merge rules", the merge a loser tree
// (asm/loser-tree.ts), the table layout asm/table.ts's.
//
// A resumable state machine in module globals: compactBegin() sets it up over the inputs' first
// windows, compactRun() runs until it needs the host (a status below), compactRefill() hands an
// input its next window. Each crossing moves a window of whole input blocks in, or a chunk of
// finished output blocks out, never single keys:
//   STATUS_NEED_INPUT    input R[0] used up its window (the host refills it, maybe with none: ended)
//   STATUS_CHUNK_READY   finished blocks [R[0], +R[1]) of the open table are ready to write
//   STATUS_TABLE_READY   a table ended: blocks [R[0], +R[1]), then its tail [R[2], +R[3]) (filter,
//                        properties, metaindex, index, footer); R[4] entries, R[5] deletions,
//                        R[6,7] smallest seq lo/hi, R[8,9] largest, R[10] first key bytes (at the
//                        first-key buffer), R[11] last key bytes (last-key buffer), R[12] file bytes
//   STATUS_OK            done; R[0] output entries
// Anything else is a corruption status (R[4] position in the block, R[5] input, R[6] block index in
// its window), STATUS_SKIPLIST (a memtable image input that does not walk: a bug; R[4] entries read,
// R[5] input) or out of memory.
//
// Memory, all laid out by the host (src/engine/wasm/compact-stream.ts) except the table log at the
// top: per input a window slot and two key buffers; the merge's current user key; the pending
// tombstones (at most one per snapshot stripe); the first and last key of the open table; one open
// output block plus up to a chunk of finished ones; and the table log, which grows with the open
// table only (8 bytes per distinct user key for the filter, one encoded index entry per data block)
// and is reused by the next table. Nothing depends on the inputs' total size, and the same layout
// is reused by the next job.
//
// Input entries are read in place: a block is validated whole (trailer and layout, asm/block.ts
// validateBlock; an LZ4-compressed block is first decompressed to its input's raw buffer, of
// COMPRESSED_RAW_BYTES_MAX bytes) when reached, then its entries are parsed one at a time, each key
// rebuilt in one of the input's two key buffers (the other holds the previous key, for prefix
// sharing and the order check). Keys that must outlive a window or a block (current user key,
// pending tombstones, the output's last key) are copies, so a refill, or the next compressed block
// of the input, may overwrite what the current entry was read from.

import {
  STATUS_BLOCK_ORDER, STATUS_CHUNK_READY, STATUS_NEED_INPUT, STATUS_OK, STATUS_OUT_OF_MEMORY, STATUS_OUTPUT_FULL,
  STATUS_SKIPLIST, STATUS_TABLE_READY, align4, ensureCapacity, setResult,
} from './memory';
import { compareBytes, compareInternal, copyBytes, getVarint, putVarint32, varintValue } from './coding';
import { bloomAddHash, bloomContentsBytes, bloomHash, bloomProbes, bloomStart } from './bloom';
import {
  ENTRY_HEADER_BYTES_MAX, TRAILER_BYTES, blockAdd, blockAddFinishBytesMax, blockContentsBytes, blockFinishData,
  blockMovedDown, blockPos, blockReset, blockSetPrevKey, blockStartPtr, compressionGateReset, putWholeEntry, validateBlock,
  validatedContents, validatedEntriesBytes, writeTrailer,
} from './block';
import {
  FOOTER_BYTES, METAINDEX_BYTES_MAX, PROPERTIES_BYTES_MAX, formatVersion, lastMetaindexOffset, lastMetaindexSize,
  writeFooter, writeMetaBlocks,
} from './table';
import { playTournament, replayWinner } from './loser-tree';
import {
  skipListKey, skipListKeyBytes, skipListNext, skipListNodeFits, skipListPtr, skipListValueAddress, skipListValueBytes,
} from './skiplist';

// ---- parameters (u32 words at the pointer compactBegin takes) ----
export const PARAM_WORDS: usize = 28;
const P_K = 0;
const P_DESCS = 1;
const P_SNAPSHOTS = 2; // snapCount u64, ascending
const P_SNAP_COUNT = 3;
const P_DROP_TOMBSTONES = 4;
const P_BLOCK_SIZE = 5;
const P_RESTART_INTERVAL = 6;
const P_BLOOM_BITS = 7;
const P_TARGET = 8;
const P_TREE = 9; // 3k u32
const P_CUR_USER = 10;
const P_PENDING = 11;
const P_LAST_KEY = 12;
const P_FIRST_KEY = 13;
const P_RESTARTS = 14;
const P_OUT_BASE = 15;
const P_OUT_END = 16;
const P_CHUNK_BYTES = 17;
const P_LOG_BASE = 18;
const P_COMPRESSION = 19; // 1: LZ4-compress data blocks where it pays (version-2 tables)
const P_LZ4_SCRATCH = 20; // COMPRESS_SCRATCH_BYTES (asm/block.ts)
const P_RANGE = 21; // bit 0: a lower bound, bit 1: an upper bound (StreamOptions.lowerUserKey, upperUserKey)
const P_LOWER = 22; // lower bound user key: pointer, bytes (entries below it are skipped)
const P_LOWER_LEN = 23;
const P_UPPER = 24; // upper bound user key: pointer, bytes (the merge ends at the first entry at or past it)
const P_UPPER_LEN = 25;

// ---- input descriptors (DESC_WORDS u32 each) ----
export const DESC_WORDS: usize = 24;
const KIND_BLOCKS: u32 = 0;
const KIND_RUN: u32 = 1;
const KIND_SKIPLIST: u32 = 2;
const D_KIND = 0; // KIND_BLOCKS, KIND_RUN (a run placed once, no refill) or KIND_SKIPLIST (a memtable image, asm/skiplist.ts)
const D_WINDOW = 1; // blocks: first byte of the window; run: data bias; skiplist: node chunk table
const D_SIZES = 2; // blocks: u32 file bytes of each window block; run: offsets pointer; skiplist: value chunk table
const D_COUNT = 3; // blocks in the window; run, skiplist: entries
const D_NEXT = 4; // blocks: next block index in the window; run: next entry; skiplist: arena address of the current node
const D_ENTRY = 5; // blocks: next entry to parse in the current block
const D_LIMIT = 6; // blocks: where the current block's entries end
const D_KEY_A = 7;
const D_KEY_B = 8;
const D_KEY = 9; // current entry: key pointer, key bytes, value pointer, value bytes
const D_KEY_LEN = 10;
const D_VALUE = 11;
const D_VALUE_LEN = 12;
const D_DONE = 13;
const D_ENTRIES = 14; // entries read so far
const D_BLOCK = 15; // first byte of the current block
const D_NEXT_PTR = 16; // blocks: first byte of the next block in the window
const D_RAW = 17; // blocks: COMPRESSED_RAW_BYTES_MAX bytes for the current block's raw contents
const D_SHIFT = 18; // skiplist: the arena's chunk shift
const D_NODE_CHUNKS = 19; // skiplist: node and value chunks (their tables' lengths)
const D_VALUE_CHUNKS = 20;
const D_KEY_MAX = 21; // skiplist: largest key, largest key plus value (skipListMeasure)
const D_ENTRY_MAX = 22;

@inline function dget(d: usize, f: i32): u32 {
  return load<u32>(d + (<usize>f << 2));
}

@inline function dset(d: usize, f: i32, v: u32): void {
  store<u32>(d + (<usize>f << 2), v);
}

@inline function param(p: usize, f: i32): u32 {
  return load<u32>(p + (<usize>f << 2));
}

// ---- configuration ----
let gK: u32 = 0;
let gDescs: usize = 0;
let gSnaps: usize = 0;
let gSnapCount: u32 = 0;
let gDrop = false;
let gBlockSize: u32 = 0;
let gRestartInterval: u32 = 1;
let gBloomBits: u32 = 0;
let gTarget: u32 = 0;
let gTree: usize = 0;
let gCurUser: usize = 0;
let gPending: usize = 0;
let gLastKey: usize = 0;
let gFirstKey: usize = 0;
let gRestarts: usize = 0;
let gOutBase: usize = 0;
let gOutEnd: usize = 0;
let gChunkBytes: usize = 0;
let gLogBase: usize = 0;
let gCompression: u32 = 0;
let gLz4Scratch: usize = 0;
let gHasLower = false;
let gLower: usize = 0;
let gLowerLen: usize = 0;
let gHasUpper = false;
let gUpper: usize = 0;
let gUpperLen: usize = 0;

// ---- merge state ----
let gCurUserLen: usize = 0;
let gHaveUser = false;
let gLastStripe: u32 = 0;
let gPendingEnd: usize = 0;
let gChunkOut: usize = 0; // bytes handed out by the last STATUS_CHUNK_READY, dropped on resume
let gOutputEntries: u32 = 0;

// ---- the open output table ----
let tEntries: u32 = 0;
let tFlushed: usize = 0; // bytes of this table handed out already
let tOutPos: usize = 0; // write pointer while no block is open
let tBlockOpen = false;
let tDataBlocks: u32 = 0;
let tDeletions: u32 = 0;
let tSmallestSeq: u64 = 0;
let tLargestSeq: u64 = 0;
let tRawKeyBytes: u64 = 0;
let tRawValueBytes: u64 = 0;
let tDistinct: u32 = 0;
let tLastKeyLen: usize = 0;
let tFirstKeyLen: usize = 0;
let tLogEnd: usize = 0;
let tIndexEntries: u32 = 0;
let tIndexBytes: usize = 0;

/** Scratch for a block handle. */
const HANDLE: usize = memory.data(32, 16);
/** Table log record tags (low bit of a record's first word). */
const LOG_HASH: u32 = 0;
const LOG_INDEX: u32 = 1;

@inline function descAt(r: u32): usize {
  return gDescs + <usize>r * (DESC_WORDS << 2);
}

// ---- inputs ----

/** Validates and enters the next block of the window of input r. */
function enterBlock(d: usize, r: u32): i32 {
  const b = dget(d, D_NEXT);
  if (b >= dget(d, D_COUNT)) return STATUS_NEED_INPUT;
  const block = <usize>dget(d, D_NEXT_PTR);
  const len = <usize>load<u32>(<usize>dget(d, D_SIZES) + (<usize>b << 2));
  const status = validateBlock(block, len, <usize>dget(d, D_RAW));
  if (status != STATUS_OK) {
    setResult(5, r);
    setResult(6, b);
    return status;
  }
  const contents = validatedContents();
  dset(d, D_BLOCK, <u32>contents);
  dset(d, D_ENTRY, <u32>contents);
  dset(d, D_LIMIT, <u32>(contents + validatedEntriesBytes()));
  dset(d, D_NEXT_PTR, <u32>(block + len));
  dset(d, D_NEXT, b + 1);
  return STATUS_OK;
}

/**
 * Moves input r to its next entry: STATUS_OK (D_DONE set after the last one of a run),
 * STATUS_NEED_INPUT when its window is used up, or a corruption status.
 */
function nextEntry(d: usize, r: u32): i32 {
  const kind = dget(d, D_KIND);
  if (kind == KIND_SKIPLIST) {
    // D_NEXT starts at 0, the head (the host checked it is in chunk 0).
    const nodes = <usize>dget(d, D_WINDOW);
    const values = <usize>dget(d, D_SIZES);
    const shift = dget(d, D_SHIFT);
    const next = skipListNext(skipListPtr(nodes, shift, dget(d, D_NEXT)));
    const read = dget(d, D_ENTRIES);
    if (next == 0 && read == dget(d, D_COUNT)) {
      dset(d, D_DONE, 1);
      return STATUS_OK;
    }
    // More or fewer nodes than entries (a cycle included), or a node outside its chunk.
    if (next == 0 || read == dget(d, D_COUNT) ||
        !skipListNodeFits(nodes, dget(d, D_NODE_CHUNKS), values, dget(d, D_VALUE_CHUNKS), shift, next, dget(d, D_KEY_MAX), dget(d, D_ENTRY_MAX))) {
      setResult(4, read);
      setResult(5, r);
      setResult(6, 0);
      return STATUS_SKIPLIST;
    }
    const node = skipListPtr(nodes, shift, next);
    const key = skipListKey(node);
    const valueBytes = skipListValueBytes(node);
    dset(d, D_KEY, <u32>key);
    dset(d, D_KEY_LEN, skipListKeyBytes(node));
    dset(d, D_VALUE, valueBytes == 0 ? <u32>key : <u32>skipListPtr(values, shift, skipListValueAddress(node)));
    dset(d, D_VALUE_LEN, valueBytes);
    dset(d, D_NEXT, next);
    dset(d, D_ENTRIES, dget(d, D_ENTRIES) + 1);
    return STATUS_OK;
  }
  if (kind == KIND_RUN) {
    const c = dget(d, D_NEXT);
    if (c >= dget(d, D_COUNT)) {
      dset(d, D_DONE, 1);
      return STATUS_OK;
    }
    const bias = <usize>dget(d, D_WINDOW);
    const o = <usize>dget(d, D_SIZES) + (<usize>c << 3);
    const key = bias + <usize>load<u32>(o);
    const value = bias + <usize>load<u32>(o, 4);
    dset(d, D_KEY, <u32>key);
    dset(d, D_KEY_LEN, <u32>(value - key));
    dset(d, D_VALUE, <u32>value);
    dset(d, D_VALUE_LEN, <u32>(bias + <usize>load<u32>(o, 8) - value));
    dset(d, D_NEXT, c + 1);
    dset(d, D_ENTRIES, dget(d, D_ENTRIES) + 1);
    return STATUS_OK;
  }
  if (dget(d, D_ENTRY) >= dget(d, D_LIMIT)) {
    const status = enterBlock(d, r);
    if (status != STATUS_OK) return status;
  }
  // The block was validated: every length below is within it.
  const entry = <usize>dget(d, D_ENTRY);
  const limit = <usize>dget(d, D_LIMIT);
  let p = getVarint(entry, limit);
  const shared = <usize>varintValue;
  p = getVarint(p, limit);
  const nonShared = <usize>varintValue;
  p = getVarint(p, limit);
  const valueLen = <usize>varintValue;
  const prev = <usize>dget(d, D_KEY);
  const prevLen = <usize>dget(d, D_KEY_LEN);
  const key = prev == <usize>dget(d, D_KEY_A) ? <usize>dget(d, D_KEY_B) : <usize>dget(d, D_KEY_A);
  copyBytes(key, prev, shared);
  copyBytes(key + shared, p, nonShared);
  const keyLen = shared + nonShared;
  if (dget(d, D_ENTRIES) > 0 && compareInternal(prev, prevLen, key, keyLen) >= 0) {
    setResult(4, <u32>(entry - <usize>dget(d, D_BLOCK)));
    setResult(5, r);
    setResult(6, dget(d, D_NEXT) - 1);
    return STATUS_BLOCK_ORDER;
  }
  dset(d, D_KEY, <u32>key);
  dset(d, D_KEY_LEN, <u32>keyLen);
  dset(d, D_VALUE, <u32>(p + nonShared));
  dset(d, D_VALUE_LEN, <u32>valueLen);
  dset(d, D_ENTRY, <u32>(p + nonShared + valueLen));
  dset(d, D_ENTRIES, dget(d, D_ENTRIES) + 1);
  return STATUS_OK;
}

// ---- the loser tree over inputs (ended inputs go last; ties to the lower index) ----

function before(a: u32, b: u32): bool {
  const da = descAt(a);
  const db = descAt(b);
  const aDone = dget(da, D_DONE) != 0;
  const bDone = dget(db, D_DONE) != 0;
  if (aDone || bDone) return !aDone || (bDone && a < b);
  const c = compareInternal(<usize>dget(da, D_KEY), <usize>dget(da, D_KEY_LEN), <usize>dget(db, D_KEY), <usize>dget(db, D_KEY_LEN));
  return c < 0 || (c == 0 && a < b);
}

// ---- the output table ----

/** The open table's size so far: finished blocks with trailers plus the open block's contents. */
function tableSizeBytes(): usize {
  if (tBlockOpen) return tFlushed + (blockStartPtr() - gOutBase) + blockContentsBytes();
  return tFlushed + (tOutPos - gOutBase);
}

function startTable(key: usize, keyLen: usize): void {
  compressionGateReset();
  copyBytes(gFirstKey, key, keyLen);
  tFirstKeyLen = keyLen;
  tFlushed = 0;
  tOutPos = gOutBase;
  tBlockOpen = false;
  tDataBlocks = 0;
  tDeletions = 0;
  tSmallestSeq = u64.MAX_VALUE;
  tLargestSeq = 0;
  tRawKeyBytes = 0;
  tRawValueBytes = 0;
  tDistinct = 0;
  tLogEnd = gLogBase;
  tIndexEntries = 0;
  tIndexBytes = 0;
}

/** Finishes the open data block and logs its index entry (key: the last key added). */
function finishDataBlock(): i32 {
  const start = blockStartPtr();
  const end = blockFinishData(gCompression != 0, gLz4Scratch);
  const offset = <u32>(tFlushed + (start - gOutBase));
  const size = <u32>(end - TRAILER_BYTES - start);
  const handleEnd = putVarint32(putVarint32(HANDLE, offset), size);
  if (!ensureCapacity(tLogEnd + 4 + ENTRY_HEADER_BYTES_MAX + tLastKeyLen + (handleEnd - HANDLE) + 4)) return STATUS_OUT_OF_MEMORY;
  const rec = tLogEnd + 4;
  const recEnd = putWholeEntry(rec, gLastKey, tLastKeyLen, HANDLE, handleEnd - HANDLE);
  store<u32>(tLogEnd, (<u32>(recEnd - rec) << 1) | LOG_INDEX);
  tLogEnd = align4(recEnd);
  tIndexEntries++;
  tIndexBytes += recEnd - rec;
  tOutPos = end;
  tBlockOpen = false;
  tDataBlocks++;
  return STATUS_OK;
}

/** Adds one entry to the open table (opening one if none is). */
function emit(key: usize, keyLen: usize, value: usize, valueLen: usize): i32 {
  const userLen = keyLen - 8;
  const newUser = tEntries == 0 || compareBytes(gLastKey, tLastKeyLen - 8, key, userLen) != 0;
  if (tEntries == 0) startTable(key, keyLen);
  if (newUser) {
    if (!ensureCapacity(tLogEnd + 8)) return STATUS_OUT_OF_MEMORY;
    store<u32>(tLogEnd, (4 << 1) | LOG_HASH);
    store<u32>(tLogEnd, bloomHash(key, userLen), 4);
    tLogEnd += 8;
    tDistinct++;
  }
  if (!tBlockOpen) {
    blockReset(tOutPos, gRestarts, gRestartInterval);
    tBlockOpen = true;
  }
  if (blockPos() + blockAddFinishBytesMax(keyLen, valueLen) > gOutEnd) return STATUS_OUTPUT_FULL;
  blockAdd(key, keyLen, value, valueLen);
  // The block reads the previous key for prefix sharing after the input may have moved on: a copy.
  copyBytes(gLastKey, key, keyLen);
  tLastKeyLen = keyLen;
  blockSetPrevKey(gLastKey);
  const trailer = load<u64>(key + userLen);
  if ((trailer & 0xff) == 0) tDeletions++;
  const seq = trailer >>> 8;
  if (seq < tSmallestSeq) tSmallestSeq = seq;
  if (seq > tLargestSeq) tLargestSeq = seq;
  tRawKeyBytes += keyLen;
  tRawValueBytes += valueLen;
  tEntries++;
  gOutputEntries++;
  if (blockContentsBytes() >= <usize>gBlockSize) return finishDataBlock();
  return STATUS_OK;
}

/** Writes the open table's tail after its log and reports the table (STATUS_TABLE_READY). */
function finishTable(): i32 {
  if (tBlockOpen) {
    const status = finishDataBlock();
    if (status != STATUS_OK) return status;
  }
  const tailStart = align4(tLogEnd);
  // File offset of a tail byte q is q - fileStart (mod 2^32).
  const fileStart = tailStart - (tFlushed + (tOutPos - gOutBase));
  const filterBytes = gBloomBits > 0 ? bloomContentsBytes(tDistinct, gBloomBits) + TRAILER_BYTES : 0;
  const tailBytes = filterBytes + PROPERTIES_BYTES_MAX + METAINDEX_BYTES_MAX + tIndexBytes +
    (<usize>tIndexEntries << 2) + 4 + TRAILER_BYTES + FOOTER_BYTES + 16;
  if (!ensureCapacity(tailStart + tailBytes)) return STATUS_OUT_OF_MEMORY;
  let p = tailStart;

  let filterOffset: u32 = 0;
  let filterSize: u32 = 0;
  if (gBloomBits > 0) {
    filterOffset = <u32>(p - fileStart);
    const bits = bloomStart(p, tDistinct, gBloomBits);
    const k = bloomProbes(gBloomBits);
    for (let q = gLogBase; q < tLogEnd;) {
      const head = load<u32>(q);
      if ((head & 1) == LOG_HASH) bloomAddHash(p, bits, k, load<u32>(q, 4));
      q = align4(q + 4 + <usize>(head >>> 1));
    }
    filterSize = <u32>bloomContentsBytes(tDistinct, gBloomBits);
    p = writeTrailer(p, p + filterSize);
  }

  p = writeMetaBlocks(p, fileStart, gRestarts, tDataBlocks, tDeletions, tEntries, gBloomBits, tLargestSeq,
    tRawKeyBytes, tRawValueBytes, tSmallestSeq, filterOffset, filterSize);
  const metaindexOffset = lastMetaindexOffset();
  const metaindexSize = lastMetaindexSize();

  // Index block: the logged entries (restart interval 1: each is a restart point), then the array.
  const indexOffset = <u32>(p - fileStart);
  const restarts = p + tIndexBytes;
  let e = p;
  let i: usize = 0;
  for (let q = gLogBase; q < tLogEnd;) {
    const head = load<u32>(q);
    const len = <usize>(head >>> 1);
    if ((head & 1) == LOG_INDEX) {
      store<u32>(restarts + (i++ << 2), <u32>(e - p));
      memory.copy(e, q + 4, len);
      e += len;
    }
    q = align4(q + 4 + len);
  }
  e = restarts + (i << 2);
  store<u32>(e, <u32>i);
  e += 4;
  const indexSize = <u32>(e - p);
  p = writeTrailer(p, e);
  p = writeFooter(p, metaindexOffset, metaindexSize, indexOffset, indexSize, formatVersion(gCompression));

  setResult(0, <u32>gOutBase);
  setResult(1, <u32>(tOutPos - gOutBase));
  setResult(2, <u32>tailStart);
  setResult(3, <u32>(p - tailStart));
  setResult(4, tEntries);
  setResult(5, tDeletions);
  setResult(6, <u32>tSmallestSeq);
  setResult(7, <u32>(tSmallestSeq >>> 32));
  setResult(8, <u32>tLargestSeq);
  setResult(9, <u32>(tLargestSeq >>> 32));
  setResult(10, <u32>tFirstKeyLen);
  setResult(11, <u32>tLastKeyLen);
  setResult(12, <u32>(p - fileStart));
  tEntries = 0;
  return STATUS_TABLE_READY;
}

// ---- the exports' bodies (asm/index.ts) ----

/** Sets up a compaction from the parameters at `params` (PARAM_WORDS u32, layout above). */
export function compactBegin(params: usize): i32 {
  gK = param(params, P_K);
  gDescs = <usize>param(params, P_DESCS);
  gSnaps = <usize>param(params, P_SNAPSHOTS);
  gSnapCount = param(params, P_SNAP_COUNT);
  gDrop = param(params, P_DROP_TOMBSTONES) != 0;
  gBlockSize = param(params, P_BLOCK_SIZE);
  gRestartInterval = param(params, P_RESTART_INTERVAL);
  gBloomBits = param(params, P_BLOOM_BITS);
  gTarget = param(params, P_TARGET);
  gTree = <usize>param(params, P_TREE);
  gCurUser = <usize>param(params, P_CUR_USER);
  gPending = <usize>param(params, P_PENDING);
  gLastKey = <usize>param(params, P_LAST_KEY);
  gFirstKey = <usize>param(params, P_FIRST_KEY);
  gRestarts = <usize>param(params, P_RESTARTS);
  gOutBase = <usize>param(params, P_OUT_BASE);
  gOutEnd = <usize>param(params, P_OUT_END);
  gChunkBytes = <usize>param(params, P_CHUNK_BYTES);
  gLogBase = <usize>param(params, P_LOG_BASE);
  gCompression = param(params, P_COMPRESSION);
  gLz4Scratch = <usize>param(params, P_LZ4_SCRATCH);
  gHasLower = (param(params, P_RANGE) & 1) != 0;
  gLower = <usize>param(params, P_LOWER);
  gLowerLen = <usize>param(params, P_LOWER_LEN);
  gHasUpper = (param(params, P_RANGE) & 2) != 0;
  gUpper = <usize>param(params, P_UPPER);
  gUpperLen = <usize>param(params, P_UPPER_LEN);
  gHaveUser = false;
  gPendingEnd = gPending;
  gChunkOut = 0;
  gOutputEntries = 0;
  tEntries = 0;
  for (let r: u32 = 0; r < gK; r++) {
    const d = descAt(r);
    dset(d, D_NEXT, 0);
    dset(d, D_ENTRY, 0);
    dset(d, D_LIMIT, 0);
    dset(d, D_KEY, dget(d, D_KEY_A));
    dset(d, D_KEY_LEN, 0);
    dset(d, D_ENTRIES, 0);
    dset(d, D_NEXT_PTR, dget(d, D_WINDOW));
    dset(d, D_DONE, dget(d, D_COUNT) == 0 ? 1 : 0);
    if (dget(d, D_COUNT) > 0) {
      const status = nextEntry(d, r);
      if (status != STATUS_OK) return status;
    }
  }
  if (gK > 0) playTournament(gTree, gK, gTree + (<usize>gK << 2), before);
  return STATUS_OK;
}

/** Input r's window was refilled with `blockCount` blocks (0: the input has ended). */
export function compactRefill(r: u32, blockCount: u32): i32 {
  const d = descAt(r);
  dset(d, D_COUNT, blockCount);
  dset(d, D_NEXT, 0);
  dset(d, D_NEXT_PTR, dget(d, D_WINDOW));
  if (blockCount == 0) {
    dset(d, D_DONE, 1);
  } else {
    const status = nextEntry(d, r);
    if (status != STATUS_OK) return status;
  }
  replayWinner(gTree, gK, before);
  return STATUS_OK;
}

/** Runs the merge until it needs the host; see the statuses at the top of this file. */
export function compactRun(): i32 {
  if (gChunkOut > 0) {
    // The host wrote the chunk: move the open block (if any) down to the output base.
    if (tBlockOpen) {
      const start = blockStartPtr();
      memory.copy(gOutBase, start, blockPos() - start);
      blockMovedDown(gChunkOut);
    } else {
      tOutPos -= gChunkOut;
    }
    tFlushed += gChunkOut;
    gChunkOut = 0;
  }
  if (gK == 0) {
    setResult(0, 0);
    return STATUS_OK;
  }
  // Each pass consumes one input entry or returns: bounded by the inputs' entries.
  for (;;) {
    if (tEntries > 0) {
      const finished = (tBlockOpen ? blockStartPtr() : tOutPos) - gOutBase;
      if (finished >= gChunkBytes) {
        gChunkOut = finished;
        setResult(0, <u32>gOutBase);
        setResult(1, <u32>finished);
        return STATUS_CHUNK_READY;
      }
    }
    const w = load<u32>(gTree);
    const d = descAt(w);
    // The winner has ended, so every input has; or it is past the range, and so is every other.
    if (dget(d, D_DONE) != 0 ||
        (gHasUpper && compareBytes(<usize>dget(d, D_KEY), <usize>dget(d, D_KEY_LEN) - 8, gUpper, gUpperLen) >= 0)) {
      if (tEntries > 0) return finishTable();
      setResult(0, gOutputEntries);
      return STATUS_OK;
    }
    const key = <usize>dget(d, D_KEY);
    const keyLen = <usize>dget(d, D_KEY_LEN);
    const userLen = keyLen - 8;
    // Below the range: skipped, as if already merged.
    const inRange = !gHasLower || compareBytes(key, userLen, gLower, gLowerLen) >= 0;
    if (inRange && (!gHaveUser || compareBytes(gCurUser, gCurUserLen, key, userLen) != 0)) {
      // A new user key: the previous one's held-back tombstones hide nothing. A table is cut here
      // (before anything of this key is written) once it has reached the target.
      gPendingEnd = gPending;
      if (tEntries > 0 && tableSizeBytes() >= <usize>gTarget) return finishTable();
      copyBytes(gCurUser, key, userLen);
      gCurUserLen = userLen;
      gHaveUser = true;
      gLastStripe = 0xffff_ffff;
    }
    const trailer = load<u64>(key + userLen);
    const stripe = inRange ? stripeOf(trailer >>> 8) : gLastStripe;
    if (stripe != gLastStripe) {
      // The newest entry of its stripe: some reader sees it.
      gLastStripe = stripe;
      const value = <usize>dget(d, D_VALUE);
      const valueLen = <usize>dget(d, D_VALUE_LEN);
      if (gDrop && (trailer & 0xff) == 0) {
        store<u32>(gPendingEnd, <u32>keyLen);
        store<u32>(gPendingEnd, <u32>valueLen, 4);
        copyBytes(gPendingEnd + 8, key, keyLen);
        copyBytes(gPendingEnd + 8 + keyLen, value, valueLen);
        gPendingEnd = align4(gPendingEnd + 8 + keyLen + valueLen);
      } else {
        for (let q = gPending; q < gPendingEnd;) {
          const kLen = <usize>load<u32>(q);
          const vLen = <usize>load<u32>(q, 4);
          const status = emit(q + 8, kLen, q + 8 + kLen, vLen);
          if (status != STATUS_OK) return status;
          q = align4(q + 8 + kLen + vLen);
        }
        gPendingEnd = gPending;
        const status = emit(key, keyLen, value, valueLen);
        if (status != STATUS_OK) return status;
      }
    }
    const status = nextEntry(d, w);
    if (status == STATUS_NEED_INPUT) {
      setResult(0, w);
      return STATUS_NEED_INPUT;
    }
    if (status != STATUS_OK) return status;
    replayWinner(gTree, gK, before);
  }
  return STATUS_OK; // not reached: the loop returns
}

/** Index of the smallest snapshot >= seq, or the snapshot count (the "latest" stripe). */
@inline function stripeOf(seq: u64): u32 {
  let lo: u32 = 0;
  let hi = gSnapCount;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u64>(gSnaps + (<usize>mid << 3)) >= seq) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
