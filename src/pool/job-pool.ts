/**
 * The job pool: a bounded piscina pool of worker threads that run flush and compaction jobs off the
 * main thread, so heartbeats and client requests keep flowing while a compaction merges megabytes.
 * Created by the tree and closed with it. Bounded: `maxThreads` workers, at most `maxQueue` jobs
 * waiting (the tree itself never has more than one flush and one compaction in flight).
 *
 * A job that fails (disk full, corrupt input, a killed worker) rejects with a typed error; its
 * output files are not referenced by any version and the tree deletes them.
 */
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { HotPaths } from '../engine/types.js';
import { CorruptionError, IoError, JobFailedError, LsmraftError } from '../errors.js';
import type { Job, JobResult } from '../lsm/jobs.js';
import type { JobRunner } from '../lsm/job-runner.js';
import type { PoolReply, PoolTask } from './worker.js';

/** The worker module: compiled JS in a build, or the tsx loader when running from sources. */
function workerFilename(): string {
  const here = import.meta.url;
  return new URL(here.endsWith('.ts') ? './worker-tsx.mjs' : './worker.js', here).href;
}

export interface JobPoolOptions {
  maxThreads: number;
  maxQueue: number;
}

export class JobPool implements JobRunner {
  readonly kind = 'pool';
  private readonly pool: Piscina<PoolTask, PoolReply>;
  private closed = false;

  constructor(
    private readonly engine: HotPaths,
    options: JobPoolOptions,
  ) {
    this.pool = new Piscina<PoolTask, PoolReply>({
      filename: workerFilename(),
      minThreads: 1,
      maxThreads: options.maxThreads,
      maxQueue: options.maxQueue,
      idleTimeout: 30_000,
    });
  }

  /** The pool's worker threads (started lazily, replaced when one dies). */
  get workers(): readonly Worker[] {
    return this.pool.threads;
  }

  async run(job: Job): Promise<JobResult> {
    if (this.closed) throw new JobFailedError('job pool is closed');
    // A flush hands over the memtable's run: transferred, not copied (it is not used afterwards).
    const transferList = job.kind === 'flush' ? [job.run.data.buffer, job.run.offsets.buffer] : [];
    let reply: PoolReply;
    try {
      reply = await this.pool.run({ engine: this.engine.name, job }, { transferList: transferList as ArrayBuffer[] });
    } catch (err) {
      if (err instanceof LsmraftError) throw err;
      throw new JobFailedError(`${job.kind} job failed in a worker: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (reply.ok) return reply.result;
    switch (reply.code) {
      case 'LSM_ERR_CORRUPTION':
        throw new CorruptionError(reply.message, reply.file, reply.offset);
      case 'LSM_ERR_IO':
        throw new IoError(reply.message);
      default:
        throw new JobFailedError(`${job.kind} job failed: ${reply.code}: ${reply.message}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }
}
