/**
 * The engine benchmark's short variant, so `npm run bench:engine` cannot rot: it runs the same
 * script on a few thousand entries and checks it printed every row. No speed is asserted here.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

describe('bench:engine (short variant)', () => {
  it('runs every workload on both engines and prints the table', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/engine.bench.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, BENCH_N: '3000', BENCH_TIME_MS: '50' },
    });
    for (const engine of ['wasm', 'js']) {
      for (const name of ['fillseq (awaited put)', 'fillrandom (awaited put)', 'fillrandom (batch of 1000)', 'readrandom (awaited get)', 'readseq (iterator, full scan)']) {
        expect(out).toMatch(new RegExp(`'${engine}'\\s*│\\s*'${name.replace(/[()]/g, '\\$&')}'\\s*│\\s*'[0-9,]+'`));
      }
    }
  }, 180_000);
});
