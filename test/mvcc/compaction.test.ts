/**
 * Physical compaction in bounded steps (src/mvcc/compaction.ts): whatever the step size, the steps
 * together delete exactly what one unbounded pass deletes, including when a step ends inside one
 * key's records (a tombstone kept at the compact revision must still go).
 */
import { describe, expect, it } from 'vitest';
import { compactStep } from '../../src/mvcc/compaction.js';
import { HISTORY_START } from '../../src/mvcc/keys.js';
import { StateView } from '../../src/mvcc/state-view.js';
import { utf8 } from '../../src/util/bytes.js';
import { Rng, testSeeds } from '../helpers/rng.js';
import { openMvcc, type MvccHarness } from './mvcc-harness.js';

async function randomHistory(seed: number): Promise<MvccHarness> {
  const rng = new Rng(seed);
  const h = await openMvcc();
  for (let i = 0; i < 150; i++) {
    const key = utf8(`k${rng.int(6)}`);
    if (rng.chance(0.3)) await h.write({ type: 'deleteRange', deleteRange: { key } });
    else await h.write({ type: 'put', put: { key, value: utf8(`v${i}`) } });
  }
  return h;
}

async function dump(h: MvccHarness): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of h.tree.scan()) out.push(Buffer.from(k).toString('hex'));
  return out;
}

/** Compacts at `revision` in steps of `recordsMax` records, each step its own tree batch; returns the step count. */
async function compactInSteps(h: MvccHarness, revision: number, recordsMax: number): Promise<number> {
  let work = compactStep(new StateView(h.tree), { revision, cursor: HISTORY_START }, 0);
  let steps = 0;
  // Bounded: each step reads recordsMax records of a finite history.
  while (work !== undefined && steps < 10_000) {
    const view = new StateView(h.tree);
    work = compactStep(view, work, recordsMax);
    await h.tree.batch(view.takeOps());
    steps++;
  }
  return steps;
}

describe('physical compaction in steps', () => {
  it.each(testSeeds(4000, 3))('deletes what one pass deletes, whatever the step size (seed %i)', async (seed) => {
    const whole = await randomHistory(seed);
    const c = Math.floor(whole.store.revision * 0.7);
    expect(await compactInSteps(whole, c, Infinity)).toBe(1);
    const expected = await dump(whole);
    await whole.tree.close();
    for (const size of [1, 2, 3, 7]) {
      const h = await randomHistory(seed);
      const before = (await dump(h)).length;
      const steps = await compactInSteps(h, c, size);
      expect(steps).toBeGreaterThan(before / size / 2);
      expect(await dump(h), `step size ${size}`).toEqual(expected);
      await h.tree.close();
    }
  });

  it('takes one step per applied write until the history below the compact revision is gone', async () => {
    const h = await openMvcc();
    // 12,000 versions of 10 keys, written in one batch: more history than one step reads.
    const batch = h.store.beginBatch();
    for (let i = 0; i < 12_000; i++) batch.apply({ type: 'put', put: { key: utf8(`k${i % 10}`), value: utf8(`v${i}`) } });
    await h.tree.batch(batch.takeOps());
    h.store.publish(batch);
    const history = async () => {
      let n = 0;
      for await (const [k] of h.tree.scan({ gte: Uint8Array.of(0x72), lt: Uint8Array.of(0x73) })) if (k[0] === 0x72) n++;
      return n;
    };
    expect(await history()).toBe(12_000);
    await h.write({ type: 'compact', revision: h.store.revision });
    expect(h.store.compactionPending).toBe(true);
    let writes = 0;
    // Bounded: each write takes a step of COMPACT_RECORDS_PER_STEP records.
    while (h.store.compactionPending && writes < 10) {
      await h.write({ type: 'txn', txn: { compare: [], success: [], failure: [] } });
      writes++;
    }
    expect(writes).toBe(2);
    expect(await history()).toBe(10);
    await h.tree.close();
  });
});
