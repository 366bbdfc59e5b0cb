/**
 * The tree's read handles: TreeSnapshot (a pinned sequence number) and TreeIterator (a cursor
 * over a range at one sequence number). The tree builds them (src/lsm/db.ts) and learns of their
 * release through the callbacks it passes in.
 */
import { ClosedError, InvalidArgumentError, IteratorNotPositionedError } from '../errors.js';
import type { DbIterator } from './db-iterator.js';
import { toKey, type KeyLike } from './user-input.js';

/** The most entries one nextv() call returns: its array is built whole before it returns. */
export const NEXTV_COUNT_MAX = 65536;

/** A stable view of the tree at one sequence number; release it when done (it pins old versions). */
export class TreeSnapshot {
  private released = false;
  /** @internal */
  constructor(
    readonly sequence: number,
    private readonly onRelease: (s: TreeSnapshot) => void,
  ) {}
  get isReleased(): boolean {
    return this.released;
  }
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

/**
 * A cursor over a range of the tree; `next()` advances, `key()`/`value()` read the current entry;
 * `nextv(n)` takes the next n entries at once.
 * Reading with no current entry (before next(), after next() returned false, after seek()) is
 * LSM_ERR_ITERATOR_NOT_POSITIONED; after close(), LSM_ERR_CLOSED: a caller's mistake, checked here
 * so it never reaches the inner iterator's assertions.
 */
export class TreeIterator {
  private remaining: number;
  private done = false;
  /** The last next() returned true and nothing moved the cursor since. */
  private positioned = false;
  /** @internal */
  constructor(
    private readonly inner: DbIterator,
    limit: number,
    private readonly onClose: () => void,
  ) {
    this.remaining = limit < 0 ? Infinity : limit;
  }
  /**
   * Advances to the next entry; false at the end of the range (or after the limit). An exhausted
   * iterator stays open: seek() positions it again (as leveldb's); close() releases it.
   */
  next(): boolean {
    if (this.done) throw new ClosedError('iterator');
    this.positioned = false;
    if (this.remaining <= 0 || !this.inner.next()) return false;
    this.remaining--;
    this.positioned = true;
    return true;
  }
  /**
   * Up to `countMax` next entries as [key, value] pairs the caller owns, fewer only at the end of
   * the range (or the limit): empty there. abstract-level's nextv(): one call per batch instead of
   * three per entry. Afterwards key() and value() have no current entry.
   */
  nextv(countMax: number): Array<[Uint8Array, Uint8Array]> {
    if (this.done) throw new ClosedError('iterator');
    if (!Number.isInteger(countMax) || countMax < 1 || countMax > NEXTV_COUNT_MAX) {
      throw new InvalidArgumentError(`nextv count must be an integer in [1, ${NEXTV_COUNT_MAX}], got ${String(countMax)}`);
    }
    this.positioned = false;
    const inner = this.inner;
    const n = Math.min(countMax, this.remaining);
    const out: Array<[Uint8Array, Uint8Array]> = [];
    // At most n <= NEXTV_COUNT_MAX rounds.
    while (out.length < n && inner.next()) out.push([inner.key(), inner.value()]);
    this.remaining -= out.length;
    return out;
  }
  key(): Uint8Array {
    this.checkPositioned('key()');
    return this.inner.key();
  }
  value(): Uint8Array {
    this.checkPositioned('value()');
    return this.inner.value();
  }
  private checkPositioned(what: string): void {
    if (this.done) throw new ClosedError('iterator');
    if (!this.positioned) throw new IteratorNotPositionedError(`iterator ${what}`);
  }
  /** The next `next()` yields the first key >= target (forward) or <= target (reverse). */
  seek(target: KeyLike): void {
    if (this.done) throw new ClosedError('iterator');
    this.positioned = false;
    this.inner.seek(toKey(target, 'seek target'));
  }
  get closed(): boolean {
    return this.done;
  }
  close(): void {
    if (this.done) return;
    this.done = true;
    this.inner.close();
    this.onClose();
  }
}
