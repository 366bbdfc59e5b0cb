/**
 * Concatenating iterator over the tables of one level L >= 1, after leveldb's two-level iterator
 * (table/two_level_iterator.cc) with the level's file list as the index: files are sorted by key
 * and do not overlap, so a seek picks one file by binary search and the iterator only opens the
 * next table when it runs off the end of the current one.
 *
 * REQUIRES: `files` sorted by smallest key, key ranges disjoint (checked by Version's invariants).
 */
import type { InternalIterator } from './iterator.js';
import { compareInternalKeys } from '../format/internal-key.js';
import { assert } from '../util/assert.js';

export interface LevelFile {
  number: number;
  smallest: Uint8Array;
  largest: Uint8Array;
}

/** Opens one table's iterator; the level iterator closes it when it moves to another file. */
export type OpenTableIterator = (file: LevelFile) => InternalIterator;

export class LevelIterator implements InternalIterator {
  private index = -1;
  private current: InternalIterator | undefined;

  constructor(
    private readonly files: readonly LevelFile[],
    private readonly open: OpenTableIterator,
  ) {}

  valid(): boolean {
    return this.current !== undefined && this.current.valid();
  }

  seekToFirst(): void {
    this.openFile(0);
    this.current?.seekToFirst();
    this.skipForward();
  }

  seekToLast(): void {
    this.openFile(this.files.length - 1);
    this.current?.seekToLast();
    this.skipBackward();
  }

  seek(target: Uint8Array): void {
    // First file whose largest key is >= target: only it can hold the first entry >= target.
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareInternalKeys(this.files[mid]!.largest, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.openFile(lo);
    this.current?.seek(target);
    this.skipForward();
  }

  seekForPrev(target: Uint8Array): void {
    // Last file whose smallest key is <= target.
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareInternalKeys(this.files[mid]!.smallest, target) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.openFile(lo - 1);
    this.current?.seekForPrev(target);
    this.skipBackward();
  }

  next(): void {
    assert(this.valid(), 'LevelIterator.next() requires valid()');
    this.current!.next();
    this.skipForward();
  }

  prev(): void {
    assert(this.valid(), 'LevelIterator.prev() requires valid()');
    this.current!.prev();
    this.skipBackward();
  }

  key(): Uint8Array {
    return this.current!.key();
  }

  value(): Uint8Array {
    return this.current!.value();
  }

  close(): void {
    this.current?.close();
    this.current = undefined;
    this.index = -1;
  }

  /** Moves to later files while the current one is exhausted. Bounded by the file count. */
  private skipForward(): void {
    while (this.current !== undefined && !this.current.valid()) {
      if (this.index + 1 >= this.files.length) {
        this.openFile(-1);
        return;
      }
      this.openFile(this.index + 1);
      this.current!.seekToFirst();
    }
  }

  private skipBackward(): void {
    while (this.current !== undefined && !this.current.valid()) {
      if (this.index <= 0) {
        this.openFile(-1);
        return;
      }
      this.openFile(this.index - 1);
      this.current!.seekToLast();
    }
  }

  /** Makes file `i` current (or none, for i outside the level). */
  private openFile(i: number): void {
    if (i < 0 || i >= this.files.length) {
      this.current?.close();
      this.current = undefined;
      this.index = -1;
      return;
    }
    if (i === this.index && this.current !== undefined) return;
    this.current?.close();
    this.index = i;
    this.current = this.open(this.files[i]!);
  }
}
