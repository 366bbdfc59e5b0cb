/**
 * The goal verdicts of the side-by-side benchmark (bench/engines/goals.ts), on made-up medians:
 * each goal's ratio, its direction (at least / at most), and n/a when a cell has no number.
 */
import { describe, expect, it } from 'vitest';
import { ENGINE_IDS } from '../../bench/engines/engine.js';
import type { EngineId } from '../../bench/engines/engine.js';
import { goalLines, judgeGoals } from '../../bench/engines/goals.js';
import type { Cells } from '../../bench/engines/report.js';
import { WORKLOADS } from '../../bench/engines/workloads.js';
import type { WorkloadId } from '../../bench/engines/workloads.js';

/** Cells with every median 100, then the given overrides (a number, or undefined for n/a). */
function cellsWith(overrides: Partial<Record<WorkloadId, Partial<Record<EngineId, number | undefined>>>>): Cells {
  const cells = {} as Cells;
  for (const w of WORKLOADS) {
    cells[w.id] = {};
    for (const e of ENGINE_IDS) {
      const v = w.id in overrides && e in overrides[w.id]! ? overrides[w.id]![e] : 100;
      cells[w.id][e] = v === undefined ? { na: 'not supported' } : { median: v, min: v, max: v, samples: [v] };
    }
  }
  return cells;
}

describe('judgeGoals', () => {
  it('judges rates against the best competitor and bounds in both directions', () => {
    const verdicts = judgeGoals(
      cellsWith({
        fill: { 'lsmraft-wasm': 63, 'classic-level': 50, 'rocksdb-native': 100 },
        rss: { 'lsmraft-wasm': 420, 'classic-level': 200 },
        loopCompactP99: { 'lsmraft-wasm': 4 },
        compact: { 'lsmraft-wasm': 1, 'lsmraft-js': 3 },
      }),
    );
    const byGoal = new Map(verdicts.map((v) => [v.goal, v]));
    expect(byGoal.get('fill, batch 1000 >= 1.5x best(classic-level, rocksdb-native)')).toMatchObject({ measured: 0.63, status: 'missed' });
    expect(byGoal.get('peak RSS <= 2x classic-level')).toMatchObject({ measured: 2.1, status: 'missed' });
    expect(byGoal.get('event-loop p99 in compact() <= 10 ms')).toMatchObject({ measured: 4, status: 'met' });
    expect(byGoal.get('WASM compact() >= 2.5x JS (seconds of lsmraft js over lsmraft wasm)')).toMatchObject({ measured: 3, status: 'met' });
    expect(goalLines(verdicts)).toContain('fill, batch 1000 >= 1.5x best(classic-level, rocksdb-native): 0.63x, missed');
  });

  it('prints a ratio just past its bound with the digits that show it is past', () => {
    const lines = goalLines(judgeGoals(cellsWith({ writeAmp: { 'lsmraft-wasm': 1.525, 'rocksdb-native': 1.52 } })));
    expect(lines).toContain("write amplification <= rocksdb-native's: 1.003x, missed");
  });

  it('is n/a when a cell it needs has no number, and uses the competitors that have one', () => {
    const verdicts = judgeGoals(cellsWith({ getSync: { 'lsmraft-wasm': undefined }, overwrite: { 'lsmraft-wasm': 160, 'rocksdb-native': undefined } }));
    const byGoal = new Map(verdicts.map((v) => [v.goal, v]));
    expect(byGoal.get('get, synchronous >= classic-level')?.status).toBe('n/a');
    expect(byGoal.get('overwrite, batch 1000 >= 1.5x best(classic-level, rocksdb-native)')).toMatchObject({ measured: 1.6, status: 'met' });
  });
});
