/**
 * The engine benchmark's short variant, so `npm run bench:engine` cannot rot: it runs the same
 * script on a few thousand entries and checks it printed every row and wrote its results file.
 * No speed is asserted here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

describe('bench:engine (short variant)', () => {
  it('runs every workload on both engines, prints the table and writes engine.json and engine.svg', () => {
    const outDir = mkdtempSync(join(tmpdir(), 'lsmraft-bench-engine-out-'));
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/engine.bench.ts'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, BENCH_N: '3000', BENCH_TIME_MS: '50', BENCH_OUT_DIR: outDir },
      });
      for (const engine of ['wasm', 'js']) {
        for (const name of ['fillseq (awaited put)', 'fillrandom (awaited put)', 'fillrandom (batch of 1000)', 'readrandom (awaited get)', 'readseq (iterator, full scan)']) {
          expect(out).toMatch(new RegExp(`\\| ${engine} \\| ${name.replace(/[()]/g, '\\$&')}\\s*\\|\\s*[0-9,]+ \\|`));
        }
      }
      expect(out).toMatch(/wasm: full scans done in [0-9.]+s/);
      const json = JSON.parse(readFileSync(join(outDir, 'engine.json'), 'utf8')) as Record<string, unknown>;
      expect(Object.keys(json)).toEqual(['name', 'config', 'machine', 'results']);
      expect(json.results).toHaveLength(12);
      expect(readFileSync(join(outDir, 'engine.svg'), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*readseq[\s\S]*<\/svg>\n$/);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 180_000);
});
