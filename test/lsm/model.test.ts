/**
 * Randomized model test of LsmTree: thousands of random put/delete/batch/snapshot/get/scan/flush/
 * compact/reopen operations against a plain sorted-map model, seeded; a failure prints the seed
 * and the command that replays it (LSMRAFT_SEED=<seed> npx vitest run test/lsm/model.test.ts).
 * Small memtables and tables make flushes, compactions and multi-level reads happen often.
 */
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import type { TreeSnapshot } from '../../src/lsm/tree-iterator.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { compareBytes } from '../../src/util/bytes.js';
import { Rng, testSeeds } from '../helpers/rng.js';
import { ProcessFileSystem } from '../helpers/fs-process.js';
import type { EngineName } from '../../src/engine/types.js';
import { fromHex as unhex, hex } from '../helpers/hex.js';

type Model = Map<string, Uint8Array>;

function modelRange(model: Model, o: { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array; reverse: boolean; limit: number }): Array<[string, string]> {
  const keys = [...model.keys()].map(unhex).sort(compareBytes);
  const out: Array<[string, string]> = [];
  const inRange = (k: Uint8Array) =>
    (o.gt === undefined || compareBytes(k, o.gt) > 0) &&
    (o.gte === undefined || compareBytes(k, o.gte) >= 0) &&
    (o.lt === undefined || compareBytes(k, o.lt) < 0) &&
    (o.lte === undefined || compareBytes(k, o.lte) <= 0);
  const ordered = o.reverse ? keys.reverse() : keys;
  for (const k of ordered) {
    if (o.limit >= 0 && out.length >= o.limit) break;
    if (inRange(k)) out.push([hex(k), hex(model.get(hex(k))!)]);
  }
  return out;
}

function randomKey(rng: Rng, keySpace: number): Uint8Array {
  // Keys share prefixes (exercises prefix compression) and vary in length.
  const n = rng.int(keySpace);
  const s = `k${String(n).padStart(4, '0')}${n % 7 === 0 ? '-long-suffix-' + 'x'.repeat(n % 40) : ''}`;
  return new TextEncoder().encode(s);
}

function randomValue(rng: Rng): Uint8Array {
  const r = rng.next();
  const n = r < 0.05 ? 0 : r < 0.97 ? rng.int(200) : 2000 + rng.int(30_000);
  return rng.bytes(n);
}

