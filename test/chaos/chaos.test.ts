/**
 * A chaos run in the test suite: 3 real kv-server processes behind fault proxies, concurrent
 * clients, a seeded nemesis (kill -9 and restart, SIGSTOP/SIGCONT, isolation, splits, delays,
 * dropped connections, remove and re-add, leadership transfer), then the linearizability and
 * convergence checks of test/chaos/chaos-run.ts.
 *
 * LSMRAFT_CHAOS_SECONDS (default 60) and LSMRAFT_CHAOS_SEED (default 1) replay or extend it;
 * `npm run chaos` runs longer or bigger ones from the command line. A failure names the seed and
 * the directory holding the history and the fault schedule.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/cluster.js';
import { runChaos } from './chaos-run.js';

const SECONDS = Number(process.env.LSMRAFT_CHAOS_SECONDS ?? 60);
const SEED = Number(process.env.LSMRAFT_CHAOS_SEED ?? 1);

describe('chaos', () => {
  afterEach(async () => {
    await stopAll();
  });

  it(`keeps a 3-node cluster linearizable and convergent under faults (seed ${SEED}, ${SECONDS} s)`, async () => {
    const report = await runChaos({ seed: SEED, durationMs: SECONDS * 1000, nodes: 3 });
    expect(report.ops, 'the workload ran').toBeGreaterThan(0);
    expect(report.faults.filter((f) => f.phase === 'apply').length, 'the nemesis acted').toBeGreaterThan(0);
    const where = `seed ${SEED}; history and faults in ${report.failureDir}`;
    expect(report.linearizable, `history not linearizable (${where}):\n${(report.staleReads ?? []).join('\n')}\n${(report.violation ?? []).slice(-10).join('\n')}`).not.toBe('illegal');
    expect(report.converged, `replicas differ (${where}): ${JSON.stringify(report.divergence)}`).toBe(true);
  }, (SECONDS + 240) * 1000);
});
