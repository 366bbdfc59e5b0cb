// Keeps bench/vs-level.bench.ts from rotting: runs it on 5,000 keys with a short time budget in a
// child process and checks that it printed the comparison table and wrote its JSON results and a
// well-formed SVG chart.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'lsmraft-vs-level-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const RUN_TIMEOUT_MS = 120_000;
const WORKLOADS = ['put (awaited)', 'batch of 1000', 'get (awaited)', 'get (32 concurrent)', 'full scan'];
const STORES = ['classic-level', 'LsmTree', 'LsmLevel (adapter)'];

describe('bench/vs-level.bench.ts', () => {
  it('runs on 5,000 keys, prints the table and writes the JSON results and the SVG chart', () => {
    const svgPath = join(out, 'vs-level.svg');
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'bench/vs-level.bench.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
      env: { ...process.env, BENCH_N: '5000', BENCH_TIME_MS: '50', BENCH_OUT_DIR: out },
    });
    if (child.status !== 0) console.log(child.stdout, child.stderr);
    expect(child.error).toBeUndefined();
    expect(child.status).toBe(0);
    const stdout = child.stdout;
    expect(stdout).toMatch(/lsmraft engine (wasm|js)/);
    expect(stdout).toContain('classic-level ops/s');
    for (const w of WORKLOADS) {
      // A table row: the workload, then three positive ops/s figures and three ratios.
      const row = stdout.split('\n').find((line) => line.startsWith(`| ${w} `));
      expect(row, `table row of ${w}`).toBeDefined();
      const figures = [...row!.matchAll(/ ([\d,]+) \|/g)].map((m) => Number(m[1]!.replace(/,/g, '')));
      expect(figures.length, `ops/s figures of ${w}`).toBe(3);
      for (const f of figures) expect(f).toBeGreaterThan(0);
      expect([...row!.matchAll(/ \d[\d,]*\.\d\dx \|/g)].length, `ratios of ${w}`).toBe(3);
    }
    const json = JSON.parse(readFileSync(join(out, 'vs-level.json'), 'utf8')) as { name: string; config: { keys: number }; results: { opsPerSec: Record<string, Record<string, number>> } };
    expect(Object.keys(json)).toEqual(['name', 'config', 'machine', 'results']);
    expect(json.config.keys).toBe(5000);
    expect(Object.keys(json.results.opsPerSec)).toEqual(STORES);
    for (const s of STORES) expect(Object.keys(json.results.opsPerSec[s]!)).toEqual(WORKLOADS);
    expect(existsSync(svgPath)).toBe(true);
    const svg = readFileSync(svgPath, 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // One bar per store and workload, each with a tooltip naming its store.
    const bars = [...svg.matchAll(/<rect [^>]*><title>([^<:]+):/g)].map((m) => m[1]);
    expect(bars.length).toBe(WORKLOADS.length * STORES.length);
    for (const s of STORES) expect(bars.filter((b) => b === s).length).toBe(WORKLOADS.length);
  }, RUN_TIMEOUT_MS + 10_000);
});
