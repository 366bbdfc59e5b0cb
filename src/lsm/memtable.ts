/**
 * The memtable: a skiplist of internal keys stored in an arena (src/lsm/arena.ts), after leveldb's
 * db/skiplist.h + db/memtable.cc and Pebble's internal/arenaskl. No JS object per key: each entry
 * is one node record in an arena chunk, linked to its successors by 32-bit arena addresses.
 *
 * Node record, in the node arena (4-byte aligned; word = int32, read through the chunk's Int32Array):
 *
 *   word 0            internal key length (user key + 8-byte trailer; bits 0..23) and height h
 *                     (1..12; bits 24..27)
 *   word 1            value length
 *   words 2, 3        the key's fingerprint (below): 8 user-key bytes as two signed-comparable ints
 *   word 4            address of the value in the value arena (unused when the value is empty)
 *   words 5..5+h-1    next links, level 0 first (address of the successor; 0 = none)
 *   bytes             internal key
 *
 * Fingerprint: an order-preserving summary of a user key in two ints, so most comparisons of a
 * search decide on the node header, without the key bytes or a byte loop: fp(a) < fp(b) implies
 * a < b, and only equal fingerprints compare the keys. It is user-key bytes [skip, skip + 4) and
 * [skip + 4, skip + 8), each big-endian, zero-padded, XOR 0x80000000 (a signed compare orders
 * them as unsigned bytes), where the first `skip` bytes are a base prefix the memtable picks once, while
 * empty (setFingerprintBase: the common prefix of the first sorted batch), because keys sharing
 * a long prefix ("user:000123...") would otherwise all have one fingerprint. A key that does not
 * start with the base gets the lowest ints when it sorts before the base and the highest when
 * after; those ties, like any other, fall back to comparing the keys. skip = 0 (no base) is the
 * plain first-4-bytes prefix.
 *
 * Nodes taller than 1 (a quarter of them) are allocated in an arena lane of their own, packed
 * together rather than spread among the short ones in insertion order: the upper levels of every
 * search walk only them, so those steps stay in fewer cache lines and pages (TLB entries), and a
 * search misses mostly on its last level or two.
 *
 * Values live in a second arena rather than after the key (leveldb and arenaskl put them inline):
 * a search touches only nodes, and with 100-byte values inline the nodes of a 1M-entry memtable
 * spread over ~3x the memory, so a search misses the CPU caches more. A search compares the
 * fingerprint first and reads the key bytes only on a tie: most steps touch one cache line.
 *
 * The head node (height 12, no key) is the arena's first record, at address 0; since nothing links
 * to the head, 0 doubles as "no node".
 *
 * Invariants: level-0 links list every node in strictly increasing internal-key order (sequence
 * numbers are unique, so two adds never carry equal internal keys); the list at level L is a
 * sub-list of the one at L-1. Nodes never move and links only ever change from an old successor to
 * a new node spliced in, so an iterator created before later adds stays valid and may see them.
 * Single-threaded: no atomics.
 *
 * Heights: p = 1/4, at most 12 (4^12 = 16M entries before searches start to slow), drawn from a
 * xorshift32 generator with a fixed seed, so a memtable's shape depends only on its adds.
 */
import type { EntryRun } from '../engine/types.js';
import { assert } from '../util/assert.js';
import { compareRange, copyRange } from '../util/bytes.js';
import { Arena, ARENA_CHUNK_BYTES_DEFAULT } from './arena.js';
import {
  compareInternalRange,
  KIND_DELETE,
  KIND_PUT,
  KIND_SEEK,
  SEQUENCE_MAX,
  TRAILER_BYTES,
  writeTrailer,
} from '../format/internal-key.js';
import type { InternalIterator } from './iterator.js';
import { MemTableIterator, MemTablePacker } from './memtable-walk.js';

export const MEMTABLE_HEIGHT_MAX = 12;
const HEIGHT_SEED = 0x2545f491;

