/**
 * lsmraft/level: the Level ecosystem adapter (abstract-level over LsmTree). See docs/level.md.
 *
 *   import { LsmLevel } from 'lsmraft/level'
 *   const db = new LsmLevel('./data', { valueEncoding: 'json' })
 */
export { LsmLevel, CLEAR_BATCH_KEYS } from './level.js';
export type { LsmLevelOptions } from './level.js';
export { LsmLevelIterator, LsmLevelKeyIterator, LsmLevelValueIterator, ALL_CHUNK_ENTRIES } from './iterator.js';
export { LsmLevelSnapshot } from './snapshot.js';
