/**
 * The write options LsmLevel forwards to LsmTree: classic-level's `sync` (fsync the WAL before the
 * write is acknowledged), default false in both. Frozen objects, so a write allocates none.
 */
import type { WriteOptions } from '../lsm/db.js';

/** What abstract-level hands the private write methods (among encoding options we ignore). */
export interface PrivateWriteOptions {
  sync?: boolean;
}

const SYNC: WriteOptions = Object.freeze({ sync: true });
const NO_SYNC: WriteOptions = Object.freeze({ sync: false });

export function writeOptions(options: PrivateWriteOptions): WriteOptions | undefined {
  if (options.sync === undefined) return undefined;
  return options.sync === true ? SYNC : NO_SYNC;
}
