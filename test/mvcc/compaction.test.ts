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
});
