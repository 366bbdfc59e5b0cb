/**
 * The worker side of the job pool: one piscina worker thread runs one job at a time, whole
 * (src/lsm/jobs.ts), with its own hot-path engine instance (for 'wasm', its own WebAssembly memory)
 * and the real file system. It returns only the new tables' metadata.
 *
 * Errors cross the thread boundary as plain data ({ code, message }): structured clone keeps an
 * Error's message but not its class or `code`, and the pool turns them back into typed errors.
 */
import type { EngineName, HotPaths } from '../engine/types.js';
import { loadEngine } from '../engine/index.js';
import { LsmraftError } from '../errors.js';
import { runJob, type Job, type JobResult } from '../lsm/jobs.js';
import { nodeFileSystem } from '../lsm/node-fs.js';

export interface PoolTask {
  engine: EngineName;
  job: Job;
}

export type PoolReply = { ok: true; result: JobResult } | { ok: false; code: string; message: string; file?: string; offset?: number };

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
    if (err instanceof LsmraftError) {
      const where = err as LsmraftError & { file?: string; offset?: number };
      return { ok: false, code: err.code, message: err.message, file: where.file, offset: where.offset };
    }
    // Anything else is a bug (an assertion failure included): let it fail the task loudly.
    throw err;
  }
}
