/**
 * lsmraft/level: the Level ecosystem adapter (abstract-level over LsmTree). See docs/level.md.
 *
 *   import { LsmLevel } from 'lsmraft/level'
 *   const db = new LsmLevel('./data', { valueEncoding: 'json' })
 */
import { setDefaultJobPool } from '../lsm/job-runner.js';
import { sharedJobPool } from '../pool/job-pool.js';

// Trees of this entry run their jobs in the shared worker pool, as those of the main entry
// (src/index.ts): src/lsm cannot import src/pool, so the entry wires it.
setDefaultJobPool(sharedJobPool);

export { LsmLevel, CLEAR_BATCH_KEYS } from './level.js';
export type { LsmLevelOptions } from './level.js';
export { LsmLevelIterator, LsmLevelKeyIterator, LsmLevelValueIterator, ALL_CHUNK_ENTRIES } from './iterator.js';
export { LsmLevelSnapshot } from './snapshot.js';
