/**
 * The stores of the side-by-side benchmark by id, each loaded on demand: a child process imports
 * its own store's module only, so its peak RSS does not carry the code of the other four (all five
 * together add ~45 MiB to a child over classic-level's own).
 */
import type { EngineId, StoreFactory } from './engine.js';

const LOADERS: Record<EngineId, () => Promise<StoreFactory>> = {
  'lsmraft-wasm': async () => (await import('./lsmraft.js')).lsmraftWasm,
  'lsmraft-js': async () => (await import('./lsmraft.js')).lsmraftJs,
  'classic-level': async () => (await import('./classic-level.js')).classicLevel,
  lmdb: async () => (await import('./lmdb.js')).lmdb,
  'rocksdb-native': async () => (await import('./rocksdb-native.js')).rocksdbNative,
};

/** The store `id`, or undefined for an unknown id. */
export function loadFactory(id: string): Promise<StoreFactory> | undefined {
  return Object.hasOwn(LOADERS, id) ? LOADERS[id as EngineId]() : undefined;
}

/** Every store, in column order (for the parent, which prints their titles and notes). */
export async function loadFactories(ids: readonly EngineId[]): Promise<Record<EngineId, StoreFactory>> {
  const loaded = await Promise.all(ids.map((id) => LOADERS[id]()));
  return Object.fromEntries(ids.map((id, i) => [id, loaded[i]!])) as Record<EngineId, StoreFactory>;
}
