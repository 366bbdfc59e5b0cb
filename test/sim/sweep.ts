/** Runs a range of simulator seeds and sums up what they exercised (shared by the sim tests). */
import { expect } from 'vitest';
import { describeFailure, runSimulation, type SimResult } from '../../src/sim/cluster.js';
import type { RaftCore } from '../../src/sim/node.js';

export interface Sweep {
  failure: SimResult | undefined;
  seedsRun: number;
  opsCompleted: number;
  leaderTerms: number;
  crashes: number;
  snapshots: number;
  snapshotsInstalled: number;
  confChanges: number;
  unknownHistories: number;
  seconds: number;
  summary: string;
}

/** Wall-clock bound of one sweep: a hung or pathologically slow run fails instead of stalling. */
const SWEEP_TIME_LIMIT_MS = 170_000;

export async function sweep(core: RaftCore, nodes: number, firstSeed: number, count: number): Promise<Sweep> {
  const t0 = performance.now();
  const s: Sweep = { failure: undefined, seedsRun: 0, opsCompleted: 0, leaderTerms: 0, crashes: 0, snapshots: 0, snapshotsInstalled: 0, confChanges: 0, unknownHistories: 0, seconds: 0, summary: '' };
  for (let seed = firstSeed; seed < firstSeed + count; seed++) {
    const r = await runSimulation({ seed, nodes, core });
    s.seedsRun++;
    s.opsCompleted += r.stats.opsCompleted;
    s.leaderTerms += r.stats.leaderTerms;
    s.crashes += r.stats.crashes;
    s.snapshots += r.stats.snapshotsTaken;
    s.snapshotsInstalled += r.stats.snapshotsInstalled;
    s.confChanges += r.stats.confChangesProposed;
    if (r.stats.linearizability === 'unknown') s.unknownHistories++;
    if (!r.ok) {
      s.failure = r;
      break;
    }
    if (performance.now() - t0 > SWEEP_TIME_LIMIT_MS) throw new Error(`sweep too slow: ${s.seedsRun} seeds in ${SWEEP_TIME_LIMIT_MS} ms (from seed ${firstSeed})`);
  }
  s.seconds = (performance.now() - t0) / 1000;
  s.summary = `${s.seedsRun} seeds in ${s.seconds.toFixed(1)} s (${(s.seedsRun / s.seconds).toFixed(0)} seeds/s), ${s.opsCompleted} client ops, ${s.leaderTerms} leader terms, ${s.crashes} crashes, ${s.snapshots} snapshots taken, ${s.snapshotsInstalled} installed, ${s.confChanges} conf changes, ${s.unknownHistories} histories beyond the checker's budget`;
  return s;
}

/**
 * Sweeps `count` seeds from `firstSeed` and expects no failure; the runs must also have exercised the
 * cluster (ops, elections, crashes, snapshots, membership changes), or passing would mean nothing.
 */
export async function expectSweepPasses(core: RaftCore, nodes: number, firstSeed: number, count: number): Promise<void> {
  const s = await sweep(core, nodes, firstSeed, count);
  expect(s.failure, s.failure === undefined ? '' : describeFailure(s.failure)).toBeUndefined();
  console.log(`${nodes} nodes, seeds ${firstSeed}..${firstSeed + count - 1}: ${s.summary}`);
  expect(s.opsCompleted).toBeGreaterThan(count * 30);
  expect(s.leaderTerms).toBeGreaterThan(count * 2);
  expect(s.crashes).toBeGreaterThan(100);
  expect(s.snapshots).toBeGreaterThan(100);
  expect(s.snapshotsInstalled).toBeGreaterThan(100);
  expect(s.confChanges).toBeGreaterThan(100);
  expect(s.unknownHistories).toBeLessThan(10);
}
