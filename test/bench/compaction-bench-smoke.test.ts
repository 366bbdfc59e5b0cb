/**
 * Short variants of bench:compaction, bench:compact-memory, bench:compact-time and bench:hotpaths, so the scripts cannot rot. They run the
 * real scripts on small inputs and check the rows they print and the results file each writes; no
 * speed is asserted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const outDir = mkdtempSync(join(tmpdir(), 'lsmraft-bench-out-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

function runBench(script: string, env: Record<string, string>): string {
  return execFileSync(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, ...env, BENCH_OUT_DIR: outDir },
  });
}

/** The results file `name`.json: its top-level fields checked, its results returned; its chart exists. */
function results(name: string): unknown {
  const json = JSON.parse(readFileSync(join(outDir, `${name}.json`), 'utf8')) as Record<string, unknown>;
  expect(Object.keys(json)).toEqual(['name', 'config', 'machine', 'results']);
  expect(json.name).toBe(name);
  expect(readFileSync(join(outDir, `${name}.svg`), 'utf8')).toMatch(/^<svg [\s\S]*<\/svg>\n$/);
  return json.results;
}

describe('benchmark scripts (short variants)', () => {
  it('bench:compaction reports event-loop delay with and without the pool', () => {
    const out = runBench('bench/compaction.bench.ts', { BENCH_N: '20000' });
    expect(out).toMatch(/\| worker pool\s*\|\s*[0-9,]+ \|\s*[0-9.,]+ \|/);
    expect(out).toMatch(/\| inline \(no pool\)\s*\|\s*[0-9,]+ \|\s*[0-9.,]+ \|/);
    expect(out).toMatch(/fill 20,000 keys, worker pool done in [0-9.]+s/);
    expect(results('compaction')).toHaveLength(2);
  }, 300_000);

  it('bench:compact-time splits a compact() into its phases per engine and mode', () => {
    const out = runBench('bench/compact-time.bench.ts', { BENCH_KEYS: '20000', BENCH_MODES: 'pool,inline' });
    for (const engine of ['wasm', 'js']) {
      expect(out).toMatch(new RegExp(`\\| ${engine}\\s*\\|\\s*pool \\|\\s*[0-9.]+ \\|`));
      expect(out).toMatch(new RegExp(`\\| ${engine}\\s*\\|\\s*inline, timed \\|\\s*[0-9.]+ \\|\\s*[0-9]+ \\| flush \\|`));
    }
  }, 300_000);

  it('bench:compact-memory reports compact() seconds and peak RSS per engine', () => {
    const out = runBench('bench/compact-memory.bench.ts', { BENCH_KEYS: '20000' });
    // engine | jobs (inline or pool) | compact() s | peak RSS MiB | ...
    expect(out).toMatch(/\| js\s*\|\s*inline \|\s*[0-9.,]+ \|\s*[0-9,]+ \|/);
    expect(out).toMatch(/\| wasm\s*\|\s*inline \|\s*[0-9.,]+ \|\s*[0-9,]+ \|/);
    expect(Object.keys((results('compact-memory') as { engines: object }).engines)).toEqual(['js', 'wasm']);
    expect(out).toMatch(/wasm\/js compact\(\) time ratio: [0-9.]+/);
  }, 300_000);

  it('bench:hotpaths compares both twins', () => {
    const out = runBench('bench/hotpaths.bench.ts', { BENCH_TIME_MS: '30', BENCH_ENTRIES: '5000', BENCH_BLOOM_PROBES: '20000' });
    expect(out).toMatch(/crc32c/);
    expect(out).toMatch(/mergeRuns/);
    expect(out).toMatch(/\| encodeBlock [^|]*\|\s*[0-9,]+ \|/);
    expect(Object.keys(results('hotpaths') as object)).toEqual(['hotPaths', 'bloom']);
  }, 300_000);
});
