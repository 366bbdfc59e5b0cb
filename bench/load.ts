/**
 * A closed-loop load generator, after etcd's tools/benchmark: `concurrency` workers each issue one
 * operation, wait for its answer, issue the next, until the deadline; throughput counts answered
 * operations, latency percentiles come from every answered one. An operation that fails with an
 * error the caller expects (`expected`) counts as an error; any other error stops the run.
 */

export interface LoadResult {
  concurrency: number;
  /** Answered operations. */
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** The messages of the first errors (at most errorSamplesMax), to say what failed. */
  errorSamples: string[];
}

/** Error messages kept per run. */
const errorSamplesMax = 3;

/** The p-th percentile (0..100) of ascending `sorted`, NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `op(worker, i)` from `concurrency` workers for durationMs. */
export async function closedLoop(concurrency: number, durationMs: number, op: (worker: number, i: number) => Promise<unknown>, expected: (e: unknown) => boolean): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const errorSamples: string[] = [];
  const startMs = Date.now();
  const endMs = startMs + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      // Bounded by the deadline; each pass is one operation.
      for (let i = 0; Date.now() < endMs; i++) {
        const t0 = performance.now();
        try {
          await op(w, i);
          latencies.push(performance.now() - t0);
        } catch (e) {
          if (!expected(e)) throw e;
          errors++;
          if (errorSamples.length < errorSamplesMax) errorSamples.push(e instanceof Error ? e.message : String(e));
        }
      }
    }),
  );
  const elapsedS = (Date.now() - startMs) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    concurrency,
    ops: latencies.length,
    opsPerSec: Math.round(latencies.length / elapsedS),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
    errors,
    errorSamples,
  };
}
