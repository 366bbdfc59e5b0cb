/**
 * The side-by-side benchmark's short variant, so `npm run bench:engines` cannot rot: it runs the
 * real script (one child process per store) on 20,000 keys (5,000 timed awaited puts and gets)
 * and checks the JSON it writes has a number or an explicit n/a for every store and workload, a
 * positive number in every lsmraft cell, and each goal judged met or missed in the JSON, the
 * output and the markdown report. No speed is compared.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINE_IDS } from '../../bench/engines/engine.js';
import type { GoalVerdict } from '../../bench/engines/goals.js';
import type { Cells } from '../../bench/engines/report.js';
import { WORKLOADS } from '../../bench/engines/workloads.js';

const root = new URL('../..', import.meta.url).pathname;
const outDir = mkdtempSync(join(tmpdir(), 'lsmraft-engines-smoke-'));

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('bench:engines (short variant)', () => {
  it('fills every store x workload cell and writes the chart', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, BENCH_KEYS: '20000', BENCH_REPEATS: '1', BENCH_SYNC_KEYS: '100', BENCH_TIMED_OPS: '5000', BENCH_OUT_DIR: outDir };
    // Measure the code that ships, not the test suite's expensive invariant checks.
    delete env.LSMRAFT_INVARIANTS;
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/engines.bench.ts'], { cwd: root, encoding: 'utf8', timeout: 150_000, env });
    expect(out).toMatch(/\| workload +\| lsmraft wasm \| lsmraft js \| classic-level \| +lmdb \| rocksdb-native \|/);

    const report = JSON.parse(readFileSync(join(outDir, 'engines.json'), 'utf8')) as { cells: Cells; config: { keys: number; timedOps: number }; goals: GoalVerdict[] };
    expect(report.config.keys).toBe(20000);
    expect(report.config.timedOps).toBe(5000);
    // Every goal judged from the run's own cells: a figure and met/missed (all lsmraft cells have a
    // number), except the ones another benchmark measures.
    const judged = report.goals.filter((g) => g.note === undefined);
    expect(judged.length).toBeGreaterThan(10);
    for (const g of judged) {
      expect(['met', 'missed'], g.goal).toContain(g.status);
      expect(out).toContain(`- ${g.goal}: `);
    }
    const markdown = readFileSync(join(outDir, 'engines.md'), 'utf8');
    expect(markdown).toMatch(/\| workload +\| lsmraft wasm \|/);
    for (const g of judged) {
      const line = markdown.split('\n').find((l) => l.startsWith(`- ${g.goal}: `));
      expect(line, g.goal).toMatch(/: [0-9.]+(x| ms), (met|missed)$/);
    }
    for (const w of WORKLOADS) {
      for (const e of ENGINE_IDS) {
        const cell = report.cells[w.id][e];
        expect(cell, `${w.id} / ${e}`).toBeDefined();
        if ('na' in cell!) expect(cell.na.length, `${w.id} / ${e} says why it is n/a`).toBeGreaterThan(0);
        else expect(Number.isFinite(cell!.median), `${w.id} / ${e}`).toBe(true);
        if (e.startsWith('lsmraft')) {
          expect('median' in cell!, `${w.id} / ${e} has a number`).toBe(true);
          if ('median' in cell!) expect(cell.median, `${w.id} / ${e}`).toBeGreaterThan(0);
        }
      }
    }
    const svg = readFileSync(join(outDir, 'engines.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    for (const w of WORKLOADS) expect(svg).toContain(w.label);
  }, 180_000);
});
