/**
 * The walks over a memtable's level-0 list: its iterator and the packer that copies every entry into
 * one EntryRun for a flush. They see the memtable through MemTableNodes (memtable.ts implements
 * it), so this file does not import memtable.ts.
 */
import type { EntryRun } from '../engine/types.js';
import { compareInternalRange, TRAILER_BYTES } from '../format/internal-key.js';
import { assert, INVARIANTS } from '../util/assert.js';
import type { InternalIterator } from './iterator.js';

/** The skiplist's head node (its address) and "no node". */
const HEAD = 0;
const NONE = 0;

/** What the walks use of a MemTable (memtable.ts): nodes by arena address, NONE past the end. */
export interface MemTableNodes {
  readonly entryCount: number;
  /** Bytes of every entry packed (internal key and value). */
  readonly packedBytes: number;
  /** Where the last copyEntry() ended in its destination. */
  readonly copiedEnd: number;
  nextOf(node: number, level: number): number;
  keyOf(node: number): Uint8Array;
  valueOf(node: number): Uint8Array;
  copyEntry(node: number, data: Uint8Array, pos: number): number;
  findLess(t: Uint8Array, orEqual: boolean): number;
  seekNode(t: Uint8Array): number;
  lastNode(): number;
}

/**
 * Iterator over a memtable's level-0 list. prev() and seekForPrev() search from the head (the list
 * has no back links), as leveldb's SkipList::Iterator::Prev does: O(log n) each.
 */
export class MemTableIterator implements InternalIterator {
  private node = NONE;
  private keyCache: Uint8Array | undefined;
  private closed = false;

  constructor(private readonly mem: MemTableNodes) {}

  valid(): boolean {
    return this.node !== NONE;
  }

  seekToFirst(): void {
    this.moveTo(this.mem.nextOf(HEAD, 0));
  }

  seekToLast(): void {
    this.moveTo(this.mem.lastNode());
  }

  seek(target: Uint8Array): void {
    assert(target.length >= TRAILER_BYTES, 'seek target is an internal key');
    this.moveTo(this.mem.seekNode(target));
  }

  seekForPrev(target: Uint8Array): void {
    assert(target.length >= TRAILER_BYTES, 'seek target is an internal key');
    this.moveTo(this.mem.findLess(target, true));
  }

  next(): void {
    assert(this.node !== NONE, 'next() on an invalid memtable iterator');
    this.moveTo(this.mem.nextOf(this.node, 0));
  }

  prev(): void {
    assert(this.node !== NONE, 'prev() on an invalid memtable iterator');
    this.moveTo(this.mem.findLess(this.key(), false));
  }

  key(): Uint8Array {
    assert(this.node !== NONE, 'key() on an invalid memtable iterator');
    if (this.keyCache === undefined) this.keyCache = this.mem.keyOf(this.node);
    return this.keyCache;
  }

  value(): Uint8Array {
    assert(this.node !== NONE, 'value() on an invalid memtable iterator');
    return this.mem.valueOf(this.node);
  }

  close(): void {
    this.closed = true;
    this.node = NONE;
  }

  private moveTo(node: number): void {
    assert(!this.closed, 'memtable iterator used after close()');
    this.node = node;
    this.keyCache = undefined;
  }
}

/** See MemTable.packer(). */
export class MemTablePacker {
  private readonly data: Uint8Array;
  private readonly offsets: Uint32Array;
  private node: number;
  private pos = 0;
  private i = 0;
  private readonly entries: number;

  constructor(private readonly mem: MemTableNodes) {
    this.entries = mem.entryCount;
    this.data = new Uint8Array(mem.packedBytes);
    this.offsets = new Uint32Array(2 * this.entries + 1);
    this.node = mem.nextOf(HEAD, 0);
  }

  /** Packs up to `maxEntries` more entries; true once every entry is packed. */
  step(maxEntries: number): boolean {
    const mem = this.mem;
    for (let n = 0; n < maxEntries && this.node !== NONE; n++) {
      assert(this.i < this.entries, 'memtable level 0 holds more nodes than were added');
      this.offsets[2 * this.i] = this.pos;
      this.offsets[2 * this.i + 1] = mem.copyEntry(this.node, this.data, this.pos);
      this.pos = mem.copiedEnd;
      this.i++;
      this.node = mem.nextOf(this.node, 0);
    }
    return this.node === NONE;
  }

  run(): EntryRun {
    assert(this.node === NONE, 'MemTablePacker.run() before the last step');
    const { data, offsets, i, pos } = this;
    assert(i === this.entries && pos === data.length, () => `memtable walk found ${i} of ${this.entries} entries`);
    offsets[2 * i] = pos;
    if (INVARIANTS) {
      for (let j = 1; j < i; j++) {
        assert(
          compareInternalRange(data, offsets[2 * j - 2]!, offsets[2 * j - 1]!, data, offsets[2 * j]!, offsets[2 * j + 1]!) < 0,
          () => `memtable run out of order at entry ${j}`,
        );
      }
    }
    return { data, offsets, count: i };
  }
}
