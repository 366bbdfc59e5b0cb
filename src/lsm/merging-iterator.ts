/**
 * A merging iterator: N sorted InternalIterators seen as one, after leveldb's table/merger.cc, with
 * a binary heap of children instead of merger.cc's linear scan (N is ~20 with a few levels of L0
 * files), as Pebble's mergingIter does.
 *
 * Order. Entries are ordered by (internal key, child index). Sequence numbers are unique, so equal
 * internal keys in two children are not expected; the child index only makes the order total, so
 * that even then every entry is visited exactly once in each direction and direction changes are
 * exact.
 *
 * Direction. Going forward, every valid child sits on its first entry after the current position
 * and the heap is a min-heap; going in reverse, every valid child sits on its last entry before the
 * current position and the heap is a max-heap. When next() follows a reverse move (or prev() a
 * forward one), the non-current children are repositioned around the current entry (K, c) first:
 *   to go forward, child j seeks to the first entry after (K, c): key >= K if j > c, key > K if j < c;
 *   to go back, child j seeks to the last entry before (K, c): key <= K if j < c, key < K if j > c.
 * The current child c stays on K, and is then the heap's root, and moves like any other step.
 *
 * key() and value() are the current child's: stable until this iterator moves.
 */
import { assert } from '../util/assert.js';
import { compareInternalKeys } from '../format/internal-key.js';
import type { InternalIterator } from './iterator.js';

const FORWARD = 0;
const REVERSE = 1;

export class MergingIterator implements InternalIterator {
  private readonly children: InternalIterator[];
  /** Child indices; heap[0] is the current child. */
  private readonly heap: Int32Array;
  private heapSize = 0;
  private direction = FORWARD;
  private closed = false;

  /** Takes ownership of `children`: close() closes them. */
  constructor(children: readonly InternalIterator[]) {
    this.children = children.slice();
    this.heap = new Int32Array(this.children.length);
  }

  valid(): boolean {
    return this.heapSize > 0;
  }

  seekToFirst(): void {
    for (const child of this.children) child.seekToFirst();
    this.rebuild(FORWARD);
  }

  seekToLast(): void {
    for (const child of this.children) child.seekToLast();
    this.rebuild(REVERSE);
  }

  seek(target: Uint8Array): void {
    for (const child of this.children) child.seek(target);
    this.rebuild(FORWARD);
  }

  seekForPrev(target: Uint8Array): void {
    for (const child of this.children) child.seekForPrev(target);
    this.rebuild(REVERSE);
  }

  next(): void {
    assert(this.valid(), 'next() on an invalid merging iterator');
    if (this.direction !== FORWARD) this.switchDirection(FORWARD);
    const current = this.heap[0]!;
    this.children[current]!.next();
    this.fixRoot();
  }

  prev(): void {
    assert(this.valid(), 'prev() on an invalid merging iterator');
    if (this.direction !== REVERSE) this.switchDirection(REVERSE);
    const current = this.heap[0]!;
    this.children[current]!.prev();
    this.fixRoot();
  }

  key(): Uint8Array {
    assert(this.valid(), 'key() on an invalid merging iterator');
    return this.children[this.heap[0]!]!.key();
  }

  value(): Uint8Array {
    assert(this.valid(), 'value() on an invalid merging iterator');
    return this.children[this.heap[0]!]!.value();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.heapSize = 0;
    for (const child of this.children) child.close();
  }

  private switchDirection(direction: number): void {
    const current = this.heap[0]!;
    // A copy: the children are separate iterators, but nothing promises they share no buffer.
    const key = this.children[current]!.key().slice();
    for (let j = 0; j < this.children.length; j++) {
      if (j === current) continue;
      const child = this.children[j]!;
      if (direction === FORWARD) {
        child.seek(key);
        if (j < current && child.valid() && compareInternalKeys(child.key(), key) === 0) child.next();
      } else {
        child.seekForPrev(key);
        if (j > current && child.valid() && compareInternalKeys(child.key(), key) === 0) child.prev();
      }
    }
    this.rebuild(direction);
    assert(this.heap[0] === current, 'after a direction change the current child must stay current');
  }

  /** Rebuilds the heap from every valid child, ordered for `direction`. */
  private rebuild(direction: number): void {
    assert(!this.closed, 'merging iterator used after close()');
    this.direction = direction;
    let n = 0;
    for (let j = 0; j < this.children.length; j++) {
      if (this.children[j]!.valid()) this.heap[n++] = j;
    }
    this.heapSize = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /**
   * Restores the heap after the root child moved: drop it if it ran out, else sift it down. With
   * one child left (a compacted tree's last level, once the memtables are empty or exhausted) there
   * is nothing to compare: the merge is that child.
   */
  private fixRoot(): void {
    if (this.heapSize === 1) {
      if (!this.children[this.heap[0]!]!.valid()) this.heapSize = 0;
      return;
    }
    if (!this.children[this.heap[0]!]!.valid()) {
      this.heapSize--;
      if (this.heapSize === 0) return;
      this.heap[0] = this.heap[this.heapSize]!;
    }
    this.siftDown(0);
  }

  /** True when child a comes before child b in the current direction. */
  private before(a: number, b: number): boolean {
    const c = compareInternalKeys(this.children[a]!.key(), this.children[b]!.key());
    if (this.direction === FORWARD) return c < 0 || (c === 0 && a < b);
    return c > 0 || (c === 0 && a > b);
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = this.heapSize;
    let i = start;
    const item = heap[i]!;
    // i at least doubles each round, so at most log2(n) rounds.
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.before(heap[right]!, heap[left]!) ? right : left;
      if (!this.before(heap[child]!, item)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
