/**
 * A bump allocator over large byte chunks, after leveldb's util/arena.cc and Pebble's arenaskl
 * arena: the memtable's skiplist lives in it as node records linked by 32-bit addresses, so a
 * memtable of a million keys is a couple of hundred 1 MiB chunks rather than millions of JS objects.
 *
 * What must hold:
 * - Nothing allocated ever moves: a chunk is never reallocated, so an address and any subarray of a
 *   chunk stay valid for the arena's lifetime (memtable iterators rely on this across later adds).
 * - An address is `chunkIndex << chunkShift | offsetInChunk`, stored in an Int32Array link (read it
 *   back with `>>>`, so the sign bit is just the top bit of the chunk index). Address 0 is the first
 *   allocation of chunk 0; the memtable puts its head node there and uses 0 as "no node".
 * - Every allocation is 4-byte aligned, so a record's header can be read through the chunk's
 *   Int32Array view (`words`) at `offset >> 2`.
 * - Chunks start at 4 KiB and double up to chunkBytes (a tree opens many memtables that hold a few
 *   keys: none should cost a whole chunk). The address layout reserves chunkBytes per chunk anyway.
 * - Chunks are SharedArrayBuffers, so a worker thread reads an immutable memtable's arenas where
 *   they are (MemTable.image): nothing is copied or transferred for a flush, and the main thread
 *   keeps reading the same bytes meanwhile (neither side writes them any more). Typed-array access
 *   costs the same on shared memory; only Atomics would differ, and nothing here needs them.
 * - Small allocations bump in one of ARENA_LANES chunks at a time, the lane the caller names, so
 *   records a caller visits together sit together: the memtable puts its tall skiplist nodes (the
 *   ones every search walks) in a lane of their own, packed into a fraction of the memory.
 * - A record larger than a quarter of a chunk gets a chunk of its own (as leveldb's
 *   AllocateFallback does), so a 16 MiB value costs 16 MiB, not a fresh 1 MiB chunk per piece and
 *   not a wasted tail of up to a chunk.
 */
import { InvalidArgumentError } from '../errors.js';
import { assert } from '../util/assert.js';

export const ARENA_CHUNK_BYTES_DEFAULT = 1 << 20;
export const ARENA_CHUNK_BYTES_MIN = 1 << 8;
export const ARENA_CHUNK_BYTES_MAX = 1 << 28;
/** Lanes of allocate(): each bumps in a chunk of its own. */
export const ARENA_LANES = 2;
/** Size of the first chunk; each next one doubles up to chunkBytes, so a small memtable stays small. */
const FIRST_CHUNK_BYTES = 1 << 12;

export class Arena {
  readonly chunkBytes: number;
  readonly chunkShift: number;
  readonly offsetMask: number;
  /** chunks[i] and words[i] view the same ArrayBuffer. Read-only for callers. */
  readonly chunks: Uint8Array[] = [];
  readonly words: Int32Array[] = [];
  /** Per lane: index of the chunk small allocations bump in (-1 before the first), its used and total bytes. */
  private readonly currentChunk = new Int32Array(ARENA_LANES).fill(-1);
  private readonly currentUsedBytes = new Int32Array(ARENA_LANES);
  private readonly currentChunkBytes = new Int32Array(ARENA_LANES);
  private nextChunkBytes: number;
  /** Bytes handed out plus the tails of chunks that were left for a new one. */
  private usedBytesTotal = 0;
  private readonly chunkCountMax: number;
  /** An image of another arena's chunks (ofChunks): read-only. */
  private sealed = false;

