/**
 * The user-facing iterator, after leveldb's db/db_iter.cc: over an InternalIterator holding every
 * version of every key, it yields each user key's newest entry with sequence <= readSequence,
 * skipping keys whose newest such entry is a delete, within bounds, forward or in reverse.
 *
 * Usage: `while (it.next()) use(it.key(), it.value())`; next() moves in the iterator's direction.
 *
 * Positions (what must hold between calls):
 * - forward, after next() returned true: the inner iterator is on the returned key's newest visible
 *   entry; the next next() skips the rest of that key's entries (they are older).
 * - reverse, after next() returned true: the inner iterator is on the first entry not yet consumed,
 *   i.e. the last entry of an earlier user key (or invalid). Going backward, a user key's entries
 *   come oldest first, so the newest visible one is the last one seen before the user key changes
 *   (leveldb's FindPrevUserEntry).
 * - after seek() or before the first next(): the inner iterator is on the first entry to consider.
 *
 * key() and value() return copies the caller owns (the inner iterator's arrays may be reused when it
 * moves); each position has its own copies. Values are carved out of shared slabs
 * (src/lsm/value-copy.ts): a 100-byte slice() would allocate a backing store per entry.
 */
import { ClosedError } from '../errors.js';
import { assert } from '../util/assert.js';
import { compareBytes, compareRange } from '../util/bytes.js';
import {
  KIND_DELETE,
  KIND_SEEK,
  makeInternalKey,
  SEQUENCE_MAX,
  TRAILER_BYTES,
  trailerKind,
  trailerSequence,
} from '../format/internal-key.js';
import type { InternalIterator } from './iterator.js';
import { copyValue } from './value-copy.js';

export interface DbIteratorBounds {
  gt?: Uint8Array | undefined;
  gte?: Uint8Array | undefined;
  lt?: Uint8Array | undefined;
  lte?: Uint8Array | undefined;
}

/** Needs its first seek (to a bound or an end). */
const UNPOSITIONED = 0;
/** The inner iterator is on the first entry to consider; no current key. */
const SEEKED = 1;
/** next() returned true: key() and value() are set. */
const CURRENT = 2;
/** next() returned false. */
const DONE = 3;

export class DbIterator {
  private readonly inner: InternalIterator;
  private readonly readSequence: number;
  private readonly reverse: boolean;
  private readonly gt: Uint8Array | undefined;
  private readonly gte: Uint8Array | undefined;
  private readonly lt: Uint8Array | undefined;
  private readonly lte: Uint8Array | undefined;
  private state = UNPOSITIONED;
  private currentKey: Uint8Array | undefined;
  private currentValue: Uint8Array | undefined;
  private closed = false;

  /** Takes ownership of `inner`: close() closes it. */
  constructor(inner: InternalIterator, readSequence: number, bounds: DbIteratorBounds, reverse: boolean) {
    assert(Number.isInteger(readSequence) && readSequence >= 0 && readSequence <= SEQUENCE_MAX, () => `read sequence ${readSequence}`);
    this.inner = inner;
    this.readSequence = readSequence;
    this.reverse = reverse;
    this.gt = bounds.gt?.slice();
    this.gte = bounds.gte?.slice();
    this.lt = bounds.lt?.slice();
    this.lte = bounds.lte?.slice();
  }

  /** Moves to the next visible user key in the iteration direction; false at the end. */
  next(): boolean {
    if (this.closed) throw new ClosedError('iterator');
    if (this.state === UNPOSITIONED) this.position(undefined);
    if (this.state === DONE) return false;
    const found = this.reverse ? this.findPrevUserEntry() : this.findNextUserEntry(this.state === CURRENT);
    this.state = found ? CURRENT : DONE;
    if (!found) {
      this.currentKey = undefined;
      this.currentValue = undefined;
    }
    return found;
  }

  /**
   * Repositions so that the next next() yields the first visible key >= userKey (forward) or
   * <= userKey (reverse), within the bounds.
   */
  seek(userKey: Uint8Array): void {
    if (this.closed) throw new ClosedError('iterator');
    this.position(userKey);
  }

  /** REQUIRES: the last next() returned true. */
  key(): Uint8Array {
    assert(this.state === CURRENT && this.currentKey !== undefined, 'key() without a current entry');
    return this.currentKey;
  }

  /** REQUIRES: the last next() returned true. */
  value(): Uint8Array {
    assert(this.state === CURRENT && this.currentValue !== undefined, 'value() without a current entry');
    return this.currentValue;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.currentKey = undefined;
    this.currentValue = undefined;
    this.inner.close();
  }

