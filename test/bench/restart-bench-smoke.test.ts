/**
 * Short variant of bench:restart, so the script cannot rot: 20,000 keys written by a child process
 * killed with SIGKILL, then restarted. No speed is asserted; the replay counts are, since they are
 * what the bench shows: without a flush bound the whole log is re-applied, with one (2,000 entries
 * here) at most about that many. It also writes restart.json and restart.svg.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const KEYS = 20_000;
const FLUSH_ENTRIES = 2_000;
const IN_FLIGHT = 256;

interface Row {
  name: string;
  written: { keys: number; applied: number };
  ready: { found: boolean; appliedOnStart: number; replayedEntries: number };
}

describe('bench:restart (short variant)', () => {
  it('replays the whole log without a flush bound, about the bound with one', () => {
    const outDir = mkdtempSync(join(tmpdir(), 'lsmraft-bench-restart-out-'));
    let out: string;
    let json: Record<string, unknown>;
    try {
      out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/restart.bench.ts'], {
        cwd: root,
        encoding: 'utf8',
        timeout: 240_000,
        env: { ...process.env, BENCH_KEYS: String(KEYS), BENCH_STATE_FLUSH_ENTRIES: String(FLUSH_ENTRIES), BENCH_IN_FLIGHT: String(IN_FLIGHT), BENCH_ENGINE: 'js', BENCH_OUT_DIR: outDir },
      });
      json = JSON.parse(readFileSync(join(outDir, 'restart.json'), 'utf8')) as Record<string, unknown>;
      expect(readFileSync(join(outDir, 'restart.svg'), 'utf8')).toContain('spawn to first get');
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
    expect(Object.keys(json)).toEqual(['name', 'config', 'machine', 'results']);
    expect((json.results as Row[]).map((r) => r.name)).toEqual(['no flush bound', 'flush bound']);
    expect(out).toMatch(/\| flush bound\s*\|\s*20,000 \|/);
    const rows = JSON.parse(/^RESULT (.*)$/m.exec(out)![1]!) as Row[];
    expect(rows.map((r) => r.name)).toEqual(['no flush bound', 'flush bound']);
    for (const r of rows) {
      expect(r.ready.found).toBe(true);
      expect(r.written.applied).toBeGreaterThan(KEYS);
      expect(r.ready.appliedOnStart + r.ready.replayedEntries).toBeGreaterThanOrEqual(r.written.applied);
    }
    expect(rows[0]!.ready.replayedEntries).toBeGreaterThanOrEqual(KEYS);
    // The bound, plus one Ready turn's entries (at most the puts in flight, and session entries).
    expect(rows[1]!.ready.replayedEntries).toBeLessThanOrEqual(FLUSH_ENTRIES + 2 * IN_FLIGHT);
  }, 300_000);
});
