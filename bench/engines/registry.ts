/** The stores of the side-by-side benchmark by id, in column order. */
import { classicLevel } from './classic-level.js';
import type { EngineId, StoreFactory } from './engine.js';
import { lmdb } from './lmdb.js';
import { lsmraftJs, lsmraftWasm } from './lsmraft.js';
import { rocksdbNative } from './rocksdb-native.js';

export const FACTORIES: Record<EngineId, StoreFactory> = {
  'lsmraft-wasm': lsmraftWasm,
  'lsmraft-js': lsmraftJs,
  'classic-level': classicLevel,
  lmdb,
  'rocksdb-native': rocksdbNative,
};