/** Key length and height (KEY_LENGTH_MASK, HEIGHT_SHIFT). */
const W_KEY_LENGTH = 0;
const KEY_LENGTH_MASK = 0xffffff;
const HEIGHT_SHIFT = 24;
const W_VALUE_LENGTH = 1;
const W_PREFIX = 2;
const W_PREFIX_LOW = 3;
const W_VALUE_ADDRESS = 4;
const W_NEXT = 5;
const HEADER_BYTES = 20;
const HEAD = 0;
/** Arena lane of the nodes taller than 1 (and the head). */
const TALL_LANE = 1;
const NONE = 0;

export type MemGetResult = { kind: 'put'; value: Uint8Array } | { kind: 'delete' } | undefined;

const EMPTY = new Uint8Array(0);
const DELETED: MemGetResult = Object.freeze({ kind: 'delete' as const });

export interface MemTableOptions {
  /** Arena chunk size, a power of two (default 1 MiB). Records above a quarter of it get their own chunk. */
  arenaChunkBytes?: number;
}

/**
 * An immutable memtable's arenas and counts (MemTable.image): the arenas' SharedArrayBuffers, which
 * a worker thread reads in place for the flush (jobs.ts: the WASM twin merges the skiplist itself,
 * the JS twin packs it with packMemTableImage), so neither the walk nor a copy of the memtable is
 * on the main thread.
 */
export interface MemTableImage {
  chunkBytes: number;
  nodeChunks: SharedArrayBuffer[];
  valueChunks: SharedArrayBuffer[];
  /** The memtable's fingerprint base (a copy): the nodes' fingerprints were taken over it. */
  fingerprintBase: Uint8Array;
  entries: number;
  keyBytes: number;
  valueBytes: number;
}

/** The entries of a memtable image in internal-key order, packed (MemTable.toRun of the original). */
export function packMemTableImage(image: MemTableImage): EntryRun {
  return MemTable.fromImage(image).toRun();
}

/** Longest fingerprint base (setFingerprintBase): each search compares this many bytes more. */
export const FINGERPRINT_BASE_BYTES_MAX = 32;
const FINGERPRINT_BELOW = -0x80000000;
const FINGERPRINT_ABOVE = 0x7fffffff;


export class MemTable {
  private readonly arena: Arena;
  private readonly valueArena: Arena;
  private readonly valueChunks: Uint8Array[];
  private readonly chunks: Uint8Array[];
  private readonly words: Int32Array[];
  private readonly shift: number;
  private readonly mask: number;
  /** Height of the tallest node so far: searches start there. */
  private height = 1;
  private rngState = HEIGHT_SEED;
  private entries = 0;
  private deletions = 0;
  private keyBytesTotal = 0;
  private valueBytesTotal = 0;
  private sequenceMin = 0;
  private sequenceMax = 0;
  /** Per-level predecessors found by the last insert's search. */
  private readonly prevScratch = new Int32Array(MEMTABLE_HEIGHT_MAX);
  /**
   * Splice hint (RocksDB's InlineSkipList "splice"): per level, the predecessor the last insert
   * left for a key just after it. An add whose key follows the last one starts its search at the
   * lowest level whose hint still brackets the key rather than at the top (findFromSplice): right
   * after the last key (the log tree's ascending indexes) that is level 0, and for the sorted keys
   * of a batch (WritePath) a level or a few up. All HEAD (valid for an empty list) until the first add.
   */
  private readonly spliceHint = new Int32Array(MEMTABLE_HEIGHT_MAX);
  /** Bytes every fingerprint skips (see the header); set while empty only. */
  private fingerprintBase: Uint8Array = EMPTY;
  /** Second word of the fingerprint of the key being searched for (fingerprint() sets it). */
  private targetLow = 0;
  /** Seek key of get(), reused so a point read allocates only its result. */
  private lookupScratch = new Uint8Array(64);
  /** lookupScratch's buffer as words, for compareNode's word skip. */
  private lookupWords = new Int32Array(this.lookupScratch.buffer);

