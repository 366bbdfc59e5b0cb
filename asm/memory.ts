// The arena and the result slots: how the JS side and the WASM side share this module's memory.
// Inspired by undici's llhttp wrapper (one instance, raw pointers, numeric status codes) and by
// arena allocation as TigerBeetle uses it: no allocator, no GC (runtime "stub"), nothing freed.
//
// Layout of linear memory:
//   [0, __heap_base)          static data: CRC tables, property names, the result slots
//   [arenaBase(), ...)        the arena: each call's inputs, scratch and outputs, laid out by the
//                             caller from arenaBase() upward and forgotten when the call returns
// The arena is reset by simply starting again at arenaBase() on the next call. Memory only grows
// (to the largest call seen so far) and never shrinks; the JS side re-creates its views after any
// call, since growth detaches the old ArrayBuffer.
//
// No code in asm/ may allocate managed objects (`new`, strings, arrays): with runtime "stub" they
// would be placed at __heap_base, inside the arena, and overwritten by the next call.

/** Status codes returned by every fallible export. Mirrored in src/engine/wasm/status.ts. */
export const STATUS_OK: i32 = 0;
export const STATUS_OUT_OF_MEMORY: i32 = 1;
export const STATUS_BLOCK_TOO_SHORT: i32 = 2;
export const STATUS_BLOCK_CHECKSUM: i32 = 3;
export const STATUS_BLOCK_TYPE: i32 = 4;
export const STATUS_BLOCK_RESTARTS: i32 = 5;
export const STATUS_BLOCK_ENTRY: i32 = 6;
export const STATUS_BLOCK_SHARED: i32 = 7;
export const STATUS_BLOCK_KEY_SHORT: i32 = 8;
export const STATUS_BLOCK_ORDER: i32 = 9;
export const STATUS_BLOCK_EMPTY: i32 = 10;
/** compactRun: the input R[0] has used up its window; refill it (compactRefill), then run again. */
export const STATUS_NEED_INPUT: i32 = 11;
/** compactRun: finished blocks [R[0], R[0]+R[1]) of the open table are ready to write. */
export const STATUS_CHUNK_READY: i32 = 12;
/** compactRun: a table is finished; its last bytes and summary are in the results. */
export const STATUS_TABLE_READY: i32 = 13;
/** compactRun: an output block outgrew the room the host laid out for it (a host bug). */
export const STATUS_OUTPUT_FULL: i32 = 14;
/** An LZ4 block (type 1) whose raw size or compressed bytes do not decode; R[4] the position. */
export const STATUS_BLOCK_LZ4: i32 = 15;
/** A memtable skiplist image whose links or lengths leave its chunks (a bug of the tree); R[0] the entry. */
export const STATUS_SKIPLIST: i32 = 16;

/** Result slots: 16 u32 words an export fills in besides its status (see asm/README.md). */
export const RESULT_WORDS: usize = 16;
export const RESULT: usize = memory.data(<i32>(RESULT_WORDS * 4), 16);

@inline
export function setResult(index: usize, value: u32): void {
  store<u32>(RESULT + (index << 2), value);
}

/** First arena byte: above all static data, 16-byte aligned. */
export function arenaBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

/**
 * Grows memory so bytes [0, endPtr) are addressable. False when memory cannot grow that far
 * (maximumMemory in asconfig.json, or the host refused).
 */
export function ensureCapacity(endPtr: usize): bool {
  const haveBytes = <usize>memory.size() << 16;
  if (endPtr <= haveBytes) return true;
  const needPages = <i32>((endPtr - haveBytes + 0xffff) >>> 16);
  return memory.grow(needPages) >= 0;
}

/** Rounds a pointer up to a multiple of 4 (u32 arrays in the arena are aligned). */
@inline
export function align4(ptr: usize): usize {
  return (ptr + 3) & ~(<usize>3);
}
