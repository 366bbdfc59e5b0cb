/**
 * Which runner a tree's flush and compaction jobs use (the JobRunner interface is in jobs.ts):
 * inline on the main thread, or a worker pool when the tree asks for one (workerPool) and the
 * file system's files are reachable by path from worker threads (FileSystem.reachableFromWorkers;
 * a worker has no access to another thread's objects, such as the crashable in-memory one).
 *
 * The pool lives in src/pool, above this layer, so src/lsm never imports it. It is injected:
 * explicitly per tree (LsmTreeOptions.jobPool), or process-wide through setDefaultJobPool(),
 * which the composition roots call (the package entries src/index.ts and src/level/index.ts).
 * A default rather than only the option, so `LsmTree.open(dir)` from the package keeps running
 * its jobs in the shared pool without every caller naming it.
 */
import type { HotPaths } from '../engine/types.js';
import type { FileSystem } from './fs.js';
import { runJob, type Job, type JobPoolFactory, type JobResult, type JobRunner } from './jobs.js';
import type { ResolvedOptions } from './options.js';

/** Runs each job on the main thread, in a later turn of the event loop than the one that asked. */
export class InlineJobRunner implements JobRunner {
  readonly kind = 'inline';
  readonly liveWorkers = 1;
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
          // Handed to the caller whole: it records typed errors and rethrows assertion failures.
          reject(err);
        }
      });
    });
  }

  async close(): Promise<void> {}
}

let defaultJobPool: JobPoolFactory | undefined;

/** Sets the pool trees use when their options name none (undefined: inline unless named). */
export function setDefaultJobPool(factory: JobPoolFactory | undefined): void {
  defaultJobPool = factory;
}

/** The pool set by setDefaultJobPool(), if any. */
export function getDefaultJobPool(): JobPoolFactory | undefined {
  return defaultJobPool;
}

/** The pool when it is enabled, available and reachable by the file system; inline otherwise. */
export async function createJobRunner(options: ResolvedOptions, fs: FileSystem, engine: HotPaths): Promise<JobRunner> {
  const factory = options.jobPool ?? defaultJobPool;
  if (options.workerPool === false || factory === undefined || !fs.reachableFromWorkers) return new InlineJobRunner(fs, engine);
  return factory(engine, options.workerPool);
}
