/**
 * A failing background job never stalls writers for good (src/lsm/error-handler.ts): writers that
 * wait for a job get a typed error within backgroundErrorStallMsMax, the retry timer keeps the
 * process alive while anyone waits for it, and close() returns.
 *
 * The child-process cases run a plain put loop as a script would (test/lsm/put-loop-child.ts): with
 * one failed table create the loop must finish; with a damaged table that compaction must read it
 * must end in LSM_ERR_BACKGROUND. Either way it must not exit silently part-way.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LsmTree } from '../../src/lsm/db.js';
import { FailingMemFileSystem } from '../helpers/failing-fs.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'put-loop-child.ts');
const CHILD_TIMEOUT_MS = 90_000;

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChild(args: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const guard = setTimeout(() => {
      process.kill(child.pid!, 'SIGKILL');
      reject(new Error(`put-loop child still running after ${CHILD_TIMEOUT_MS} ms; stderr: ${stderr}`));
    }, CHILD_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Settles `p` or reports that it did not within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; timedOut: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const r = await Promise.race([p.then((value) => ({ value, timedOut: false })), timeout]);
    return r === 'timeout' ? { timedOut: true } : r;
  } catch (error) {
    return { error, timedOut: false };
  } finally {
    clearTimeout(timer);
  }
}

describe('writes behind a failing background job', () => {
  it('a put loop finishes after one failed table create of a compaction (child process)', async () => {
    const r = await runChild(['failed-table-create']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('done 20000');
    expect(r.code).toBe(0);
  }, CHILD_TIMEOUT_MS + 5_000);

  it('a put loop over a damaged compaction input ends in LSM_ERR_BACKGROUND (child process, worker pool)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsmraft-stall-'));
    try {
      const r = await runChild(['corrupt-table', dir]);
      expect(r.stdout).not.toContain('done');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('LSM_ERR_BACKGROUND');
      expect(r.stderr).toContain('.sst');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, CHILD_TIMEOUT_MS + 5_000);

  it('an always-failing compaction fails writes at l0StopWritesTrigger within the bound, and close() returns', async () => {
    const stallMsMax = 300;
    const { tree, writes } = await putsBehindFailingCompactions(stallMsMax);
    const started = Date.now();
    const r = await within(writes, 10_000);
    expect(r.timedOut, 'writes hung behind the failing compaction').toBe(false);
    expect((r.error as { code?: string } | undefined)?.code).toBe('LSM_ERR_JOB_FAILED');
    expect((r.error as Error).cause).toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(stallMsMax);
    expect(tree.stats().levels[0]!.files).toBeGreaterThanOrEqual(3);
    const bg = tree.stats().background;
    expect(bg.state).toBe('retrying');
    if (bg.state === 'retrying') {
      expect(bg.attempts).toBeGreaterThanOrEqual(1);
      expect(bg.cause.code).toBe('LSM_ERR_IO');
    }
    expect(tree.describe().toString()).toContain('background: retrying');
    const closed = await within(tree.close(), 5_000);
    expect(closed.timedOut, 'close() hung').toBe(false);
    expect(closed.error).toBeUndefined();
  }, 20_000);

  it('close() does not wait out the stall bound of a writer stalled behind a failing compaction', async () => {
    const { tree, writes } = await putsBehindFailingCompactions(60_000);
    // Until the writer is stalled: L0 at the stop trigger, the compaction failing (bounded in time).
    let stalled = false;
    for (let turn = 0; turn < 500 && !stalled; turn++) {
      await new Promise((r) => setTimeout(r, 10));
      const s = tree.stats();
      stalled = s.levels[0]!.files >= 3 && s.background.state === 'retrying';
    }
    expect(stalled).toBe(true);
    const closed = await within(tree.close(), 5_000);
    expect(closed.timedOut, 'close() waited for the stalled writer').toBe(false);
    const r = await within(writes, 1_000);
    expect((r.error as { code?: string } | undefined)?.code).toBe('LSM_ERR_CLOSED');
  }, 20_000);
});

/**
 * A tree whose compactions always fail (every table create while one runs: ENOSPC) and flushes
 * succeed, with a put loop running on it: far more than l0StopWritesTrigger memtables' worth, in a
 * scattered key order so tables overlap and compactions merge rather than move.
 */
async function putsBehindFailingCompactions(stallMsMax: number): Promise<{ tree: LsmTree; writes: Promise<void> }> {
  const fs = new FailingMemFileSystem();
  let tree: LsmTree | undefined;
  fs.onCreate = (path) => (path.endsWith('.sst') && tree?.stats().compactions.running === true ? 'fail' : 'pass');
  tree = await LsmTree.open('/db', {
    engine: 'js', fs, workerPool: false, memtableBytesMax: 64 * 1024, l0CompactionTrigger: 2, l0StopWritesTrigger: 3,
    backgroundErrorStallMsMax: stallMsMax,
  });
  const opened = tree;
  const value = 'v'.repeat(100);
  const writes = (async () => {
    for (let i = 0; i < 20_000; i++) await opened.put(`key-${String((i * 7919) % 20_000).padStart(6, '0')}`, value);
  })();
  // Settled by the caller's within(); marked handled so a rejection before that is not reported.
  writes.catch(() => undefined);
  return { tree: opened, writes };
}