  /** Puts the inner iterator on the first entry to consider from `userKey` (or the start), clamped. */
  private position(userKey: Uint8Array | undefined): void {
    this.currentKey = undefined;
    this.currentValue = undefined;
    this.state = SEEKED;
    if (!this.reverse) {
      let target = userKey;
      const lower = maxOf(this.gt, this.gte);
      if (lower !== undefined && (target === undefined || compareBytes(target, lower) < 0)) target = lower;
      // The newest entry of `target` this reader may see sorts first among those it can see.
      if (target === undefined) this.inner.seekToFirst();
      else this.inner.seek(makeInternalKey(target, this.readSequence, KIND_SEEK));
    } else {
      let target = userKey;
      const upper = minOf(this.lt, this.lte);
      if (upper !== undefined && (target === undefined || compareBytes(target, upper) > 0)) target = upper;
      // (target, 0, delete) sorts after every entry of target: land on its oldest entry.
      if (target === undefined) this.inner.seekToLast();
      else this.inner.seekForPrev(makeInternalKey(target, 0, KIND_DELETE));
    }
  }

  private findNextUserEntry(skipCurrent: boolean): boolean {
    const inner = this.inner;
    let skipKey = skipCurrent ? this.currentKey : undefined;
    if (skipCurrent) inner.next();
    // Every round moves the inner iterator forward, so the loop ends with it.
    for (; inner.valid(); inner.next()) {
      const ikey = inner.key();
      const userKeyEnd = ikey.length - TRAILER_BYTES;
      if (this.aboveUpper(ikey, userKeyEnd)) return false;
      if (trailerSequence(ikey, ikey.length) > this.readSequence) continue;
      if (skipKey !== undefined && compareRange(ikey, 0, userKeyEnd, skipKey, 0, skipKey.length) === 0) continue;
      // The newest visible entry of a new user key.
      if (trailerKind(ikey, ikey.length) === KIND_DELETE || this.belowLower(ikey, userKeyEnd)) {
        skipKey = ikey.slice(0, userKeyEnd);
        continue;
      }
      this.currentKey = ikey.slice(0, userKeyEnd);
      const value = inner.value();
      this.currentValue = copyValue(value, 0, value.length);
      return true;
    }
    return false;
  }

  private findPrevUserEntry(): boolean {
    const inner = this.inner;
    let savedKey: Uint8Array | undefined;
    let savedValue: Uint8Array | undefined;
    // savedKey is set exactly while the newest visible entry seen so far of its user key is a put.
    // Every round moves the inner iterator backward, so the loop ends with it.
    for (; inner.valid(); inner.prev()) {
      const ikey = inner.key();
      const userKeyEnd = ikey.length - TRAILER_BYTES;
      if (this.belowLower(ikey, userKeyEnd)) break;
      if (this.aboveUpper(ikey, userKeyEnd)) continue;
      if (trailerSequence(ikey, ikey.length) > this.readSequence) continue;
      if (savedKey !== undefined && compareRange(ikey, 0, userKeyEnd, savedKey, 0, savedKey.length) < 0) break;
      if (trailerKind(ikey, ikey.length) === KIND_DELETE) {
        savedKey = undefined;
        savedValue = undefined;
      } else {
        savedKey = ikey.slice(0, userKeyEnd);
        const value = inner.value();
        savedValue = copyValue(value, 0, value.length);
      }
    }
    if (savedKey === undefined) return false;
    this.currentKey = savedKey;
    this.currentValue = savedValue;
    return true;
  }

  private aboveUpper(ikey: Uint8Array, userKeyEnd: number): boolean {
    const lt = this.lt;
    if (lt !== undefined && compareRange(ikey, 0, userKeyEnd, lt, 0, lt.length) >= 0) return true;
    const lte = this.lte;
    return lte !== undefined && compareRange(ikey, 0, userKeyEnd, lte, 0, lte.length) > 0;
  }

  private belowLower(ikey: Uint8Array, userKeyEnd: number): boolean {
    const gt = this.gt;
    if (gt !== undefined && compareRange(ikey, 0, userKeyEnd, gt, 0, gt.length) <= 0) return true;
    const gte = this.gte;
    return gte !== undefined && compareRange(ikey, 0, userKeyEnd, gte, 0, gte.length) < 0;
  }
}

function maxOf(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) >= 0 ? a : b;
}

function minOf(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) <= 0 ? a : b;
}
