/**
 * LsmLevel: lsmraft's LsmTree behind abstract-level, so the Level ecosystem (level, sublevels,
 * encodings, level-read-stream, ...) can use it as a drop-in for classic-level. Modelled on
 * classic-level (Level/classic-level, index.js) and memory-level: abstract-level validates and
 * encodes at the public edge (as abstract-level's own get() validates, then calls _get()); the private methods here only escape keys (keys.ts)
 * and call the tree.
 *
 * What must hold:
 * - The private API speaks the 'view' format only: keys, values and range bounds are Uint8Array.
 * - Reads are implicit snapshots: _get/_getMany/_has use the tree's synchronous point read, so
 *   nothing written after the call can be seen; iterators read the tree state of their creation.
 * - abstract-level calls the private methods only while the database is 'open' (it defers or
 *   rejects everything else), so the tree is present whenever they run.
 */
import { AbstractLevel } from 'abstract-level';
import type { AbstractDatabaseOptions, AbstractOpenOptions, AbstractSnapshot } from 'abstract-level';
import { LsmTree } from '../lsm/db.js';
import type { BatchOp, RangeOptions, ReadOptions } from '../lsm/db.js';
import type { TreeSnapshot } from '../lsm/tree-iterator.js';
import { InvalidArgumentError } from '../errors.js';
import type { LsmTreeOptions } from '../lsm/options.js';
import { assert } from '../util/assert.js';
import { LsmLevelIterator, LsmLevelKeyIterator, LsmLevelValueIterator } from './iterator.js';
import type { PrivateIteratorOptions, TreeSource } from './iterator.js';
import { escapeKey } from './keys.js';
import { LsmLevelChainedBatch } from './chained-batch.js';
import { writeOptions, type PrivateWriteOptions } from './write-options.js';
import { LsmLevelSnapshot } from './snapshot.js';

/** Keys deleted per tree batch by clear(); bounds the batch a range clear builds in memory. */
export const CLEAR_BATCH_KEYS = 1000;

/** Options of `new LsmLevel(location, options)`: abstract-level's plus the tree's (src/lsm/options.ts). */
export interface LsmLevelOptions<K, V> extends AbstractDatabaseOptions<K, V>, Omit<LsmTreeOptions, 'createIfMissing' | 'errorIfExists'> {}

interface PrivateReadOptions {
  snapshot?: AbstractSnapshot;
}

/** What abstract-level hands _iterator/_keys/_values/_clear: encoded bounds, reverse, limit. */
interface PrivateRangeOptions extends PrivateReadOptions {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
  reverse: boolean;
  limit: number;
}

interface PrivateBatchOp {
  type: 'put' | 'del';
  key: Uint8Array;
  value?: Uint8Array;
}

export class LsmLevel<KDefault = string, VDefault = string> extends AbstractLevel<Uint8Array, KDefault, VDefault> {
  /** The tree's directory. */
  readonly location: string;
  #tree: LsmTree | undefined = undefined;

  constructor(location: string, options?: LsmLevelOptions<KDefault, VDefault>) {
    // The manifest promises what the tests of abstract-level's suite then hold us to.
    const manifest = {
      encodings: { view: true },
      has: true,
      getSync: true,
      implicitSnapshots: true,
      explicitSnapshots: true,
      seek: true,
      permanence: true,
      createIfMissing: true,
      errorIfExists: true,
    };
    super(manifest, options);
    if (typeof location !== 'string' || location.length === 0) {
      throw new InvalidArgumentError("LsmLevel's location must be a non-empty string (a directory)");
    }
    this.location = location;
  }

  /** The open tree. REQUIRES: status 'open' (abstract-level calls private methods only then). */
  get #open(): LsmTree {
    assert(this.#tree !== undefined, 'LsmLevel private method called while the tree is not open');
    return this.#tree;
  }

  async _open(options: AbstractOpenOptions & LsmTreeOptions): Promise<void> {
    assert(this.#tree === undefined, 'LsmLevel opened twice');
    // Everything but abstract-level's own `passive` is a tree option (createIfMissing included).
    const { passive: _passive, ...treeOptions } = options;
    this.#tree = await LsmTree.open(this.location, treeOptions);
  }

  async _close(): Promise<void> {
    const tree = this.#open;
    this.#tree = undefined;
    await tree.close();
  }

  #readOptions(options: PrivateReadOptions): ReadOptions | undefined {
    const snapshot = options.snapshot;
    if (snapshot === undefined) return undefined;
    return { snapshot: this.#treeSnapshot(snapshot) };
  }

  #treeSnapshot(snapshot: AbstractSnapshot): TreeSnapshot {
    if (!(snapshot instanceof LsmLevelSnapshot) || snapshot.source !== this.#open) {
      throw new InvalidArgumentError('snapshot must come from this LsmLevel (db.snapshot())');
    }
    return snapshot.tree;
  }

  async _get(key: Uint8Array, options: PrivateReadOptions): Promise<Uint8Array | undefined> {
    return this.#open.getSync(escapeKey(key), this.#readOptions(options));
  }

