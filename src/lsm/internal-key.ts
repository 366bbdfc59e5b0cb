/**
 * Internal keys now live in src/format/internal-key.ts (shared with the engine twins). This module
 * re-exports them only for test/engine/scenario.test.ts and test/lsm/compaction-scenario.test.ts,
 * which still import this path; delete it once those imports point at src/format.
 */
export { KIND_DELETE, KIND_PUT, makeInternalKey, trailerKind, trailerSequence } from '../format/internal-key.js';