  constructor(options: MemTableOptions = {}, image?: MemTableImage) {
    this.arena = image === undefined ? new Arena(options.arenaChunkBytes ?? ARENA_CHUNK_BYTES_DEFAULT) : Arena.ofChunks(image.chunkBytes, image.nodeChunks);
    this.valueArena = image === undefined ? new Arena(this.arena.chunkBytes) : Arena.ofChunks(image.chunkBytes, image.valueChunks);
    this.valueChunks = this.valueArena.chunks;
    this.chunks = this.arena.chunks;
    this.words = this.arena.words;
    this.shift = this.arena.chunkShift;
    this.mask = this.arena.offsetMask;
    if (image !== undefined) {
      // The head and every node are in the shared chunks; the image is read-only (its arenas are).
      this.entries = image.entries;
      this.keyBytesTotal = image.keyBytes;
      this.valueBytesTotal = image.valueBytes;
      this.fingerprintBase = image.fingerprintBase;
      this.height = MEMTABLE_HEIGHT_MAX;
      return;
    }
    const head = this.arena.allocate(HEADER_BYTES + 4 * MEMTABLE_HEIGHT_MAX, TALL_LANE);
    assert(head === HEAD, 'memtable head node must be the arena address 0');
    const w = this.words[0]!;
    w[W_KEY_LENGTH] = MEMTABLE_HEIGHT_MAX << HEIGHT_SHIFT;
    w[W_VALUE_LENGTH] = 0;
    w[W_PREFIX] = 0;
    w[W_PREFIX_LOW] = 0;
    w[W_VALUE_ADDRESS] = 0;
    for (let i = 0; i < MEMTABLE_HEIGHT_MAX; i++) w[W_NEXT + i] = NONE;
  }

  /** Arena bytes in use (records, padding, abandoned chunk tails): the flush trigger. */
  get approximateBytes(): number {
    return this.arena.usedBytes + this.valueArena.usedBytes;
  }

  get entryCount(): number {
    return this.entries;
  }

  get deletionCount(): number {
    return this.deletions;
  }

  /** Smallest sequence number added; 0 while empty. */
  get smallestSequence(): number {
    return this.sequenceMin;
  }

  /** Largest sequence number added; 0 while empty. */
  get largestSequence(): number {
    return this.sequenceMax;
  }

  /**
   * The fingerprint of the user key buf[start..start+userKeyLength) (see the header): returns its
   * first word and leaves the second in targetLow, for the search that follows.
   */
  private fingerprint(buf: Uint8Array, start: number, userKeyLength: number): number {
    const base = this.fingerprintBase;
    const skip = base.length;
    for (let i = 0; i < skip; i++) {
      // A key that is a proper prefix of base sorts before it.
      const b = i < userKeyLength ? buf[start + i]! : -1;
      const c = base[i]!;
      if (b !== c) {
        const f = b < c ? FINGERPRINT_BELOW : FINGERPRINT_ABOVE;
        this.targetLow = f;
        return f;
      }
    }
    let p = 0;
    for (let i = skip; i < skip + 4; i++) p = (p << 8) | (i < userKeyLength ? buf[start + i]! : 0);
    let q = 0;
    for (let i = skip + 4; i < skip + 8; i++) q = (q << 8) | (i < userKeyLength ? buf[start + i]! : 0);
    this.targetLow = q ^ 0x80000000;
    return p ^ 0x80000000;
  }

  /**
   * Makes src[start..end) (at most FINGERPRINT_BASE_BYTES_MAX bytes of it) the prefix the key
   * fingerprints skip (see the header): best the prefix most keys to come share. A no-op unless
   * the memtable is empty, since every node's fingerprint is taken over the same base.
   */
  setFingerprintBase(src: Uint8Array, start: number, end: number): void {
    if (this.entries > 0) return;
    this.fingerprintBase = src.slice(start, Math.min(end, start + FINGERPRINT_BASE_BYTES_MAX));
  }

  /**
   * Adds one entry. REQUIRES: no entry with the same user key and sequence was added before (the
   * tree hands out each sequence number once); kind is KIND_PUT or KIND_DELETE; a delete's value
   * is empty. The bytes are copied into the arena.
   */
  add(sequence: number, kind: number, userKey: Uint8Array, value: Uint8Array): void {
    this.addFrom(sequence, kind, userKey, 0, userKey.length, value, 0, value.length);
  }

