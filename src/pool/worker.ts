/**
 * The worker side of the job pool: one piscina worker thread runs one job at a time, whole
 * (src/lsm/jobs.ts), with its own hot-path engine instance (for 'wasm', its own WebAssembly memory)
 * and the real file system. It returns only the new tables' metadata.
 *
 * Errors cross the thread boundary as plain data (src/pool/job-error.ts): structured clone keeps an
 * Error's message but not its class, `code` or cause, and the pool turns them back into typed errors.
 */
import type { EngineName, HotPaths } from '../engine/types.js';
import { loadEngine } from '../engine/index.js';
import { LsmraftError } from '../errors.js';
import { runJob, type Job, type JobResult } from '../lsm/jobs.js';
import { errorToData, type ErrorData } from './job-error.js';
import { nodeFileSystem } from '../lsm/node-fs.js';

export interface PoolTask {
  engine: EngineName;
  job: Job;
}

export type PoolReply = { ok: true; result: JobResult } | { ok: false; error: ErrorData };

const engines = new Map<EngineName, Promise<HotPaths>>();

function engineFor(name: EngineName): Promise<HotPaths> {
  let engine = engines.get(name);
  if (engine === undefined) {
    engine = loadEngine(name);
    engines.set(name, engine);
  }
  return engine;
}

export default async function runPoolTask(task: PoolTask): Promise<PoolReply> {
  try {
    const engine = await engineFor(task.engine);
    return { ok: true, result: runJob(nodeFileSystem, engine, task.job) };
  } catch (err) {
    if (err instanceof LsmraftError) return { ok: false, error: errorToData(err) };
    // Anything else is a bug (an assertion failure included): let it fail the task loudly.
    throw err;
  }
}
