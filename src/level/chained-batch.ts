/**
 * LsmLevel's chained batch (db.batch().put().del().write()), after classic-level's
 * chained-batch.js, which fills a leveldb::WriteBatch as ops arrive. Here ops go straight into one
 * LsmTree WriteBatch buffer: no op objects, no second pass, and write() hands the buffer to
 * LsmTree.write() as one atomic WAL record.
 *
 * LsmTree.write() takes the batch as built, so the limits its put()/batch() check per key are
 * checked here, when each op is added: put() and del() throw synchronously, as abstract-level
 * documents, and a batch that was accepted op by op is one the tree takes whole.
 */
import { AbstractChainedBatch } from 'abstract-level';
import type { AbstractLevel } from 'abstract-level';
import { InvalidArgumentError } from '../errors.js';
import type { LsmTree } from '../lsm/db.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../lsm/options.js';
import { WriteBatch } from '../lsm/write-batch.js';
import { escapeKey } from './keys.js';
import { writeOptions, type PrivateWriteOptions } from './write-options.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: any LsmLevel<K, V> must fit
type LevelDb = AbstractLevel<Uint8Array, any, any>;

export function checkKeyBytes(treeKey: Uint8Array): Uint8Array {
  if (treeKey.length > KEY_BYTES_MAX) {
    throw new InvalidArgumentError(`key is ${treeKey.length} bytes (escaped), over the maximum of ${KEY_BYTES_MAX}`);
  }
  return treeKey;
}

export function checkValueBytes(value: Uint8Array): Uint8Array {
  if (value.length > VALUE_BYTES_MAX) {
    throw new InvalidArgumentError(`value is ${value.length} bytes, over the maximum of ${VALUE_BYTES_MAX}`);
  }
  return value;
}

export class LsmLevelChainedBatch extends AbstractChainedBatch<LevelDb, unknown, unknown> {
  readonly #tree: LsmTree;
  readonly #batch = new WriteBatch();

  constructor(db: LevelDb, tree: LsmTree) {
    super(db);
    this.#tree = tree;
  }

  _put(key: Uint8Array, value: Uint8Array): void {
    this.#batch.put(checkKeyBytes(escapeKey(key)), checkValueBytes(value));
  }

  _del(key: Uint8Array): void {
    this.#batch.delete(checkKeyBytes(escapeKey(key)));
  }

  _clear(): void {
    this.#batch.clear();
  }

  _write(options: PrivateWriteOptions): Promise<void> {
    return this.#tree.write(this.#batch, writeOptions(options));
  }
}
