// Keeps bench/etcd.bench.ts from rotting: its short variant (BENCH_SECONDS=1) must start both a
// 3-node lsmraft cluster with the etcd API and a 3-member etcd 3.4, drive both, report sane
// numbers and write etcd.json. Skipped, with the reason printed, where etcd 3.4 is not installed.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LoadResult } from '../../bench/load.js';
import { skipReason } from '../etcd/target.js';
import { runScript } from '../helpers/run-script.js';

const SKIP = skipReason('etcd', false);
if (SKIP !== undefined) console.log(`skipping the etcd bench smoke test: ${SKIP}`);

interface Workload extends LoadResult {
  workload: string;
  memberCpuUsPerOp: number | null;
}

const outDir = mkdtempSync(join(tmpdir(), 'lsmraft-bench-etcd-out-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe.skipIf(SKIP !== undefined)('etcd API bench (short)', () => {
  it('measures lsmraft and etcd 3.4 with the same load and writes etcd.json', async () => {
    const out = await runScript(join('bench', 'etcd.bench.ts'), [], { env: { BENCH_SECONDS: '1', BENCH_ENGINE: 'js', BENCH_OUT_DIR: outDir }, timeoutMs: 150_000, processGroup: true });
    expect(out.code, `${out.stdout}\n${out.stderr}`).toBe(0);
    const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, out.stdout).toBeDefined();
    const r = JSON.parse(line!.slice('RESULT '.length)) as { results: Record<string, Workload[]>; ratios: Array<{ workload: string; opsPerSec: number | null }> };
    expect(Object.keys(r.results).sort()).toEqual(['etcd', 'lsmraft']);
    for (const workloads of Object.values(r.results)) {
      expect(workloads.map((w) => w.workload)).toEqual(['put 32', 'put 128', 'read 128']);
      for (const w of workloads) {
        expect(w.ops).toBeGreaterThan(20);
        expect(w.p50Ms).toBeGreaterThan(0);
        expect(w.p99Ms).toBeGreaterThanOrEqual(w.p50Ms);
        // The members' CPU per operation, read from /proc (Linux): something, and under 1 s.
        if (existsSync('/proc/self/stat')) expect(w.memberCpuUsPerOp).toBeGreaterThan(0);
        if (existsSync('/proc/self/stat')) expect(w.memberCpuUsPerOp).toBeLessThan(1_000_000);
      }
    }
    for (const ratio of r.ratios) expect(ratio.opsPerSec).toBeGreaterThan(0);
    const json = JSON.parse(readFileSync(join(outDir, 'etcd.json'), 'utf8')) as { name: string; results: unknown };
    expect(json.name).toBe('etcd');
    expect(json.results).toEqual({ results: r.results, ratios: r.ratios });
    expect(readFileSync(join(outDir, 'etcd.svg'), 'utf8')).toContain('etcd 3.4');
  }, 180_000);
});
