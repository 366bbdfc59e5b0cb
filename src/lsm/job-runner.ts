/**
 * Where flush and compaction jobs run: in the piscina worker pool (src/pool), or inline on the
 * calling thread. Both run the same function (src/lsm/jobs.ts) over the same inputs, so the choice
 * changes which thread does the work, never the bytes written.
 */
import type { HotPaths } from '../engine/types.js';
import type { FileSystem } from './fs.js';
import { NodeFileSystem } from './node-fs.js';
import { runJob, type Job, type JobResult } from './jobs.js';
import type { ResolvedOptions } from './options.js';

export interface JobRunner {
  readonly kind: 'inline' | 'pool';
  run(job: Job): Promise<JobResult>;
  close(): Promise<void>;
}

/** Runs each job on the main thread, in a later turn of the event loop than the one that asked. */
export class InlineJobRunner implements JobRunner {
  readonly kind = 'inline';
  constructor(
    private readonly fs: FileSystem,
    private readonly engine: HotPaths,
  ) {}

  run(job: Job): Promise<JobResult> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(runJob(this.fs, this.engine, job));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  async close(): Promise<void> {}
}

/**
 * The pool when it is enabled and the tree uses the real file system (a worker thread has no access
 * to another file system object, such as the crashable in-memory one); inline otherwise.
 */
export async function createJobRunner(options: ResolvedOptions, fs: FileSystem, engine: HotPaths): Promise<JobRunner> {
  if (options.workerPool === false || !(fs instanceof NodeFileSystem)) return new InlineJobRunner(fs, engine);
  const { JobPool } = await import('../pool/job-pool.js');
  return JobPool.shared(engine, options.workerPool);
}
