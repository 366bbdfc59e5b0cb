// A memtable's skiplist walked in place: a flush reads the immutable memtable's arena chunks,
// copied into this module's memory as they are, along the level-0 links (src/lsm/memtable.ts holds
// the node layout; the host copies the chunks, src/engine/wasm/compact-stream.ts). No entry is
// packed or copied on the way: the merge reads each key and value where its node and value are.
//
// A chunk table is 2 u32 per arena chunk: where the chunk was copied to, and its bytes. An arena
// address is chunkIndex << shift | offset (src/lsm/arena.ts), so it resolves to table[index] +
// offset. Node record (u32 words, little-endian like the arena's Int32Array on every host we run):
//   word 0 key bytes (bits 0..23) and height (bits 24..27); word 1 value bytes; words 2, 3 the
//   fingerprint; word 4 the value's arena address; words 5.. next links, level 0 first; then the key.
// The head node is address 0; 0 as a link is the end of the list.
//
// skipListMeasure sizes the entries (largest key, largest entry) in one scan of the node chunks in
// memory order; the merge checks every node it reaches against the chunks and those sizes
// (skipListNodeFits): a bad link is a bug of the tree, reported as STATUS_SKIPLIST, never a read of
// some other part of memory.

import { STATUS_OK, STATUS_SKIPLIST, setResult } from './memory';

const NODE_HEADER_BYTES: u32 = 20;
const NEXT0: usize = 20;
const KEY_LENGTH_MASK: u32 = 0xffffff;
const HEIGHT_SHIFT: u32 = 24;
const HEIGHT_MAX: u32 = 12;

/** Where arena address `address` is in this module's memory (trusted: skipListMeasure checked it). */
@inline export function skipListPtr(table: usize, shift: u32, address: u32): usize {
  return <usize>load<u32>(table + (<usize>(address >>> shift) << 3)) + <usize>(address & ((<u32>1 << shift) - 1));
}

/** The level-0 successor of the node at `node` (a pointer), 0 at the end. */
@inline export function skipListNext(node: usize): u32 {
  return load<u32>(node + NEXT0);
}

/** Key bytes of the node at `node`. */
@inline export function skipListKeyBytes(node: usize): u32 {
  return load<u32>(node) & KEY_LENGTH_MASK;
}

/** Pointer of the key of the node at `node`. */
@inline export function skipListKey(node: usize): usize {
  return node + NODE_HEADER_BYTES + (<usize>(load<u32>(node) >>> HEIGHT_SHIFT) << 2);
}

/** Value bytes of the node at `node`. */
@inline export function skipListValueBytes(node: usize): u32 {
  return load<u32>(node, 4);
}

/** Arena address (value arena) of the node's value; meaningless when it has none. */
@inline export function skipListValueAddress(node: usize): u32 {
  return load<u32>(node, 16);
}

/** True when [offset, offset+bytes) of arena address `address` lies in its chunk of `table`. */
@inline function inChunk(table: usize, chunks: u32, shift: u32, address: u32, bytes: u64): bool {
  const index = address >>> shift;
  if (index >= chunks) return false;
  const offset = <u64>(address & ((<u32>1 << shift) - 1));
  return offset + bytes <= <u64>load<u32>(table + (<usize>index << 3), 4);
}

/**
 * True when the node at arena address `address` lies whole in its chunk, its height is 1..12, its
 * key is at least a trailer and at most keyMax bytes, key plus value at most entryMax, and its
 * value lies whole in its value chunk: what the merge checks of each node before it reads it, so
 * a bad link is a status, never a read of other memory or a key that outgrows its buffers.
 */
export function skipListNodeFits(
  nodes: usize, nodeChunks: u32, values: usize, valueChunks: u32, shift: u32, address: u32, keyMax: u32, entryMax: u32,
): bool {
  if (!inChunk(nodes, nodeChunks, shift, address, <u64>(NODE_HEADER_BYTES + 4))) return false;
  const node = skipListPtr(nodes, shift, address);
  const height = load<u32>(node) >>> HEIGHT_SHIFT;
  const keyBytes = skipListKeyBytes(node);
  const valueBytes = skipListValueBytes(node);
  return height >= 1 && height <= HEIGHT_MAX && keyBytes >= 8 && keyBytes <= keyMax && <u64>keyBytes + <u64>valueBytes <= <u64>entryMax &&
    inChunk(nodes, nodeChunks, shift, address, <u64>(NODE_HEADER_BYTES + 4 * height + keyBytes)) &&
    (valueBytes == 0 || inChunk(values, valueChunks, shift, skipListValueAddress(node), <u64>valueBytes));
}

/**
 * Sizes a memtable image's entries by scanning its node chunks front to back, in memory order
 * (a walk along the links would miss the CPU caches at every node, and the merge walks them once
 * already): the arena bumps records back to back from each chunk's start, 4-byte aligned, in
 * zero-filled chunks, and no node has a zero first word (its height is at least 1), so a zero
 * word or the chunk's end ends the chunk's records. Results: [0] largest key bytes, [1] largest
 * key plus value bytes. STATUS_SKIPLIST when a record does not parse or the nodes with keys are
 * not `entries` (R[0] the count found). The merge then checks each node it reaches against these
 * (skipListNodeFits), so a scan that misread the chunks cannot overflow a buffer.
 */
export function skipListMeasure(nodes: usize, nodeChunks: u32, entries: u32): i32 {
  let keyMax: u32 = 0;
  let entryMax: u32 = 0;
  let n: u32 = 0;
  // The head: the first record of chunk 0, the tallest, with no key (the merge starts there).
  if (nodeChunks == 0 || !inChunk(nodes, nodeChunks, 0, 0, <u64>(NODE_HEADER_BYTES + 4 * HEIGHT_MAX)) ||
      load<u32>(<usize>load<u32>(nodes)) != HEIGHT_MAX << HEIGHT_SHIFT) {
    setResult(0, 0);
    return STATUS_SKIPLIST;
  }
  for (let c: u32 = 0; c < nodeChunks; c++) {
    const chunk = <usize>load<u32>(nodes + (<usize>c << 3));
    const bytes = <usize>load<u32>(nodes + (<usize>c << 3), 4);
    let p: usize = 0;
    while (p + <usize>NODE_HEADER_BYTES <= bytes) {
      const node = chunk + p;
      const word = load<u32>(node);
      if (word == 0) break;
      const height = word >>> HEIGHT_SHIFT;
      const keyBytes = word & KEY_LENGTH_MASK;
      const recordBytes = (<usize>(NODE_HEADER_BYTES + 4 * height + keyBytes) + 3) & ~(<usize>3);
      if (height < 1 || height > HEIGHT_MAX || p + recordBytes > bytes) {
        setResult(0, n);
        return STATUS_SKIPLIST;
      }
      if (keyBytes > 0) {
        const entryBytes = keyBytes + skipListValueBytes(node);
        if (keyBytes > keyMax) keyMax = keyBytes;
        if (entryBytes > entryMax) entryMax = entryBytes;
        n++;
      }
      p += recordBytes;
    }
  }
  if (n != entries) {
    setResult(0, n);
    return STATUS_SKIPLIST;
  }
  setResult(0, keyMax);
  setResult(1, entryMax);
  return STATUS_OK;
}
