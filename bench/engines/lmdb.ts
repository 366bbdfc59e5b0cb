/**
 * lmdb-js 3 (LMDB through N-API), binary keys and values. In LMDB durability is chosen when the
 * environment opens, not per write: every commit is synced unless `noSync` is set. So the store of
 * the unsynced workloads opens with `noSync: true` (no fsync, like the other stores' default
 * writes), and the synced-put store opens with the defaults (overlappingSync: a put resolves at
 * commit and `db.flushed` after the fsync; a synced put awaits both). Calls from its README and
 * index.d.ts: put, batch(callback), getMany, get (synchronous), getRange. LMDB is a B+tree over
 * one mmapped file: it has no compaction to ask for.
 */
import { open } from 'lmdb';
import { asBuffer } from './engine.js';
import type { StoreAdapter, StoreFactory, StorePurpose } from './engine.js';

export const lmdb: StoreFactory = {
  title: 'lmdb',
  missing: { compact: 'a B+tree: nothing to compact' },
  notes: "open(dir, { keyEncoding: 'binary', encoding: 'binary', noSync: true }); batch via db.batch(); 32 in flight via getMany(32 keys); synced put: a store opened without noSync, await put, then await db.flushed",
  async open(dir: string, purpose: StorePurpose): Promise<StoreAdapter> {
    const db = open<Buffer, Buffer>(dir, { keyEncoding: 'binary', encoding: 'binary', noSync: purpose === 'unsynced' });
    return {
      alloc: (n) => Buffer.alloc(n),
      put: async (k, v) => {
        await db.put(asBuffer(k), asBuffer(v));
      },
      putSynced: async (k, v) => {
        await db.put(asBuffer(k), asBuffer(v));
        await db.flushed;
      },
      writeBatch: async (keys, values) => {
        await db.batch(() => {
          for (let i = 0; i < keys.length; i++) void db.put(asBuffer(keys[i]!), asBuffer(values[i]!));
        });
      },
      getInFlight: async (keys) => {
        let hits = 0;
        for (const v of await db.getMany(keys.map(asBuffer))) if (v !== undefined) hits++;
        return hits;
      },
      getSync: (k) => db.get(asBuffer(k)),
      scan: async () => {
        let n = 0;
        for (const { key, value } of db.getRange({})) if (key !== undefined && value !== undefined) n++;
        return n;
      },
      settle: async () => {
        await db.flushed;
      },
      close: () => db.close(),
    };
  },
};
