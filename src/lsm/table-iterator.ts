/**
 * A table's iterator (TableReader.iterator()): a position in the index (a data block) and in that
 * block's decoded run (an entry). It sees its table through TableBlocks (table-reader.ts implements
 * it), so this file does not import table-reader.ts. Past SCAN_BLOCKS_BEFORE_READAHEAD forward block
 * moves it reads ahead (readahead.ts) and leaves the block cache alone.
 */
import type { EntryRun } from '../engine/types.js';
import { compareInternalRange } from '../format/internal-key.js';
import { assert } from '../util/assert.js';
import type { InternalIterator } from './iterator.js';
import { Readahead } from './readahead.js';

/** What a TableIterator uses of its TableReader. */
export interface TableBlocks {
  readonly dataBlockCount: number;
  /** Data block b, decoded, through the block cache. */
  dataBlock(b: number): EntryRun;
  /** Data block b for a scan: read ahead with `readahead`, not added to the block cache. */
  scanBlock(b: number, readahead: Readahead): EntryRun;
  /** The first data block whose last key is >= key[0..keyLen), dataBlockCount if none. */
  findBlock(key: Uint8Array, keyLen: number): number;
  /** Called once by each iterator's close(). */
  releaseIterator(): void;
}

/** Index of the first entry of `run` whose internal key is >= key[0..keyLen). */
function lowerBound(run: EntryRun, key: Uint8Array, keyLen: number): number {
  const { data, offsets } = run;
  let lo = 0;
  let hi = run.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareInternalRange(data, offsets[2 * mid]!, offsets[2 * mid + 1]!, key, 0, keyLen);
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Forward block moves in a row (no seek between) after which a table iterator reads ahead and stops
 * filling the block cache: a short range read keeps caching what it reads, a scan does not (RocksDB
 * starts its implicit readahead after two sequential reads).
 */
export const SCAN_BLOCKS_BEFORE_READAHEAD = 2;

/** Two-level iterator: a position in the index (block) and in that block's decoded run (entry). */
export class TableIterator implements InternalIterator {
  private blockIndex = -1;
  private block: EntryRun | undefined;
  private entry = 0;
  private released = false;
  /** nextBlock() moves since the last seek or backward move. */
  private forwardBlocks = 0;
  private readahead: Readahead | undefined;

  constructor(private readonly table: TableBlocks) {}

  valid(): boolean {
    return this.block !== undefined;
  }

  private load(b: number): EntryRun {
    assert(!this.released, 'iterator used after close');
    this.forwardBlocks = 0;
    this.blockIndex = b;
    const block = this.table.dataBlock(b);
    this.block = block;
    return block;
  }

  private invalidate(): void {
    this.block = undefined;
    this.blockIndex = -1;
  }

  seekToFirst(): void {
    if (this.table.dataBlockCount === 0) return this.invalidate();
    this.load(0);
    this.entry = 0;
  }

  seekToLast(): void {
    const n = this.table.dataBlockCount;
    if (n === 0) return this.invalidate();
    this.entry = this.load(n - 1).count - 1;
  }

  seek(target: Uint8Array): void {
    const b = this.table.findBlock(target, target.length);
    if (b === this.table.dataBlockCount) return this.invalidate();
    const block = this.load(b);
    this.entry = lowerBound(block, target, target.length);
    // The index key is the block's last key, so the target is in this block (if the table is sane).
    if (this.entry === block.count) this.nextBlock();
  }

  seekForPrev(target: Uint8Array): void {
    const b = this.table.findBlock(target, target.length);
    if (b === this.table.dataBlockCount) return this.seekToLast();
    const block = this.load(b);
    const j = lowerBound(block, target, target.length);
    const exact = j < block.count &&
      compareInternalRange(block.data, block.offsets[2 * j]!, block.offsets[2 * j + 1]!, target, 0, target.length) === 0;
    this.entry = exact ? j : j - 1;
    if (this.entry < 0) this.prevBlock();
  }

  next(): void {
    assert(this.block !== undefined, 'next() on an invalid iterator');
    this.entry++;
    if (this.entry >= this.block.count) this.nextBlock();
  }

  prev(): void {
    assert(this.block !== undefined, 'prev() on an invalid iterator');
    this.entry--;
    if (this.entry < 0) this.prevBlock();
  }

  private nextBlock(): void {
    const b = this.blockIndex + 1;
    if (b >= this.table.dataBlockCount) return this.invalidate();
    const forwardBlocks = this.forwardBlocks + 1;
    if (forwardBlocks <= SCAN_BLOCKS_BEFORE_READAHEAD) {
      this.load(b);
    } else {
      assert(!this.released, 'iterator used after close');
      this.blockIndex = b;
      this.block = this.table.scanBlock(b, (this.readahead ??= new Readahead()));
    }
    this.forwardBlocks = forwardBlocks;
    this.entry = 0;
  }

  private prevBlock(): void {
    const b = this.blockIndex - 1;
    if (b < 0) return this.invalidate();
    this.entry = this.load(b).count - 1;
  }

  key(): Uint8Array {
    const block = this.block;
    assert(block !== undefined, 'key() on an invalid iterator');
    return block.data.subarray(block.offsets[2 * this.entry]!, block.offsets[2 * this.entry + 1]!);
  }

  value(): Uint8Array {
    const block = this.block;
    assert(block !== undefined, 'value() on an invalid iterator');
    return block.data.subarray(block.offsets[2 * this.entry + 1]!, block.offsets[2 * this.entry + 2]!);
  }

  close(): void {
    if (this.released) return;
    this.released = true;
    this.invalidate();
    this.readahead = undefined;
    this.table.releaseIterator();
  }
}
