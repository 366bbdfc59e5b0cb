/**
 * An InternalIterator over an EntryRun (src/engine/types.ts): a decoded block, a merged run, or a
 * test's source. Seeks are binary searches comparing internal keys in place in the run's buffer
 * (leveldb's Block::Iter does the same over restart points; a run has every key's offset).
 *
 * key() and value() are subarrays of run.data: stable while the run is, i.e. past the next move.
 * The run must be sorted (strictly increasing internal keys); checked at construction when
 * INVARIANTS is on.
 */
import type { EntryRun } from '../engine/types.js';
import { assert, INVARIANTS } from '../util/assert.js';
import { compareInternalRange } from '../format/internal-key.js';
import type { InternalIterator } from './iterator.js';

export class RunIterator implements InternalIterator {
  private readonly data: Uint8Array;
  private readonly offsets: Uint32Array;
  private readonly count: number;
  /** Current entry, or -1 (before first) / count (after last) when invalid. */
  private index: number;
  private keyCache: Uint8Array | undefined;

  constructor(run: EntryRun) {
    assert(run.offsets.length >= 2 * run.count + 1, () => `run of ${run.count} entries has ${run.offsets.length} offsets`);
    this.data = run.data;
    this.offsets = run.offsets;
    this.count = run.count;
    this.index = run.count;
    if (INVARIANTS) {
      for (let i = 1; i < run.count; i++) {
        assert(this.compareAt(i - 1, this.data, run.offsets[2 * i]!, run.offsets[2 * i + 1]!) < 0, () => `run out of order at entry ${i}`);
      }
    }
  }

  valid(): boolean {
    return this.index >= 0 && this.index < this.count;
  }

  seekToFirst(): void {
    this.moveTo(0);
  }

  seekToLast(): void {
    this.moveTo(this.count - 1);
  }

  seek(target: Uint8Array): void {
    this.moveTo(this.lowerBound(target, false));
  }

  seekForPrev(target: Uint8Array): void {
    // First entry > target, minus one: the last entry <= target.
    this.moveTo(this.lowerBound(target, true) - 1);
  }

  next(): void {
    assert(this.valid(), 'next() on an invalid run iterator');
    this.moveTo(this.index + 1);
  }

  prev(): void {
    assert(this.valid(), 'prev() on an invalid run iterator');
    this.moveTo(this.index - 1);
  }

  key(): Uint8Array {
    assert(this.valid(), 'key() on an invalid run iterator');
    if (this.keyCache === undefined) {
      this.keyCache = this.data.subarray(this.offsets[2 * this.index]!, this.offsets[2 * this.index + 1]!);
    }
    return this.keyCache;
  }

  value(): Uint8Array {
    assert(this.valid(), 'value() on an invalid run iterator');
    return this.data.subarray(this.offsets[2 * this.index + 1]!, this.offsets[2 * this.index + 2]!);
  }

  close(): void {
    this.moveTo(this.count);
  }

  private moveTo(index: number): void {
    this.index = index < 0 ? -1 : index > this.count ? this.count : index;
    this.keyCache = undefined;
  }

  /** First index whose key is >= target (strict: > target), in [0, count]. */
  private lowerBound(target: Uint8Array, strict: boolean): number {
    let lo = 0;
    let hi = this.count;
    const limit = strict ? 0 : -1;
    // Halves [lo, hi) each round: at most 33 rounds for a 2^32-entry run.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareAt(mid, target, 0, target.length) > limit) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private compareAt(i: number, b: Uint8Array, bStart: number, bEnd: number): number {
    return compareInternalRange(this.data, this.offsets[2 * i]!, this.offsets[2 * i + 1]!, b, bStart, bEnd);
  }
}
