/**
 * Which runner a tree's jobs use (src/lsm/job-runner.ts): the injected pool when workerPool is on
 * and the file system's files are reachable from workers, inline otherwise; the package entries
 * inject the shared piscina pool as the default.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HotPaths } from '../../src/engine/types.js';
import { LsmTree } from '../../src/lsm/db.js';
import { getDefaultJobPool, InlineJobRunner, setDefaultJobPool } from '../../src/lsm/job-runner.js';
import type { Job, JobPoolFactory, JobRunner } from '../../src/lsm/jobs.js';
import { CrashableMemFileSystem } from '../../src/lsm/mem-fs.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { sharedJobPool } from '../../src/pool/job-pool.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-wiring-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A factory whose runners count the jobs they run (running them inline on the real disk). */
function countingPool(): { factory: JobPoolFactory; made: number; jobs: number } {
  const counts = { factory: undefined as unknown as JobPoolFactory, made: 0, jobs: 0 };
  counts.factory = (engine: HotPaths): JobRunner => {
    counts.made++;
    const inline = new InlineJobRunner(nodeFileSystem, engine);
    return { kind: 'pool', liveWorkers: 1, run: (job: Job) => (counts.jobs++, inline.run(job)), close: () => inline.close() };
  };
  return counts;
}

async function flushOne(tree: LsmTree): Promise<void> {
  try {
    await tree.put('k', 'v');
    await tree.flush();
  } finally {
    await tree.close();
  }
}

describe('job runner wiring', () => {
  it('runs jobs in the injected pool on a real directory', async () => {
    const pool = countingPool();
    await flushOne(await LsmTree.open(dir, { engine: 'js', jobPool: pool.factory }));
    expect(pool.made).toBe(1);
    expect(pool.jobs).toBe(1);
  });

  it('runs jobs inline when the files are not reachable from workers, or the pool is off', async () => {
    const pool = countingPool();
    await flushOne(await LsmTree.open('/db', { engine: 'js', fs: new CrashableMemFileSystem(), jobPool: pool.factory }));
    await flushOne(await LsmTree.open(dir, { engine: 'js', workerPool: false, jobPool: pool.factory }));
    expect(pool.made).toBe(0);
  });

  it('uses the default pool when the tree names none', async () => {
    const before = getDefaultJobPool();
    const pool = countingPool();
    setDefaultJobPool(pool.factory);
    try {
      await flushOne(await LsmTree.open(dir, { engine: 'js' }));
    } finally {
      setDefaultJobPool(before);
    }
    expect(pool.jobs).toBe(1);
  });

  it('the package entries make the shared piscina pool the default', async () => {
    // Each entry is imported here for the first time in this file (its module runs once).
    setDefaultJobPool(undefined);
    await import('../../src/level/index.js');
    expect(getDefaultJobPool()).toBe(sharedJobPool);
    setDefaultJobPool(undefined);
    await import('../../src/index.js');
    expect(getDefaultJobPool()).toBe(sharedJobPool);
  });
});