  /**
   * add() of the key src[keyStart..keyEnd) and the value val[valueStart..valueEnd), copied
   * straight from the caller's buffers (a write batch's encoded ops: no view per op).
   */
  addFrom(
    sequence: number, kind: number, src: Uint8Array, keyStart: number, keyEnd: number, val: Uint8Array, valueStart: number, valueEnd: number,
  ): void {
    assert(Number.isInteger(sequence) && sequence >= 0 && sequence <= SEQUENCE_MAX, () => `sequence ${sequence} out of range`);
    assert(kind === KIND_PUT || kind === KIND_DELETE, () => `entry kind ${kind}`);
    const userKeyLength = keyEnd - keyStart;
    const valueLength = valueEnd - valueStart;
    assert(userKeyLength >= 0 && valueLength >= 0, 'key and value ranges are well-formed');
    assert(kind === KIND_PUT || valueLength === 0, 'a delete carries no value');
    const keyLength = userKeyLength + TRAILER_BYTES;
    const height = this.randomHeight();
    // Nodes above level 0 in a lane of their own: every search walks them (see the header).
    const address = this.arena.allocate(HEADER_BYTES + 4 * height + keyLength, height > 1 ? TALL_LANE : 0);
    let valueAddress = 0;
    if (valueLength > 0) {
      valueAddress = this.valueArena.allocate(valueLength);
      copyRange(val, valueStart, this.valueChunks[valueAddress >>> this.shift]!, valueAddress & this.mask, valueLength);
    }
    const c = address >>> this.shift;
    const offset = address & this.mask;
    const bytes = this.chunks[c]!;
    const words = this.words[c]!;
    const wo = offset >> 2;
    const nodeKeyStart = offset + HEADER_BYTES + 4 * height;
    const nodeKeyEnd = nodeKeyStart + keyLength;
    copyRange(src, keyStart, bytes, nodeKeyStart, userKeyLength);
    writeTrailer(bytes, nodeKeyStart + userKeyLength, sequence, kind);
    const prefix = this.fingerprint(src, keyStart, userKeyLength);
    assert(keyLength <= KEY_LENGTH_MASK, () => `a memtable key of ${keyLength} bytes`);
    words[wo + W_KEY_LENGTH] = keyLength | (height << HEIGHT_SHIFT);
    words[wo + W_VALUE_LENGTH] = valueLength;
    words[wo + W_PREFIX] = prefix;
    words[wo + W_PREFIX_LOW] = this.targetLow;
    words[wo + W_VALUE_ADDRESS] = valueAddress;

    const prev = this.prevScratch;
    // The new node's key is the search target: it starts 4-aligned in its chunk (see compareNode).
    const successor = this.findFromSplice(bytes, nodeKeyStart, nodeKeyEnd, prefix, prev, words);
    assert(
      successor === NONE || this.compareNode(successor, bytes, nodeKeyStart, nodeKeyEnd, prefix, words) !== 0,
      () => `memtable already holds this internal key (sequence ${sequence})`,
    );
    if (height > this.height) {
      for (let level = this.height; level < height; level++) prev[level] = HEAD;
      this.height = height;
    }
    for (let level = 0; level < height; level++) {
      const p = prev[level]!;
      const pw = this.words[p >>> this.shift]!;
      const pLink = ((p & this.mask) >> 2) + W_NEXT + level;
      words[wo + W_NEXT + level] = pw[pLink]!;
      pw[pLink] = address;
      this.spliceHint[level] = address;
    }
    for (let level = height; level < this.height; level++) this.spliceHint[level] = prev[level]!;

    if (this.entries === 0 || sequence < this.sequenceMin) this.sequenceMin = sequence;
    if (this.entries === 0 || sequence > this.sequenceMax) this.sequenceMax = sequence;
    this.entries++;
    if (kind === KIND_DELETE) this.deletions++;
    this.keyBytesTotal += keyLength;
    this.valueBytesTotal += valueLength;
  }

