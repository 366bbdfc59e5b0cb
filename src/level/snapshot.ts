/**
 * Explicit snapshots of LsmLevel (abstract-level's db.snapshot(), after classic-level's snapshot
 * over leveldb::DB::GetSnapshot). Each wraps one LsmTree snapshot: a pinned sequence number that
 * compaction keeps visible until release. abstract-level reference-counts the wrapper so _close()
 * runs only once no read holds it; only then is the tree snapshot released.
 */
import { AbstractSnapshot } from 'abstract-level';
import type { TreeSnapshot } from '../lsm/tree-iterator.js';
import { assert } from '../util/assert.js';

// abstract-level's typings declare AbstractSnapshot without its constructor, which takes
// `{ owner }` (the database that closes the snapshot on db.close()).
const SnapshotBase = AbstractSnapshot as unknown as new (options: { owner: object }) => AbstractSnapshot;

export class LsmLevelSnapshot extends SnapshotBase {
  /** The pinned tree snapshot; undefined once released. */
  #tree: TreeSnapshot | undefined;
  /** The tree the snapshot was taken of, so another database's snapshot is refused. */
  readonly source: object;

  constructor(options: { owner: object }, treeSnapshot: TreeSnapshot, source: object) {
    super(options);
    this.#tree = treeSnapshot;
    this.source = source;
  }

  /** REQUIRES: not yet closed (abstract-level refuses reads through a closed snapshot). */
  get tree(): TreeSnapshot {
    assert(this.#tree !== undefined, 'read through a released snapshot');
    return this.#tree;
  }

  async _close(): Promise<void> {
    const tree = this.#tree;
    assert(tree !== undefined, 'snapshot closed twice');
    this.#tree = undefined;
    tree.release();
  }
}
