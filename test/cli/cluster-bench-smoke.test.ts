// Keeps bench/cluster.bench.ts from rotting: its short variant (BENCH_SHORT=1: 2 s of load per
// level, 2 leader kills) must run to the end, report sane numbers and write cluster.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cluster.js';

interface BenchResult {
  loads: Array<{ concurrency: number; puts: number; putsPerSec: number; p50Ms: number; p99Ms: number; errors: number }>;
  failover: { kills: number; medianMs: number; maxMs: number; allMs: number[] };
}

const outDir = mkdtempSync(join(tmpdir(), 'lsmraft-bench-cluster-out-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('cluster bench (short)', () => {
  it('runs and reports throughput, latency and failover times', async () => {
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'cluster.bench.ts')], {
        cwd: REPO_ROOT,
        env: { ...process.env, BENCH_SHORT: '1', BENCH_ENGINE: 'js', BENCH_OUT_DIR: outDir },
        // Its own process group, so a timeout kills the bench AND the servers it started.
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-10_000)));
      const timer = setTimeout(() => {
        process.kill(-child.pid!, 'SIGKILL');
        reject(new Error(`bench did not finish within 120 s\n${stdout}\n${stderr}`));
      }, 120_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    expect(out.code, out.stderr).toBe(0);
    const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, out.stdout).toBeDefined();
    const r = JSON.parse(line!.slice('RESULT '.length)) as BenchResult;
    expect(r.loads.map((l) => l.concurrency)).toEqual([32, 128]);
    for (const l of r.loads) {
      expect(l.puts).toBeGreaterThan(100);
      expect(l.p50Ms).toBeGreaterThan(0);
      expect(l.p99Ms).toBeGreaterThanOrEqual(l.p50Ms);
    }
    expect(r.failover.kills).toBe(2);
    expect(r.failover.allMs).toHaveLength(2);
    for (const ms of r.failover.allMs) expect(ms).toBeGreaterThan(0);
    const json = JSON.parse(readFileSync(join(outDir, 'cluster.json'), 'utf8')) as { name: string; results: BenchResult };
    expect(Object.keys(json)).toEqual(['name', 'config', 'machine', 'results']);
    expect(json.results).toEqual({ loads: r.loads, failover: r.failover });
    expect(readFileSync(join(outDir, 'cluster.svg'), 'utf8')).toContain('failover');
  }, 150_000);
});