  /**
   * The newest entry of `userKey` with sequence <= `sequence`, or undefined if there is none. A
   * put's value is a subarray of the arena: stable for the memtable's lifetime, never to be written.
   */
  get(userKey: Uint8Array, sequence: number): MemGetResult {
    const keyLength = userKey.length + TRAILER_BYTES;
    if (this.lookupScratch.length < keyLength) {
      this.lookupScratch = new Uint8Array(((keyLength * 2) + 3) & ~3);
      this.lookupWords = new Int32Array(this.lookupScratch.buffer);
    }
    const target = this.lookupScratch;
    const n = userKey.length;
    // A loop, not set(): keys are short and set() is a builtin call.
    if (n <= 64) for (let i = 0; i < n; i++) target[i] = userKey[i]!;
    else target.set(userKey, 0);
    writeTrailer(target, n, sequence, KIND_SEEK);
    const node = this.findGreaterOrEqual(target, 0, keyLength, this.fingerprint(userKey, 0, n), undefined, this.lookupWords);
    if (node === NONE) return undefined;
    const bytes = this.chunks[node >>> this.shift]!;
    const words = this.words[node >>> this.shift]!;
    const offset = node & this.mask;
    const wo = offset >> 2;
    const lengthAndHeight = words[wo + W_KEY_LENGTH]!;
    const keyStart = offset + HEADER_BYTES + 4 * (lengthAndHeight >>> HEIGHT_SHIFT);
    const keyEnd = keyStart + (lengthAndHeight & KEY_LENGTH_MASK);
    if (compareRange(bytes, keyStart, keyEnd - TRAILER_BYTES, userKey, 0, userKey.length) !== 0) return undefined;
    if (bytes[keyEnd - TRAILER_BYTES] === KIND_DELETE) return DELETED;
    return { kind: 'put', value: this.valueOf(node) };
  }

  /** A read-only memtable over an image's arenas (packMemTableImage). */
  static fromImage(image: MemTableImage): MemTable {
    return new MemTable({}, image);
  }

  /**
   * The arenas (shared, not copied) and counts, for packing in another thread (MemTableImage).
   * REQUIRES: no add() after it (the memtable is immutable): the other thread reads these bytes.
   */
  image(): MemTableImage {
    return {
      chunkBytes: this.arena.chunkBytes,
      nodeChunks: this.arena.sharedChunks(),
      valueChunks: this.valueArena.sharedChunks(),
      fingerprintBase: this.fingerprintBase.slice(),
      entries: this.entries,
      keyBytes: this.keyBytesTotal,
      valueBytes: this.valueBytesTotal,
    };
  }

  /** An iterator over every entry (all sequences), forward and backward. */
  iterator(): InternalIterator {
    return new MemTableIterator(this);
  }

  /** All entries in internal-key order, packed into one EntryRun (for a flush). */
  toRun(): EntryRun {
    const packer = this.packer();
    packer.step(Infinity);
    return packer.run();
  }

  /**
   * Packs the entries into one EntryRun in bounded steps, so packing a large memtable for its flush
   * never blocks the main thread for long: call step(n) (n entries at most) in separate turns
   * until it returns true, then run(). REQUIRES: no add() while packing (the memtable is immutable).
   */
  packer(): MemTablePacker {
    return new MemTablePacker(this);
  }

  /** @internal End of the value copyEntry() copied last. */
  copiedEnd = 0;

  /** @internal Copies node's key and value to data[pos..); returns the position after the key. */
  copyEntry(node: number, data: Uint8Array, pos: number): number {
    const bytes = this.chunks[node >>> this.shift]!;
    const words = this.words[node >>> this.shift]!;
    const offset = node & this.mask;
    const wo = offset >> 2;
    const lengthAndHeight = words[wo + W_KEY_LENGTH]!;
    const keyStart = offset + HEADER_BYTES + 4 * (lengthAndHeight >>> HEIGHT_SHIFT);
    const keyLength = lengthAndHeight & KEY_LENGTH_MASK;
    const valueLength = words[wo + W_VALUE_LENGTH]!;
    copyRange(bytes, keyStart, data, pos, keyLength);
    const keyEnd = pos + keyLength;
    if (valueLength > 0) {
      const valueAddress = words[wo + W_VALUE_ADDRESS]!;
      copyRange(this.valueChunks[valueAddress >>> this.shift]!, valueAddress & this.mask, data, keyEnd, valueLength);
    }
    this.copiedEnd = keyEnd + valueLength;
    return keyEnd;
  }

  /** @internal */
  get packedBytes(): number {
    return this.keyBytesTotal + this.valueBytesTotal;
  }

  // ---- skiplist internals (used by MemTableIterator) ----

  /** @internal Successor of `node` at `level`, NONE at the end. */
  nextOf(node: number, level: number): number {
    return this.words[node >>> this.shift]![((node & this.mask) >> 2) + W_NEXT + level]!;
  }

