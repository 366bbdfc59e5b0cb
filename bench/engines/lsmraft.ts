/**
 * lsmraft's LsmTree through the package's LSM-only entry (src/lsm.ts, 'lsmraft/lsm'), with one hot-path twin
 * forced: 'wasm' or 'js'. Everything else is the tree's defaults (WAL on, worker-pool jobs).
 */
import { LsmTree } from '../../src/lsm.js';
import { SCAN_CHUNK_ENTRIES, scanTree } from '../common.js';
import type { EngineName } from '../../src/lsm.js';
import { countFound } from './engine.js';
import type { StoreAdapter, StoreFactory } from './engine.js';

function lsmraftStore(engine: EngineName): StoreFactory {
  return {
    title: `lsmraft ${engine}`,
    missing: {},
    notes: `LsmTree.open(dir, { engine: '${engine}' }); put/batch/get/getSync/compact(); scan by iterator().nextv(${SCAN_CHUNK_ENTRIES}); synced put: put(k, v, { sync: true })`,
    async open(dir: string): Promise<StoreAdapter> {
      const tree = await LsmTree.open(dir, { engine });
      return {
        alloc: (n) => new Uint8Array(n),
        put: (k, v) => tree.put(k, v),
        putSynced: (k, v) => tree.put(k, v, { sync: true }),
        writeBatch: (keys, values) => tree.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: values[i]! }))),
        getInFlight: (keys) => countFound(keys.map((k) => tree.get(k))),
        getSync: (k) => tree.getSync(k),
        scan: async () => scanTree(tree),
        compact: () => tree.compact(),
        settle: async () => {},
        close: () => tree.close(),
      };
    },
  };
}

export const lsmraftWasm = lsmraftStore('wasm');
export const lsmraftJs = lsmraftStore('js');
