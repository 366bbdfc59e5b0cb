/**
 * LsmLevel's iterators: abstract-level's entry, key and value iterators over one LsmTree iterator
 * (after classic-level's iterator.js, which batches reads of a leveldb::Iterator behind nextv()).
 *
 * The tree iterator is synchronous and reads a fixed snapshot (the explicit one passed in, else
 * the tree state when it was created), so every private method here reads directly without
 * queueing: _nextv(n) is n synchronous steps. abstract-level enforces `limit` (it caps each
 * _nextv size and stops calling _next at the limit), so the tree iterator is opened without one
 * and a seek() never resets the count. Keys come back unescaped (keys.ts).
 */
import { AbstractIterator, AbstractKeyIterator, AbstractValueIterator } from 'abstract-level';
import type { AbstractLevel } from 'abstract-level';
import type { TreeIterator } from '../lsm/tree-iterator.js';
import { escapeKey, unescapeKey } from './keys.js';

/** Entries between yields of all() to the event loop, so a long all() does not starve timers. */
export const ALL_CHUNK_ENTRIES = 4096;

// Any LsmLevel, whatever its default key and value types (iterators only use its identity).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: any LsmLevel<K, V> must fit
type LevelDb = AbstractLevel<Uint8Array, any, any>;
type Entry = [Uint8Array | undefined, Uint8Array | undefined];
type Read<T> = (it: TreeIterator) => T;

const readEntry: Read<Entry> = (it) => [unescapeKey(it.key()), it.value()];
const readKeyOnly: Read<Entry> = (it) => [unescapeKey(it.key()), undefined];
const readValueOnly: Read<Entry> = (it) => [undefined, it.value()];
const readNeither: Read<Entry> = () => [undefined, undefined];
const readKey: Read<Uint8Array> = (it) => unescapeKey(it.key());
const readValue: Read<Uint8Array> = (it) => it.value();

/** The reading loop the three iterator kinds share; `read` turns the current position into an item. */
class Cursor<T> {
  #it: TreeIterator;
  readonly #source: TreeSource;
  readonly #read: Read<T>;

  constructor(source: TreeSource, read: Read<T>) {
    this.#it = source.it;
    this.#source = source;
    this.#read = read;
  }

  one(): T | undefined {
    return this.#it.next() ? this.#read(this.#it) : undefined;
  }

  many(size: number): T[] {
    const out: T[] = [];
    while (out.length < size && this.#it.next()) out.push(this.#read(this.#it));
    return out;
  }

  /** Up to `size` items (Infinity: to the end of the range), yielding every ALL_CHUNK_ENTRIES. */
  async all(size: number): Promise<T[]> {
    const out: T[] = [];
    while (out.length < size) {
      const chunk = Math.min(ALL_CHUNK_ENTRIES, size - out.length);
      let n = 0;
      while (n < chunk && this.#it.next()) {
        out.push(this.#read(this.#it));
        n++;
      }
      if (n < chunk) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return out;
  }

  seek(target: Uint8Array): void {
    // A tree iterator closes itself at the end of its range; abstract-level lets seek() go on.
    if (this.#it.closed) this.#it = this.#source.reopen();
    this.#it.seek(escapeKey(target));
  }

  close(): void {
    this.#it.close();
    this.#source.release();
  }
}

/**
 * An open tree iterator over a range at a snapshot, how to open another over the same range and
 * snapshot, and how to let go of that snapshot once the iterator closes (called exactly once).
 */
export interface TreeSource {
  it: TreeIterator;
  reopen(): TreeIterator;
  release(): void;
}

/** What abstract-level hands `_iterator()`: range bounds already encoded to Uint8Array. */
export interface PrivateIteratorOptions {
  keys: boolean;
  values: boolean;
}

export class LsmLevelIterator extends AbstractIterator<LevelDb, Uint8Array, Uint8Array> {
  readonly #cursor: Cursor<Entry>;

  constructor(db: LevelDb, options: PrivateIteratorOptions, source: TreeSource) {
    super(db, options as object);
    const read = options.keys ? (options.values ? readEntry : readKeyOnly) : (options.values ? readValueOnly : readNeither);
    this.#cursor = new Cursor(source, read);
  }

  async _next(): Promise<Entry | undefined> {
    return this.#cursor.one();
  }

  async _nextv(size: number): Promise<Entry[]> {
    return this.#cursor.many(size);
  }

  async _all(): Promise<Entry[]> {
    return this.#cursor.all(this.limit - this.count);
  }

  _seek(target: Uint8Array): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.#cursor.close();
  }
}

export class LsmLevelKeyIterator extends AbstractKeyIterator<LevelDb, Uint8Array> {
  readonly #cursor: Cursor<Uint8Array>;

  constructor(db: LevelDb, options: object, source: TreeSource) {
    super(db, options);
    this.#cursor = new Cursor(source, readKey);
  }

  async _next(): Promise<Uint8Array | undefined> {
    return this.#cursor.one();
  }

  async _nextv(size: number): Promise<Uint8Array[]> {
    return this.#cursor.many(size);
  }

  async _all(): Promise<Uint8Array[]> {
    return this.#cursor.all(this.limit - this.count);
  }

  _seek(target: Uint8Array): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.#cursor.close();
  }
}

export class LsmLevelValueIterator extends AbstractValueIterator<LevelDb, Uint8Array, Uint8Array> {
  readonly #cursor: Cursor<Uint8Array>;

  constructor(db: LevelDb, options: object, source: TreeSource) {
    super(db, options);
    this.#cursor = new Cursor(source, readValue);
  }

  async _next(): Promise<Uint8Array | undefined> {
    return this.#cursor.one();
  }

  async _nextv(size: number): Promise<Uint8Array[]> {
    return this.#cursor.many(size);
  }

  async _all(): Promise<Uint8Array[]> {
    return this.#cursor.all(this.limit - this.count);
  }

  _seek(target: Uint8Array): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.#cursor.close();
  }
}