  /** @internal The node's internal key, a subarray of the arena. */
  keyOf(node: number): Uint8Array {
    const words = this.words[node >>> this.shift]!;
    const offset = node & this.mask;
    const wo = offset >> 2;
    const lengthAndHeight = words[wo + W_KEY_LENGTH]!;
    const keyStart = offset + HEADER_BYTES + 4 * (lengthAndHeight >>> HEIGHT_SHIFT);
    return this.chunks[node >>> this.shift]!.subarray(keyStart, keyStart + (lengthAndHeight & KEY_LENGTH_MASK));
  }

  /** @internal The node's value, a subarray of the value arena. */
  valueOf(node: number): Uint8Array {
    const words = this.words[node >>> this.shift]!;
    const wo = (node & this.mask) >> 2;
    const valueLength = words[wo + W_VALUE_LENGTH]!;
    if (valueLength === 0) return EMPTY;
    const valueAddress = words[wo + W_VALUE_ADDRESS]!;
    const valueStart = valueAddress & this.mask;
    return this.valueChunks[valueAddress >>> this.shift]!.subarray(valueStart, valueStart + valueLength);
  }

  /**
   * Compares node's internal key with t[tStart..tEnd), whose fingerprint is tPrefix and
   * this.targetLow.
   * tWords, when given, views t's buffer as 32-bit words and tStart is a multiple of 4: node keys
   * start 4-aligned too, so on a prefix tie the leading user-key bytes are skipped a word at a
   * time (word equality is byte equality, whatever the endianness) before the byte comparison,
   * which then starts at most 3 bytes before the first difference. Keys that share long prefixes
   * ("user:000123...") otherwise cost a byte loop over that prefix at every step of a search.
   */
  private compareNode(
    node: number, t: Uint8Array, tStart: number, tEnd: number, tPrefix: number, tWords?: Int32Array,
  ): number {
    const words = this.words[node >>> this.shift]!;
    const offset = node & this.mask;
    const wo = offset >> 2;
    const prefix = words[wo + W_PREFIX]!;
    // Differing fingerprints decide the order (a shorter key pads with 0, below any byte the
    // longer one has there, unless that byte is 0 too, in which case the fingerprints are equal).
    if (prefix !== tPrefix) return prefix < tPrefix ? -1 : 1;
    const low = words[wo + W_PREFIX_LOW]!;
    if (low !== this.targetLow) return low < this.targetLow ? -1 : 1;
    const lengthAndHeight = words[wo + W_KEY_LENGTH]!;
    const keyStart = offset + HEADER_BYTES + 4 * (lengthAndHeight >>> HEIGHT_SHIFT);
    const keyEnd = keyStart + (lengthAndHeight & KEY_LENGTH_MASK);
    let skip = 0;
    if (tWords !== undefined) {
      const nodeUser = keyEnd - TRAILER_BYTES - keyStart;
      const tUser = tEnd - TRAILER_BYTES - tStart;
      const wholeWords = (nodeUser < tUser ? nodeUser : tUser) >> 2;
      const nw = keyStart >> 2;
      const tw = tStart >> 2;
      let k = 0;
      while (k < wholeWords && words[nw + k] === tWords[tw + k]) k++;
      skip = 4 * k;
    }
    // The first `skip` bytes are equal, so comparing what follows them orders the whole keys.
    return compareInternalRange(this.chunks[node >>> this.shift]!, keyStart + skip, keyEnd, t, tStart + skip, tEnd);
  }

