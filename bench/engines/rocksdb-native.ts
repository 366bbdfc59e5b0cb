/**
 * rocksdb-native 3 (Holepunch's RocksDB binding) with its defaults. Calls from its README and
 * index.js/lib/batch.js: write() batches with tryPut + flush(), get (one read batch per call),
 * iterator (a streamx Readable, read `SCAN_CAPACITY_ENTRIES` entries per native call),
 * compactRange() over all keys. Its write path takes no per-write options (lib/batch.js passes
 * none to the binding), so it has no synced put; and no synchronous get. The package ships no
 * type declarations: the interfaces below cover what is used here.
 */
import { createRequire } from 'node:module';
import { asBuffer, countFound } from './engine.js';
import type { StoreAdapter, StoreFactory } from './engine.js';

/** Entries each native iterator read returns (the package's default is 8). */
const SCAN_CAPACITY_ENTRIES = 1000;

interface RocksWriteBatch {
  tryPut(key: Buffer, value: Buffer): void;
  flush(): Promise<void>;
}
interface RocksDB {
  ready(): Promise<void>;
  write(opts?: { capacity?: number; autoDestroy?: boolean }): RocksWriteBatch;
  put(key: Buffer, value: Buffer): Promise<void>;
  get(key: Buffer): Promise<Buffer | null>;
  iterator(range?: object, opts?: { capacity?: number }): AsyncIterable<{ key: Buffer; value: Buffer }>;
  compactRange(start?: Buffer | null, end?: Buffer | null): Promise<void>;
  close(): Promise<void>;
}
type RocksDBConstructor = new (path: string, opts?: object) => RocksDB;

const RocksDB = createRequire(import.meta.url)('rocksdb-native') as RocksDBConstructor;

export const rocksdbNative: StoreFactory = {
  title: 'rocksdb-native',
  missing: {
    putSynced: 'no sync write option in its API',
    getSync: 'no synchronous get in its API',
  },
  notes: `new RocksDB(dir); batches: write({ capacity: n }).tryPut()+flush(); scan: iterator({}, { capacity: ${SCAN_CAPACITY_ENTRIES} }); compactRange() over all keys`,
  async open(dir: string): Promise<StoreAdapter> {
    const db = new RocksDB(dir);
    await db.ready();
    return {
      alloc: (n) => Buffer.alloc(n),
      put: (k, v) => db.put(asBuffer(k), asBuffer(v)),
      writeBatch: (keys, values) => {
        const w = db.write({ capacity: keys.length, autoDestroy: true });
        for (let i = 0; i < keys.length; i++) w.tryPut(asBuffer(keys[i]!), asBuffer(values[i]!));
        return w.flush();
      },
      getInFlight: (keys) => countFound(keys.map((k) => db.get(asBuffer(k)))),
      scan: async () => {
        let n = 0;
        for await (const { key, value } of db.iterator({}, { capacity: SCAN_CAPACITY_ENTRIES })) if (key !== undefined && value !== undefined) n++;
        return n;
      },
      compact: () => db.compactRange(),
      settle: async () => {},
      close: () => db.close(),
    };
  },
};
