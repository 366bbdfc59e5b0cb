/**
 * The interface every store of the side-by-side benchmark (bench/engines.bench.ts) is driven
 * through: one small adapter per store (lsmraft.ts, classic-level.ts, lmdb.ts, rocksdb-native.ts),
 * each calling the store's own public API the way its README shows. An operation a store does not
 * have is left undefined, and its cell in the table reads "n/a" with the reason in `missing`.
 */

export interface StoreAdapter {
  /** A fresh key buffer of the store's preferred type (Buffer for the N-API stores). */
  alloc(bytes: number): Uint8Array;
  /** One put, resolved when the store acknowledges it; no fsync. */
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** One put made durable (fsync or the store's equivalent) before it resolves. */
  putSynced?(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** One atomic batch of puts (keys[i] -> values[i]); no fsync. */
  writeBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[]): Promise<void>;
  /** Reads all `keys` with the store's asynchronous get, all in flight at once; returns the hits. */
  getInFlight(keys: readonly Uint8Array[]): Promise<number>;
  /** The store's synchronous point read, if it has one. */
  getSync?(key: Uint8Array): Uint8Array | undefined;
  /** Reads every entry, key and value, in key order; returns how many it saw. */
  scan(): Promise<number>;
  /** Compacts the whole key range, if the store can be told to. */
  compact?(): Promise<void>;
  /** Resolves when every write so far has reached the file system (for stores that write behind). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export type StorePurpose = 'unsynced' | 'synced';

export interface StoreFactory {
  /** Column header in the table and series name in the chart. */
  title: string;
  /** Why an optional operation is missing, by operation name: printed and stored in the JSON. */
  missing: Partial<Record<'putSynced' | 'getSync' | 'compact', string>>;
  /** What the reader should know about how this store was driven (options, API calls used). */
  notes: string;
  /**
   * Opens a store in `dir`. `purpose` 'synced' is the store of the synced-put workload; a store
   * whose durability is chosen at open (lmdb) opens durable for it and without fsync otherwise.
   */
  open(dir: string, purpose: StorePurpose): Promise<StoreAdapter>;
}

export const ENGINE_IDS = ['lsmraft-wasm', 'lsmraft-js', 'classic-level', 'lmdb', 'rocksdb-native'] as const;
export type EngineId = (typeof ENGINE_IDS)[number];

/** A buffer over the same bytes, for stores whose bindings want a Buffer (no copy). */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** Promise.all over one get per key, counting the values found. */
export async function countFound(pending: ReadonlyArray<Promise<unknown>>): Promise<number> {
  let hits = 0;
  for (const v of await Promise.all(pending)) if (v !== undefined && v !== null) hits++;
  return hits;
}