async function runModel(seed: number, engine: EngineName, ops: number): Promise<void> {
  const rng = new Rng(seed);
  const memfs = new CrashableMemFileSystem();
  let pfs = new ProcessFileSystem(memfs);
  const options = {
    engine,
    workerPool: false as const,
    memtableBytesMax: 64 * 1024,
    targetFileSizeBytes: 64 * 1024,
    blockSizeBytes: 512 + rng.int(2048),
    restartInterval: 1 + rng.int(16),
    l1MaxBytes: 128 * 1024,
    levelSizeMultiplier: 4,
    l0CompactionTrigger: 2 + rng.int(3),
  };
  const open = () => LsmTree.open('/db', { ...options, fs: pfs });
  let tree = await open();
  let model: Model = new Map();
  let snapshots: Array<{ snap: TreeSnapshot; model: Model }> = [];
  const keySpace = 50 + rng.int(400);
  try {
    for (let i = 0; i < ops; i++) {
      const r = rng.next();
      if (r < 0.35) {
        const k = randomKey(rng, keySpace);
        const v = randomValue(rng);
        await tree.put(k, v, { sync: rng.chance(0.1) });
        model.set(hex(k), v);
      } else if (r < 0.45) {
        const k = randomKey(rng, keySpace);
        await tree.delete(k);
        model.delete(hex(k));
      } else if (r < 0.52) {
        const ops: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }> = [];
        const n = 1 + rng.int(50);
        for (let j = 0; j < n; j++) {
          const k = randomKey(rng, keySpace);
          if (rng.chance(0.7)) ops.push({ type: 'put', key: k, value: randomValue(rng) });
          else ops.push({ type: 'del', key: k });
        }
        await tree.batch(ops);
        for (const op of ops) {
          if (op.type === 'put') model.set(hex(op.key), op.value);
          else model.delete(hex(op.key));
        }
      } else if (r < 0.54) {
        // Concurrent writers in one turn: one group commit.
        const writes: Promise<void>[] = [];
        for (let j = 0; j < 1 + rng.int(20); j++) {
          const k = randomKey(rng, keySpace);
          const v = randomValue(rng);
          writes.push(tree.put(k, v));
          model.set(hex(k), v);
        }
        await Promise.all(writes);
      } else if (r < 0.7) {
        const k = randomKey(rng, keySpace);
        let snapIndex = -1;
        if (snapshots.length > 0 && rng.chance(0.3)) snapIndex = rng.int(snapshots.length);
        const expected = snapIndex < 0 ? model.get(hex(k)) : snapshots[snapIndex]!.model.get(hex(k));
        const got = await tree.get(k, snapIndex < 0 ? {} : { snapshot: snapshots[snapIndex]!.snap });
        if (expected === undefined) expect(got, `get ${hex(k)} at op ${i}`).toBeUndefined();
        else expect(got && hex(got), `get ${hex(k)} at op ${i}`).toBe(hex(expected));
      } else if (r < 0.78) {
        let snapIndex = -1;
        if (snapshots.length > 0 && rng.chance(0.3)) snapIndex = rng.int(snapshots.length);
        const bounds: { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array } = {};
        if (rng.chance(0.5)) bounds[rng.chance(0.5) ? 'gt' : 'gte'] = randomKey(rng, keySpace);
        if (rng.chance(0.5)) bounds[rng.chance(0.5) ? 'lt' : 'lte'] = randomKey(rng, keySpace);
        const reverse = rng.chance(0.4);
        const limit = rng.chance(0.3) ? rng.int(20) : -1;
        const expected = modelRange(snapIndex < 0 ? model : snapshots[snapIndex]!.model, { ...bounds, reverse, limit });
        const got: Array<[string, string]> = [];
        for await (const [k, v] of tree.scan({ ...bounds, reverse, limit, ...(snapIndex < 0 ? {} : { snapshot: snapshots[snapIndex]!.snap }) })) {
          got.push([hex(k), hex(v)]);
          expect(got.length).toBeLessThanOrEqual(expected.length + 1);
        }
        expect(got, `scan at op ${i}`).toEqual(expected);
      } else if (r < 0.81) {
        if (snapshots.length < 8) snapshots.push({ snap: tree.snapshot(), model: new Map(model) });
      } else if (r < 0.84) {
        if (snapshots.length > 0) snapshots.splice(rng.int(snapshots.length), 1)[0]!.snap.release();
      } else if (r < 0.87) {
        await tree.flush();
      } else if (r < 0.88) {
        await tree.compact();
        // After a full compaction with no snapshot, each key has at most one version on disk.
        if (snapshots.length === 0) {
          const d = tree.describe();
          const entries = d.levels.reduce((n, l) => n + l.files.reduce((m, f) => m + f.entries, 0), 0);
          expect(entries).toBe(model.size);
        }
      } else if (r < 0.9) {
        // Reopen: snapshots do not survive it.
        for (const s of snapshots) s.snap.release();
        snapshots = [];
        if (rng.chance(0.5)) {
          await tree.close();
        } else {
          // Crash (kill -9 and power loss): a synced write makes every earlier write durable
          // too (the WAL is one file, synced as a whole), so the model still holds.
          await tree.put('sync-marker', 'x', { sync: true });
          model.set(hex(new TextEncoder().encode('sync-marker')), new TextEncoder().encode('x'));
          pfs.kill();
          memfs.crash();
          pfs = new ProcessFileSystem(memfs);
        }
        tree = await open();
      } else {
        // Seek a cursor to a random key and read a few entries from there.
        const reverse = rng.chance(0.5);
        const it = tree.iterator({ reverse });
        const target = randomKey(rng, keySpace);
        it.seek(target);
        const expected = modelRange(model, reverse ? { lte: target, reverse, limit: 5 } : { gte: target, reverse, limit: 5 });
        const got: Array<[string, string]> = [];
        for (let j = 0; j < 5 && it.next(); j++) got.push([hex(it.key()), hex(it.value())]);
        it.close();
        expect(got, `seek at op ${i}`).toEqual(expected);
      }
    }
    // Final check of everything.
    const all: Array<[string, string]> = [];
    for await (const [k, v] of tree.scan()) all.push([hex(k), hex(v)]);
    expect(all).toEqual(modelRange(model, { reverse: false, limit: -1 }));
    const stats = tree.stats();
    expect(stats.backgroundErrors).toBe(0);
  } catch (err) {
    console.error(`model test failed: seed ${seed}, engine ${engine}; replay with LSMRAFT_SEED=${seed} npx vitest run test/lsm/model.test.ts`);
    throw err;
  } finally {
    for (const s of snapshots) s.snap.release();
    await tree.close();
  }
}

describe('LsmTree against a sorted-map model', () => {
  for (const engine of ['js', 'wasm'] as const) {
    for (const seed of testSeeds(engine === 'js' ? 1000 : 2000, 4)) {
      it(`seed ${seed} (${engine} engine)`, async () => {
        await runModel(seed, engine, 2500);
      });
    }
  }
});