  constructor(chunkBytes: number = ARENA_CHUNK_BYTES_DEFAULT) {
    if (
      !Number.isInteger(chunkBytes) || chunkBytes < ARENA_CHUNK_BYTES_MIN || chunkBytes > ARENA_CHUNK_BYTES_MAX ||
      (chunkBytes & (chunkBytes - 1)) !== 0
    ) {
      throw new InvalidArgumentError(
        `arena chunk size must be a power of two in [${ARENA_CHUNK_BYTES_MIN}, ${ARENA_CHUNK_BYTES_MAX}], got ${chunkBytes}`,
      );
    }
    this.chunkBytes = chunkBytes;
    this.chunkShift = 31 - Math.clz32(chunkBytes);
    this.offsetMask = chunkBytes - 1;
    this.chunkCountMax = 2 ** (32 - this.chunkShift);
    this.nextChunkBytes = Math.min(FIRST_CHUNK_BYTES, chunkBytes);
  }

  /** Bytes in use: allocations (rounded to 4) and abandoned chunk tails, not the free tail. */
  get usedBytes(): number {
    return this.usedBytesTotal;
  }

  /**
   * A read-only arena over `buffers`, another arena's chunks in order (sharedChunks()), so every
   * address of that arena reads the same bytes here: what a worker thread walks to pack an
   * immutable memtable for its flush (MemTable.image). Allocating in it is a bug.
   */
  static ofChunks(chunkBytes: number, buffers: readonly SharedArrayBuffer[]): Arena {
    const arena = new Arena(chunkBytes);
    for (const b of buffers) {
      arena.chunks.push(new Uint8Array(b));
      arena.words.push(new Int32Array(b));
    }
    arena.sealed = true;
    return arena;
  }

  /**
   * Each chunk's shared buffer, in order (for ofChunks() in another thread). REQUIRES: no more
   * allocations here while the other side reads (the memtable is immutable by then).
   */
  sharedChunks(): SharedArrayBuffer[] {
    return this.chunks.map((c) => c.buffer as SharedArrayBuffer);
  }

  /** Allocates `sizeBytes` (rounded up to a multiple of 4) in `lane` and returns its address. */
  allocate(sizeBytes: number, lane = 0): number {
    assert(!this.sealed, 'allocation in a read-only arena image');
    assert(lane >= 0 && lane < ARENA_LANES, () => `arena lane ${lane}`);
    assert(Number.isInteger(sizeBytes) && sizeBytes > 0, () => `arena allocation of ${sizeBytes} bytes`);
    const size = (sizeBytes + 3) & ~3;
    if (size > this.chunkBytes >>> 2) {
      // Large record: its own chunk, at offset 0. Its bytes may run past chunkBytes; only the
      // record's start is ever encoded in an address, so that is fine.
      const index = this.newChunk(size);
      this.usedBytesTotal += size;
      return (index << this.chunkShift) | 0;
    }
    if (this.currentChunk[lane]! < 0 || this.currentUsedBytes[lane]! + size > this.currentChunkBytes[lane]!) {
      if (this.currentChunk[lane]! >= 0) this.usedBytesTotal += this.currentChunkBytes[lane]! - this.currentUsedBytes[lane]!;
      let bytes = this.nextChunkBytes;
      // size <= chunkBytes / 4, so this doubles at most log2(chunkBytes) times.
      while (bytes < size) bytes *= 2;
      this.nextChunkBytes = Math.min(bytes * 2, this.chunkBytes);
      this.currentChunk[lane] = this.newChunk(bytes);
      this.currentChunkBytes[lane] = bytes;
      this.currentUsedBytes[lane] = 0;
    }
    const offset = this.currentUsedBytes[lane]!;
    this.currentUsedBytes[lane] = offset + size;
    this.usedBytesTotal += size;
    return (this.currentChunk[lane]! << this.chunkShift) | offset;
  }

  chunkOf(address: number): number {
    return address >>> this.chunkShift;
  }

  offsetOf(address: number): number {
    return address & this.offsetMask;
  }

  private newChunk(sizeBytes: number): number {
    const index = this.chunks.length;
    assert(index < this.chunkCountMax, () => `arena is out of addresses (${index} chunks of ${this.chunkBytes} bytes)`);
    const buffer = new SharedArrayBuffer(sizeBytes);
    this.chunks.push(new Uint8Array(buffer));
    this.words.push(new Int32Array(buffer));
    return index;
  }
}
