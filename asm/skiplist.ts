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
// skipListMeasure walks the list once, checking every address and length against its chunk, before
// the merge trusts it (skipListEntry then only reads): a bad link is a bug of the tree, reported as
// STATUS_SKIPLIST, never a read of some other part of memory.

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
function inChunk(table: usize, chunks: u32, shift: u32, address: u32, bytes: u64): bool {
  const index = address >>> shift;
  if (index >= chunks) return false;
  const offset = <u64>(address & ((<u32>1 << shift) - 1));
  return offset + bytes <= <u64>load<u32>(table + (<usize>index << 3), 4);
}

/**
 * Walks the level-0 list of the image (node and value chunk tables, their chunk counts, the
 * arena's chunk shift), checking each node; `entries` nodes must follow the head. Results: [0]
 * largest key bytes, [1] largest key plus value bytes. STATUS_SKIPLIST on any fault (R[0] the
 * entry where it was found).
 */
export function skipListMeasure(
  nodes: usize, nodeChunks: u32, values: usize, valueChunks: u32, shift: u32, entries: u32,
): i32 {
  let keyMax: u32 = 0;
  let entryMax: u32 = 0;
  if (!inChunk(nodes, nodeChunks, shift, 0, <u64>(NODE_HEADER_BYTES + 4 * HEIGHT_MAX))) {
    setResult(0, 0);
    return STATUS_SKIPLIST;
  }
  let address = skipListNext(skipListPtr(nodes, shift, 0));
  let n: u32 = 0;
  for (; address != 0; n++) {
    if (n >= entries || !inChunk(nodes, nodeChunks, shift, address, <u64>(NODE_HEADER_BYTES + 4))) {
      setResult(0, n);
      return STATUS_SKIPLIST;
    }
    const node = skipListPtr(nodes, shift, address);
    const height = load<u32>(node) >>> HEIGHT_SHIFT;
    const keyBytes = skipListKeyBytes(node);
    const valueBytes = skipListValueBytes(node);
    if (height < 1 || height > HEIGHT_MAX || keyBytes < 8 ||
        !inChunk(nodes, nodeChunks, shift, address, <u64>(NODE_HEADER_BYTES + 4 * height + keyBytes)) ||
        (valueBytes > 0 && !inChunk(values, valueChunks, shift, skipListValueAddress(node), <u64>valueBytes))) {
      setResult(0, n);
      return STATUS_SKIPLIST;
    }
    if (keyBytes > keyMax) keyMax = keyBytes;
    if (keyBytes + valueBytes > entryMax) entryMax = keyBytes + valueBytes;
    address = skipListNext(node);
  }
  if (n != entries) {
    setResult(0, n);
    return STATUS_SKIPLIST;
  }
  setResult(0, keyMax);
  setResult(1, entryMax);
  return STATUS_OK;
}
