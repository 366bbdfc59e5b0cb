// Runs abstract-level's shared test suite against LsmLevel (test/level/abstract-level-suite.mjs,
// with tape, in a child process as the suite requires) and checks its TAP summary: no failed
// assertion, and as many passing ones as the suite holds for LsmLevel's manifest.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SUITE_TIMEOUT_MS = 240_000;
/**
 * Assertions the suite runs for LsmLevel's manifest. classic-level runs 5,168: 36 more, the
 * iterator abort-signal tests, which LsmLevel does not opt into (its reads never wait, so there
 * is nothing in flight to abort; see docs/level.md).
 */
const EXPECTED_PASS = 5132;

interface TapSummary {
  pass: number;
  fail: number;
  firstFailures: string[];
}

function parseTap(out: string): TapSummary {
  const pass = /^# pass\s+(\d+)$/m.exec(out);
  const fail = /^# fail\s+(\d+)$/m.exec(out);
  const lines = out.split('\n');
  const firstFailures: string[] = [];
  let testName = '';
  for (const line of lines) {
    if (line.startsWith('# ')) testName = line;
    else if (line.startsWith('not ok') && firstFailures.length < 10) firstFailures.push(`${testName}: ${line}`);
  }
  return { pass: pass === null ? 0 : Number(pass[1]), fail: fail === null ? 0 : Number(fail[1]), firstFailures };
}

describe('abstract-level shared test suite', () => {
  it('passes every assertion against LsmLevel', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/level/abstract-level-suite.mjs'], {
      cwd: root,
      encoding: 'utf8',
      timeout: SUITE_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    const summary = parseTap(child.stdout);
    console.log(`abstract-level suite on LsmLevel: ${summary.pass} assertions passed, ${summary.fail} failed`);
    if (summary.fail > 0 || child.status !== 0) {
      console.log(summary.firstFailures.join('\n'));
      console.log(child.stderr.slice(-4000));
    }
    expect(child.error).toBeUndefined();
    expect(summary.fail).toBe(0);
    expect(child.status).toBe(0);
    expect(summary.pass).toBe(EXPECTED_PASS);
  }, SUITE_TIMEOUT_MS + 10_000);
});
