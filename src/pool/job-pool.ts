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
import { JobFailedError, LsmraftError } from '../errors.js';
import { flushTransferables, type Job, type JobPoolFactory, type JobPoolSize, type JobResult, type JobRunner } from '../lsm/jobs.js';
import { errorFromData } from './job-error.js';
import type { PoolReply, PoolTask } from './worker.js';

/** The worker module: compiled JS in a build, or the tsx loader when running from sources. */
function workerFilename(): string {
  const here = import.meta.url;
  return new URL(here.endsWith('.ts') ? './worker-tsx.mjs' : './worker.js', here).href;
}

export type JobPoolOptions = JobPoolSize;

/**
 * A piscina pool and the number of open job runners using it. The pool (and its first worker
 * thread) is made at the first job, not when a tree opens: a tree that is only read, or written
 * below a memtable (a short-lived tree, a test, a store taking a few synced puts), starts no thread,
 * and a thread starting at open no longer competes with the first writes for the CPU.
 */
interface PoolHandle {
  piscina: Piscina<PoolTask, PoolReply> | undefined;
  readonly options: JobPoolOptions;
  users: number;
  key: string | undefined;
}

/**
 * Pools shared by the trees of this process, by size. Every open tree has a job runner, and a
 * process may hold many trees (a node holds two, the Level test suite hundreds): one pool of
 * `maxThreads` workers serves them all instead of a pool per tree. The trees stay independent:
 * each job names its tree's directory and engine.
 */
const sharedPools = new Map<string, PoolHandle>();

function createPiscina(options: JobPoolOptions): Piscina<PoolTask, PoolReply> {
  return new Piscina<PoolTask, PoolReply>({
    filename: workerFilename(),
    minThreads: 1,
    maxThreads: options.maxThreads,
    maxQueue: options.maxQueue,
    idleTimeout: 30_000,
  });
}

export class JobPool implements JobRunner {
  readonly kind = 'pool';
  private readonly handle: PoolHandle;
  private closed = false;

  /** A pool of this runner's own; see JobPool.shared() for the process-wide one. */
  constructor(
    private readonly engine: HotPaths,
    options: JobPoolOptions,
    handle?: PoolHandle,
  ) {
    this.handle = handle ?? { piscina: undefined, options, users: 1, key: undefined };
  }

  /** A runner on the process-wide pool of this size (created on first use, destroyed with its last user). */
  static shared(engine: HotPaths, options: JobPoolOptions): JobPool {
    const key = `${options.maxThreads}/${options.maxQueue}`;
    let handle = sharedPools.get(key);
    if (handle === undefined) {
      handle = { piscina: undefined, options, users: 0, key };
      sharedPools.set(key, handle);
    }
    handle.users++;
    return new JobPool(engine, options, handle);
  }

  /** The piscina pool, made at the first job (see PoolHandle). */
  private get pool(): Piscina<PoolTask, PoolReply> {
    return (this.handle.piscina ??= createPiscina(this.handle.options));
  }

  get liveWorkers(): number {
    return this.handle.piscina?.threads.length ?? 0;
  }

  /** The pool's worker threads (none before the first job; replaced when one dies). */
  get workers(): readonly Worker[] {
    return this.handle.piscina?.threads ?? [];
  }

  async run(job: Job): Promise<JobResult> {
    if (this.closed) throw new JobFailedError('job pool is closed');
    // A flush hands over the memtable's run or image: transferred, not copied (it is not used afterwards).
    const transferList = job.kind === 'flush' ? flushTransferables(job) : [];
    let reply: PoolReply;
    try {
      reply = await this.pool.run({ engine: this.engine.name, job }, { transferList: transferList as ArrayBuffer[] });
    } catch (err) {
      if (err instanceof LsmraftError) throw err;
      throw new JobFailedError(`${job.kind} job failed in a worker: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (reply.ok) return reply.result;
    throw errorFromData(reply.error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handle.users--;
    if (this.handle.users > 0) return;
    if (this.handle.key !== undefined) sharedPools.delete(this.handle.key);
    await this.handle.piscina?.destroy();
  }
}

/**
 * The factory trees take as LsmTreeOptions.jobPool (or through setDefaultJobPool): each tree gets
 * a runner on the process-wide pool of its size.
 */
export const sharedJobPool: JobPoolFactory = (engine, size) => JobPool.shared(engine, size);
