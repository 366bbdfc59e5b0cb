// The simulator's disk (src/sim/log-store.ts): what a crash keeps and what it drops.
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Entry } from '../../src/raft/types.js';
import { SimLogStore, type LandedWrite } from '../../src/sim/log-store.js';
import { Random } from '../../src/sim/random.js';

const entry = (index: number, term = 1): Entry => ({ index, term, type: 'normal', data: new Uint8Array([index]) });

function store(slowRate: number): { s: SimLogStore; step: { now: number }; landed: LandedWrite[]; suspended: { count: number } } {
  const step = { now: 1 };
  const landed: LandedWrite[] = [];
  const suspended = { count: 0 };
  const s = new SimLogStore(new MemoryStorage(), new Random(7), { rate: slowRate, maxDelaySteps: 2 }, () => step.now, (w) => landed.push(w), () => suspended.count++);
  return { s, step, landed, suspended };
}

describe('SimLogStore', () => {
  it('keeps a synced write and drops an unsynced hard state in a crash', async () => {
    const { s, landed } = store(0);
    await s.append([entry(1), entry(2)], { term: 1, vote: 2, commit: 0 }, true);
    await s.append([], { term: 1, vote: 2, commit: 2 }, false);
    expect(landed.map((w) => w.hardState?.commit)).toEqual([0, 2]);
    expect(s.commitIndex()).toBe(2);
    s.crash();
    expect(s.storage.lastIndex()).toBe(2);
    expect(s.storage.initialState().hardState).toEqual({ term: 1, vote: 2, commit: 0 });
  });

  it('holds a slow write in flight until its step, and a crash drops it', async () => {
    const { s, step, landed, suspended } = store(1);
    let done = false;
    void s.append([entry(1)], { term: 1, vote: 1, commit: 0 }, true).then(() => (done = true));
    expect(s.writeInFlight).toBe(true);
    expect(suspended.count).toBe(1);
    expect(s.storage.lastIndex()).toBe(0);
    for (let i = 0; i < 4 && s.writeInFlight; i++) {
      step.now++;
      s.landDue();
    }
    await Promise.resolve();
    expect(done).toBe(true);
    expect(landed).toHaveLength(1);
    expect(s.storage.lastIndex()).toBe(1);

    done = false;
    void s.append([entry(2)], { term: 1, vote: 1, commit: 1 }, true).then(() => (done = true));
    s.crash();
    step.now += 10;
    s.landDue();
    await Promise.resolve();
    expect(done).toBe(false);
    expect(s.storage.lastIndex()).toBe(1);
    expect(s.storage.initialState().hardState.commit).toBe(0);
  });
});