  _getSync(key: Uint8Array, options: PrivateReadOptions): Uint8Array | undefined {
    return this.#open.getSync(escapeKey(key), this.#readOptions(options));
  }

  async _getMany(keys: Uint8Array[], options: PrivateReadOptions): Promise<(Uint8Array | undefined)[]> {
    const tree = this.#open;
    const read = this.#readOptions(options);
    const values = new Array<Uint8Array | undefined>(keys.length);
    for (let i = 0; i < keys.length; i++) values[i] = tree.getSync(escapeKey(keys[i]!), read);
    return values;
  }

  async _has(key: Uint8Array, options: PrivateReadOptions): Promise<boolean> {
    return this.#open.getSync(escapeKey(key), this.#readOptions(options)) !== undefined;
  }

  async _hasMany(keys: Uint8Array[], options: PrivateReadOptions): Promise<boolean[]> {
    const tree = this.#open;
    const read = this.#readOptions(options);
    const found = new Array<boolean>(keys.length);
    for (let i = 0; i < keys.length; i++) found[i] = tree.getSync(escapeKey(keys[i]!), read) !== undefined;
    return found;
  }

  _put(key: Uint8Array, value: Uint8Array, options: PrivateWriteOptions): Promise<void> {
    return this.#open.put(escapeKey(key), value, writeOptions(options));
  }

  _del(key: Uint8Array, options: PrivateWriteOptions): Promise<void> {
    return this.#open.delete(escapeKey(key), writeOptions(options));
  }

  _batch(operations: PrivateBatchOp[], options: PrivateWriteOptions): Promise<void> {
    // abstract-level hands us its own clones of the operations, so escaping keys in place is safe
    // and saves building a second array of a thousand objects per batch.
    for (let i = 0; i < operations.length; i++) {
      const op = operations[i]!;
      op.key = escapeKey(op.key);
    }
    return this.#open.batch(operations as BatchOp[], writeOptions(options));
  }

  _chainedBatch(): LsmLevelChainedBatch {
    return new LsmLevelChainedBatch(this, this.#open);
  }

  /**
   * Opens the tree iterator of a range. gte wins over gt and lte over lt when both are given, as
   * in classic-level. The iterator always reads a snapshot: the explicit one, ref()'d for the
   * iterator's life (ref() is also what refuses a closed one with LEVEL_SNAPSHOT_NOT_OPEN), or one
   * taken now and released at close. Holding it lets seek() reopen a tree iterator that reached
   * the end of its range (LsmTree closes those) and still read the same data.
   */
  #treeSource(options: PrivateRangeOptions): TreeSource {
    const tree = this.#open;
    const range: RangeOptions = { reverse: options.reverse };
    if (options.gte !== undefined) range.gte = escapeKey(options.gte);
    else if (options.gt !== undefined) range.gt = escapeKey(options.gt);
    if (options.lte !== undefined) range.lte = escapeKey(options.lte);
    else if (options.lt !== undefined) range.lt = escapeKey(options.lt);
    const explicit = options.snapshot;
    if (explicit === undefined) {
      const own = tree.snapshot();
      range.snapshot = own;
      try {
        return { it: tree.iterator(range), reopen: () => tree.iterator(range), release: () => own.release() };
      } catch (err) {
        own.release();
        throw err;
      }
    }
    explicit.ref();
    try {
      range.snapshot = this.#treeSnapshot(explicit);
      return { it: tree.iterator(range), reopen: () => tree.iterator(range), release: () => explicit.unref() };
    } catch (err) {
      explicit.unref();
      throw err;
    }
  }

  _iterator(options: PrivateRangeOptions & PrivateIteratorOptions): LsmLevelIterator {
    return new LsmLevelIterator(this, options, this.#treeSource(options));
  }

  _keys(options: PrivateRangeOptions): LsmLevelKeyIterator {
    return new LsmLevelKeyIterator(this, options, this.#treeSource(options));
  }

  _values(options: PrivateRangeOptions): LsmLevelValueIterator {
    return new LsmLevelValueIterator(this, options, this.#treeSource(options));
  }

  _snapshot(options: { owner: object }): LsmLevelSnapshot {
    const tree = this.#open;
    return new LsmLevelSnapshot(options, tree.snapshot(), tree);
  }

  /**
   * Deletes the range in batches of CLEAR_BATCH_KEYS. Not atomic (abstract-level does not ask it
   * to be), but it reads one snapshot, so writes made after clear() was called survive it.
   */
  async _clear(options: PrivateRangeOptions): Promise<void> {
    const tree = this.#open;
    const source = this.#treeSource(options);
    const it = source.it;
    let remaining = options.limit < 0 ? Infinity : options.limit;
    try {
      while (remaining > 0) {
        const ops: BatchOp[] = [];
        // Tree keys are deleted as they are stored: already escaped.
        while (ops.length < CLEAR_BATCH_KEYS && ops.length < remaining && it.next()) ops.push({ type: 'del', key: it.key() });
        if (ops.length === 0) break;
        remaining -= ops.length;
        await tree.batch(ops);
        if (ops.length < CLEAR_BATCH_KEYS) break;
      }
    } finally {
      it.close();
      source.release();
    }
  }
}
