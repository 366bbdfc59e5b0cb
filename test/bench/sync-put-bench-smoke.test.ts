/** A short bench:sync-put (bench/sync-put.bench.ts), so the script cannot rot: its rows, no speed asserted. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

describe('bench:sync-put (short)', () => {
  it('prints a row per store and the growing / preallocated file comparison', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/sync-put.bench.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, BENCH_SYNC_KEYS: '20', BENCH_SYNC_ROUNDS: '1', BENCH_SYNC_FILE_OPS: '20' },
    });
    for (const store of ['lsmraft-wasm', 'lsmraft-js', 'lsmraft-inline', 'classic-level']) {
      expect(out).toMatch(new RegExp(`\\n  ${store} +[0-9,]+ \\([0-9,]+\\.\\.[0-9,]+\\)  cpu [0-9,]+ us\\n`));
    }
    expect(out).toMatch(/\n {2}growing +[0-9,]+ \/ [0-9,]+ \/ [0-9,]+\n/);
    expect(out).toMatch(/\n {2}preallocated +[0-9,]+ \/ [0-9,]+ \/ [0-9,]+\n/);
  });
});
