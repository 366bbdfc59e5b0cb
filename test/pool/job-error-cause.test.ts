/**
 * A job that fails in a worker of the pool fails with the same error as inline: the typed class
 * and code, the file and offset of a corruption, and the `cause` (the system error's code, errno,
 * syscall and path) survive the thread boundary (src/pool/job-error.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadEngine } from '../../src/engine/index.js';
import { KIND_PUT, makeInternalKey } from '../../src/format/internal-key.js';
import { tableFileName } from '../../src/lsm/filenames.js';
import { runJob, type Job } from '../../src/lsm/jobs.js';
import { nodeFileSystem } from '../../src/lsm/node-fs.js';
import { JobPool } from '../../src/pool/job-pool.js';
import { utf8 } from '../../src/util/bytes.js';
import { packRun } from '../helpers/runs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lsmraft-pool-cause-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const table = { blockSizeBytes: 4096, restartInterval: 16, bloomBitsPerKey: 10, targetFileSizeBytes: 1 << 20 };

/** What a caller can match on, from an error of either runner. */
function shape(err: unknown): Record<string, unknown> {
  const e = err as Error & { code?: string; file?: string; offset?: number; cause?: NodeJS.ErrnoException };
  return {
    name: e.name,
    code: e.code,
    message: e.message,
    file: e.file,
    offset: e.offset,
    cause: e.cause === undefined ? undefined : { code: e.cause.code, errno: e.cause.errno, syscall: e.cause.syscall, path: e.cause.path },
  };
}

async function errorsOf(job: Job): Promise<{ inline: Record<string, unknown>; pooled: Record<string, unknown> }> {
  const engine = await loadEngine('js');
  let inline: unknown;
  try {
    runJob(nodeFileSystem, engine, job);
  } catch (err) {
    inline = err;
  }
  const pool = new JobPool(engine, { maxThreads: 1, maxQueue: 4 });
  let pooled: unknown;
  try {
    await pool.run(job);
  } catch (err) {
    pooled = err;
  } finally {
    await pool.close();
  }
  return { inline: shape(inline), pooled: shape(pooled) };
}

describe('a job failing in the pool', () => {
  it('keeps the IoError and its cause (ENOENT, open) of a missing input table', async () => {
    const job: Job = { kind: 'compaction', dir, inputs: [7], snapshots: [], dropTombstones: false, table, fileNumbers: [8, 9] };
    const { inline, pooled } = await errorsOf(job);
    expect(inline).toMatchObject({ code: 'LSM_ERR_IO', cause: { code: 'ENOENT', syscall: 'open' } });
    expect(pooled).toEqual(inline);
  });

  it('keeps the IoError and its cause of a flush into a directory that is gone', async () => {
    const run = packRun([[makeInternalKey(utf8('k'), 1, KIND_PUT), utf8('v')]]);
    const job: Job = { kind: 'flush', dir: join(dir, 'gone'), run, snapshots: [], table, fileNumbers: [3, 4] };
    const { inline, pooled } = await errorsOf(job);
    expect(inline).toMatchObject({ code: 'LSM_ERR_IO', cause: { code: 'ENOENT' } });
    expect(pooled).toEqual(inline);
  });

  it('keeps the CorruptionError, its file and offset, of a damaged input table', async () => {
    const engine = await loadEngine('js');
    const run = packRun([[makeInternalKey(utf8('k'), 1, KIND_PUT), utf8('v')]]);
    runJob(nodeFileSystem, engine, { kind: 'flush', dir, run, snapshots: [], table, fileNumbers: [5] });
    const path = join(dir, tableFileName(5));
    const bytes = readFileSync(path);
    bytes[3] = bytes[3]! ^ 0xff; // inside the first data block
    writeFileSync(path, bytes);
    const job: Job = { kind: 'compaction', dir, inputs: [5], snapshots: [], dropTombstones: false, table, fileNumbers: [6] };
    const { inline, pooled } = await errorsOf(job);
    expect(inline).toMatchObject({ name: 'CorruptionError', code: 'LSM_ERR_CORRUPTION', file: path });
    expect(pooled).toEqual(inline);
  });
});
