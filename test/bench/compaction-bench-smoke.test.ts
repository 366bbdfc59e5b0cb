/**
 * Short variants of bench:compaction, bench:compact-memory and bench:hotpaths, so the scripts cannot rot. They run the
 * real scripts on small inputs and check the rows they print; no speed is asserted.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

function runBench(script: string, env: Record<string, string>): string {
  return execFileSync(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, ...env },
  });
}

describe('benchmark scripts (short variants)', () => {
  it('bench:compaction reports event-loop delay with and without the pool', () => {
    const out = runBench('bench/compaction.bench.ts', { BENCH_N: '20000' });
    expect(out).toMatch(/'worker pool'\s*│\s*'[0-9,]+'\s*│\s*'[0-9.]+'/);
    expect(out).toMatch(/'inline \(no pool\)'\s*│\s*'[0-9,]+'\s*│\s*'[0-9.]+'/);
  }, 300_000);

  it('bench:compact-memory reports compact() seconds and peak RSS per engine', () => {
    const out = runBench('bench/compact-memory.bench.ts', { BENCH_KEYS: '20000' });
    expect(out).toMatch(/'js'\s*│\s*'[0-9.]+'\s*│\s*'[0-9]+'/);
    expect(out).toMatch(/'wasm'\s*│\s*'[0-9.]+'\s*│\s*'[0-9]+'/);
    expect(out).toMatch(/wasm\/js compact\(\) time ratio: [0-9.]+/);
  }, 300_000);

  it('bench:hotpaths compares both twins', () => {
    const out = runBench('bench/hotpaths.bench.ts', { BENCH_TIME_MS: '30', BENCH_ENTRIES: '5000' });
    expect(out).toMatch(/crc32c/);
    expect(out).toMatch(/mergeRuns/);
    expect(out).toMatch(/encodeBlock/);
  }, 300_000);
});
