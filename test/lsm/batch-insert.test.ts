/**
 * BatchInserter (src/lsm/batch-insert.ts) puts a batch into the memtable in key order, straight
 * from the batch's bytes: whatever the order, op i must land at sequence + i, so a key written
 * twice in one batch reads as its last write, and every op is there.
 */
import { describe, expect, it } from 'vitest';
import { SEQUENCE_MAX, trailerSequence, userKeyOf } from '../../src/format/internal-key.js';
import { BatchInserter, SORTED_BATCH_OPS_MAX, sortBatchOrder } from '../../src/lsm/batch-insert.js';
import { MemTable } from '../../src/lsm/memtable.js';
import { newBatchOpLayout, WriteBatch } from '../../src/lsm/write-batch.js';
import { compareBytes, fromUtf8, utf8 } from '../../src/util/bytes.js';
import { mulberry32 } from '../helpers/rng.js';

type Model = Map<string, { value: string | undefined; sequence: number }>;

function randomBatch(rnd: () => number, ops: number, keys: number, model: Model, sequence: number): WriteBatch {
  const batch = new WriteBatch();
  for (let i = 0; i < ops; i++) {
    const key = `k${Math.floor(rnd() * keys)}`;
    if (rnd() < 0.2) {
      batch.delete(utf8(key));
      model.set(key, { value: undefined, sequence: sequence + i });
    } else {
      const value = `v${sequence + i}`.repeat(1 + Math.floor(rnd() * 3));
      batch.put(utf8(key), utf8(value));
      model.set(key, { value, sequence: sequence + i });
    }
  }
  return batch;
}

function expectModel(mem: MemTable, model: Model, totalOps: number): void {
  for (const [key, want] of model) {
    const got = mem.get(utf8(key), SEQUENCE_MAX);
    if (want.value === undefined) expect(got, key).toEqual({ kind: 'delete' });
    else expect(got?.kind === 'put' ? fromUtf8(got.value) : got, key).toBe(want.value);
  }
  // Every op is in, each at its own sequence number; the newest entry of each key is the model's.
  const it = mem.iterator();
  const sequences = new Set<number>();
  let lastKey = '';
  for (it.seekToFirst(); it.valid(); it.next()) {
    const key = fromUtf8(userKeyOf(it.key()));
    const sequence = trailerSequence(it.key(), it.key().length);
    sequences.add(sequence);
    if (key !== lastKey) expect(sequence, key).toBe(model.get(key)!.sequence);
    lastKey = key;
  }
  expect(sequences.size).toBe(totalOps);
  expect(mem.entryCount).toBe(totalOps);
}

describe('BatchInserter', () => {
  it('inserts sorted batches with repeated keys and deletes: op i at sequence + i, the last write wins', () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    try {
      const rnd = mulberry32(seed);
      const mem = new MemTable({ arenaChunkBytes: 4096 });
      const inserter = new BatchInserter();
      const model: Model = new Map();
      let sequence = 1;
      for (let b = 0; b < 40; b++) {
        // Sizes from 1 (the unsorted path) up; few keys, so batches repeat keys often.
        const ops = b === 0 ? 1 : 1 + Math.floor(rnd() * 300);
        const batch = randomBatch(rnd, ops, 500, model, sequence);
        inserter.insert(mem, batch, sequence);
        sequence += ops;
      }
      expectModel(mem, model, sequence - 1);
    } catch (err) {
      console.error(`batch insert test failed with LSMRAFT_SEED=${seed}`);
      throw err;
    }
  });

  it('inserts a batch above SORTED_BATCH_OPS_MAX in batch order, with the same result', () => {
    const rnd = mulberry32(5);
    const mem = new MemTable();
    const model: Model = new Map();
    const ops = SORTED_BATCH_OPS_MAX + 1;
    new BatchInserter().insert(mem, randomBatch(rnd, ops, 2000, model, 100), 100);
    const it = mem.iterator();
    it.seekToFirst();
    expect(it.valid()).toBe(true);
    // Sequences 100 .. 100 + ops - 1, each once.
    let min = Infinity;
    let max = 0;
    for (; it.valid(); it.next()) {
      const s = trailerSequence(it.key(), it.key().length);
      min = Math.min(min, s);
      max = Math.max(max, s);
    }
    expect([min, max]).toEqual([100, 100 + ops - 1]);
    for (const [key, want] of model) {
      const got = mem.get(utf8(key), SEQUENCE_MAX);
      expect(got?.kind === 'put' ? fromUtf8(got.value) : got?.kind, key).toBe(want.value ?? 'delete');
    }
    expect(mem.entryCount).toBe(ops);
  });
});

describe('sortBatchOrder', () => {
  /** Keys meant to defeat a fingerprint sort: long shared prefixes, zero bytes, prefixes of each other, repeats. */
  function hardKey(rnd: () => number, shared: Uint8Array): Uint8Array {
    const tail = new Uint8Array(Math.floor(rnd() * 12));
    for (let i = 0; i < tail.length; i++) tail[i] = rnd() < 0.4 ? 0 : rnd() < 0.5 ? 0xff : Math.floor(rnd() * 4);
    const prefixBytes = Math.floor(rnd() * (shared.length + 1));
    const key = new Uint8Array(prefixBytes + tail.length);
    key.set(shared.subarray(0, prefixBytes));
    key.set(tail, prefixBytes);
    return key;
  }

  it('orders ops by key, a repeated key newest first, like a comparison sort', () => {
    const seed = Number(process.env.LSMRAFT_SEED ?? Date.now() % 1_000_000);
    const rnd = mulberry32(seed);
    for (let round = 0; round < 60; round++) {
      const n = round === 0 ? 1 : round === 1 ? SORTED_BATCH_OPS_MAX : 1 + Math.floor(rnd() * 600);
      const shared = utf8('user:0000000000'.slice(0, Math.floor(rnd() * 16)));
      const keys: Uint8Array[] = [];
      const batch = new WriteBatch();
      for (let i = 0; i < n; i++) {
        const key = i > 0 && rnd() < 0.1 ? keys[Math.floor(rnd() * i)]! : hardKey(rnd, shared);
        keys.push(key);
        batch.put(key, utf8('v'));
      }
      const layout = newBatchOpLayout(n);
      batch.layOut(layout);
      const order = new Uint32Array(n);
      sortBatchOrder(batch.bytes, layout.keyStarts, layout.keyEnds, order, new Float64Array(2 * n));
      const want = Array.from({ length: n }, (_, i) => i).sort((a, b) => compareBytes(keys[a]!, keys[b]!) || b - a);
      expect(Array.from(order), `seed ${seed} round ${round}`).toEqual(want);
    }
  });
});
