import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/storage.js';
import { RaftDriver } from '../../src/node/driver.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { describeFailure, runSimulation, type SimResult } from '../../src/sim/cluster.js';
import type { RaftCore } from '../../src/sim/node.js';
import { expectSweepPasses } from './sweep.js';

const core: RaftCore = { RawNode, MemoryStorage, RaftDriver };

describe('raft simulator (3 nodes)', () => {
  it('is deterministic: a seed replays to the same run', async () => {
    const a = await runSimulation({ seed: 4242, nodes: 3, core });
    const b = await runSimulation({ seed: 4242, nodes: 3, core });
    const c = await runSimulation({ seed: 4243, nodes: 3, core });
    expect(a.ok, describeFailure(a)).toBe(true);
    expect(b.stats).toEqual(a.stats);
    expect(c.stats).not.toEqual(a.stats);
    expect(a.replay).toBe('npm run sim -- --seed 4242 --nodes 3');
    const d = await runSimulation({ seed: 4242, nodes: 5, core, steps: 50, ruleChecks: false });
    expect(d.replay).toBe('npm run sim -- --seed 4242 --nodes 5 --steps 50 --properties-only');
  });

  it('traces events in verbose mode', async () => {
    const lines: string[] = [];
    const r = await runSimulation({ seed: 7, nodes: 3, core, log: (l) => lines.push(l) });
    expect(r.ok, describeFailure(r)).toBe(true);
    expect(lines[0]).toMatch(/^\[0\] seed 7: 3 nodes, profile /);
    expect(lines.some((l) => /node \d is leader of term \d+/.test(l))).toBe(true);
  });

  it('describes a failure with the seed and the replay command', async () => {
    const r: SimResult = { seed: 99, nodes: 5, ok: false, failure: { invariant: 'election-safety', message: 'election-safety: nodes 1 and 2 are both leader of term 3', step: 17 }, stats: (await runSimulation({ seed: 1, nodes: 3, core, steps: 10 })).stats, replay: 'npm run sim -- --seed 99 --nodes 5' };
    expect(describeFailure(r)).toBe('seed 99 (5 nodes) failed at step 17: election-safety: nodes 1 and 2 are both leader of term 3\n  replay: npm run sim -- --seed 99 --nodes 5');
  });

  for (let chunk = 0; chunk < 5; chunk++) {
    const first = 1 + chunk * 1000;
    it(`holds every safety property and linearizability for seeds ${first}..${first + 999}`, async () => {
      await expectSweepPasses(core, 3, first, 1000);
    }, 180_000);
  }
});
