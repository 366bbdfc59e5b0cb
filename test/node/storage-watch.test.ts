// StorageWatch over scripted tree stats: a failed background job is logged once when it happens,
// write stalls are summed and logged at most once per interval, /health's storage verdict follows
// the freshness of the last error, and a replaced tree (smaller counters) starts over silently.
import { describe, expect, it } from 'vitest';
import type { TreeStats } from '../../src/lsm/db.js';
import { createLogger } from '../../src/node/node-logger.js';
import { BACKGROUND_ERROR_FRESH_MS, STALL_LOG_INTERVAL_MS, StorageWatch } from '../../src/node/storage-watch.js';

function stats(backgroundErrors: number, stallMs: number, errorAt?: number): TreeStats {
  return {
    backgroundErrors,
    writes: { stallMs },
    lastBackgroundError: errorAt === undefined ? undefined : { code: 'LSM_ERR_IO', message: 'disk full', at: errorAt },
  } as unknown as TreeStats;
}

describe('StorageWatch', () => {
  it('logs background errors and stalls, bounded, and reports fresh errors as a problem', () => {
    const records: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (s: string) => void records.push(JSON.parse(s) as Record<string, unknown>) });
    let state = stats(0, 0);
    const watch = new StorageWatch(() => [{ tree: 'state', stats: state }], logger);
    const t0 = 1_000_000;
    watch.check(t0);
    expect(records).toEqual([]);
    expect(watch.problem(t0)).toBeUndefined();

    state = stats(2, 0, t0 + 500);
    watch.check(t0 + 1_000);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ level: 50, tree: 'state', code: 'LSM_ERR_IO', failures: 2 });
    expect(watch.problem(t0 + 1_000)).toContain('LSM_ERR_IO');
    expect(watch.problem(t0 + 500 + BACKGROUND_ERROR_FRESH_MS)).toBeUndefined();

    // Stalls: the first is logged, the next ones within the interval are summed into one line after it.
    state = stats(2, 40, t0 + 500);
    watch.check(t0 + 2_000);
    state = stats(2, 100, t0 + 500);
    watch.check(t0 + 3_000);
    state = stats(2, 130, t0 + 500);
    watch.check(t0 + 4_000);
    const stalls = () => records.filter((r) => r['stallMs'] !== undefined);
    expect(stalls().map((r) => r['stallMs'])).toEqual([40]);
    watch.check(t0 + 2_000 + STALL_LOG_INTERVAL_MS);
    expect(stalls().map((r) => r['stallMs'])).toEqual([40, 90]);

    // A snapshot install replaced the tree: counters start over, nothing is logged.
    state = stats(0, 0);
    const before = records.length;
    watch.check(t0 + 100_000);
    expect(records).toHaveLength(before);
  });
});
