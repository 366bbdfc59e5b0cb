/**
 * classic-level 3 (LevelDB through N-API) with its defaults, keys and values as Uint8Array views
 * ('view' encoding, native in classic-level, so nothing is transcoded). Calls from its README and
 * index.d.ts: put, batch(array), get, getSync, iterator().nextv(), compactRange, { sync: true }.
 */
import { ClassicLevel } from 'classic-level';
import { countFound } from './engine.js';
import type { StoreAdapter, StoreFactory } from './engine.js';

/** Entries per nextv() call of the scan: one native round trip each. */
const SCAN_CHUNK_ENTRIES = 1000;

export const classicLevel: StoreFactory = {
  title: 'classic-level',
  missing: {},
  notes: `new ClassicLevel(dir, { keyEncoding: 'view', valueEncoding: 'view' }); batch(array); scan by nextv(${SCAN_CHUNK_ENTRIES}); compactRange over all keys; synced put: put(k, v, { sync: true })`,
  async open(dir: string): Promise<StoreAdapter> {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    return {
      alloc: (n) => new Uint8Array(n),
      put: (k, v) => db.put(k, v),
      putSynced: (k, v) => db.put(k, v, { sync: true }),
      writeBatch: (keys, values) => db.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: values[i]! }))),
      getInFlight: (keys) => countFound(keys.map((k) => db.get(k))),
      getSync: (k) => db.getSync(k),
      scan: async () => {
        const it = db.iterator();
        let n = 0;
        try {
          for (let got = await it.nextv(SCAN_CHUNK_ENTRIES); got.length > 0; got = await it.nextv(SCAN_CHUNK_ENTRIES)) n += got.length;
        } finally {
          await it.close();
        }
        return n;
      },
      // The whole key space: every benchmark key is 16 ASCII digits, so [0x00, 0xff] covers them.
      compact: () => db.compactRange(Uint8Array.of(0x00), Uint8Array.of(0xff)),
      settle: async () => {},
      close: () => db.close(),
    };
  },
};
