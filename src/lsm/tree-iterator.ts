/**
 * The tree's read handles: TreeSnapshot (a pinned sequence number) and TreeIterator (a cursor
 * over a range at one sequence number). The tree builds them (src/lsm/db.ts) and learns of their
 * release through the callbacks it passes in.
 */
import { ClosedError } from '../errors.js';
import type { DbIterator } from './db-iterator.js';
import { toKey, type KeyLike } from './user-input.js';

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

/** A cursor over a range of the tree; `next()` advances, `key()`/`value()` read the current entry. */
export class TreeIterator {
  private remaining: number;
  private done = false;
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
    if (this.remaining <= 0 || !this.inner.next()) return false;
    this.remaining--;
    return true;
  }
  key(): Uint8Array {
    return this.inner.key();
  }
  value(): Uint8Array {
    return this.inner.value();
  }
  /** The next `next()` yields the first key >= target (forward) or <= target (reverse). */
  seek(target: KeyLike): void {
    if (this.done) throw new ClosedError('iterator');
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