  /**
   * findGreaterOrEqual(), started from the splice hint when the target follows the hint's level-0
   * node (RocksDB's InlineSkipList::Insert with a splice, RecomputeSpliceLevels): climb to the
   * lowest level whose hint node's successor is >= target (or none), then search down from there;
   * the hints of the levels above still bracket the target. Hints never increase going up a level
   * (hint[L] <= hint[L-1]) and each level's list is a sub-list of the one below, so hint[L] <
   * target for every L once hint[0] is, and a bracket at level L holds at every level above it.
   * Costs O(log d) for a target d nodes after the last insert, not O(log n).
   */
  private findFromSplice(
    t: Uint8Array, tStart: number, tEnd: number, tPrefix: number, prev: Int32Array, tWords: Int32Array,
  ): number {
    const hint = this.spliceHint;
    const first = hint[0]!;
    if (first !== HEAD && this.compareNode(first, t, tStart, tEnd, tPrefix, tWords) >= 0) {
      return this.findGreaterOrEqual(t, tStart, tEnd, tPrefix, prev, tWords);
    }
    // The lowest bracketing level: each step up compares one successor; the head's bracket at the
    // top level always holds when nothing else does (its successor there is none or a node whose
    // compare says so), so the climb ends by this.height.
    let level = 0;
    let lessThan = NONE;
    for (; level < this.height - 1; level++) {
      const next = this.nextOf(hint[level]!, level);
      if (next === NONE) break;
      if (next !== lessThan && this.compareNode(next, t, tStart, tEnd, tPrefix, tWords) >= 0) break;
      lessThan = next;
    }
    if (level === this.height - 1) return this.findGreaterOrEqual(t, tStart, tEnd, tPrefix, prev, tWords);
    for (let l = this.height - 1; l > level; l--) prev[l] = hint[l]!;
    let x = hint[level]!;
    let next = NONE;
    let knownGreaterOrEqual = NONE;
    for (let l = level; l >= 0; l--) {
      // Each step moves right along a finite, strictly increasing list, so the walk ends.
      for (;;) {
        next = this.nextOf(x, l);
        if (next === NONE || next === knownGreaterOrEqual || this.compareNode(next, t, tStart, tEnd, tPrefix, tWords) >= 0) break;
        x = next;
      }
      knownGreaterOrEqual = next;
      prev[l] = x;
    }
    return next;
  }

  /**
   * First node >= target, or NONE; fills prev[level] with each level's last node < target. tWords:
   * as compareNode's.
   */
  private findGreaterOrEqual(
    t: Uint8Array, tStart: number, tEnd: number, tPrefix: number, prev: Int32Array | undefined, tWords: Int32Array | undefined,
  ): number {
    let x = HEAD;
    let next = NONE;
    // The node that stopped the walk one level up is known to be >= target: when the lower level
    // reaches it again (often), skip the comparison (as Pebble's arenaskl does).
    let knownGreaterOrEqual = NONE;
    for (let level = this.height - 1; level >= 0; level--) {
      // Each step moves right along a finite, strictly increasing list, so the walk ends.
      for (;;) {
        next = this.nextOf(x, level);
        if (next === NONE || next === knownGreaterOrEqual || this.compareNode(next, t, tStart, tEnd, tPrefix, tWords) >= 0) break;
        x = next;
      }
      knownGreaterOrEqual = next;
      if (prev !== undefined) prev[level] = x;
    }
    return next;
  }

  /** @internal Last node < target (orEqual: <= target), or NONE when that is the head. */
  findLess(t: Uint8Array, orEqual: boolean): number {
    const tPrefix = this.fingerprint(t, 0, t.length - TRAILER_BYTES);
    const limit = orEqual ? 0 : -1;
    let x = HEAD;
    for (let level = this.height - 1; level >= 0; level--) {
      for (;;) {
        const next = this.nextOf(x, level);
        if (next === NONE || this.compareNode(next, t, 0, t.length, tPrefix) > limit) break;
        x = next;
      }
    }
    return x;
  }

  /** @internal First node >= t, or NONE. */
  seekNode(t: Uint8Array): number {
    return this.findGreaterOrEqual(t, 0, t.length, this.fingerprint(t, 0, t.length - TRAILER_BYTES), undefined, undefined);
  }

  /** @internal Last node, or NONE when empty. */
  lastNode(): number {
    let x = HEAD;
    for (let level = this.height - 1; level >= 0; level--) {
      for (let next = this.nextOf(x, level); next !== NONE; next = this.nextOf(x, level)) x = next;
    }
    return x;
  }

  /** Height in [1, 12]: each extra level with probability 1/4 (xorshift32). */
  private randomHeight(): number {
    let s = this.rngState;
    let height = 1;
    for (; height < MEMTABLE_HEIGHT_MAX; height++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      if ((s & 3) !== 0) break;
    }
    this.rngState = s;
    return height;
  }
}
