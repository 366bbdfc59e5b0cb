/**
 * The knobs of the side-by-side benchmark, read from the environment once, shared by the parent
 * (../engines.bench.ts) and its children (child.ts), which inherit the parent's environment.
 */

function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const v = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${raw}`);
  return v;
}

/** Keys written by each write workload and read by each read workload. */
export const KEYS_COUNT = intFromEnv('BENCH_KEYS', 1_000_000, 1000);
/**
 * Operations timed by the one-at-a-time workloads (awaited put, get with 32 in flight, synchronous
 * get), at most KEYS_COUNT: the gets read random keys of the full KEYS_COUNT-key store and the
 * awaited puts write keys drawn from the whole key space, so a smaller count times the same
 * per-operation work over a shorter run (those three are most of a run's time). The fill,
 * overwrite, compact(), scan, write amplification and RSS always cover KEYS_COUNT keys.
 */
export const TIMED_OPS_COUNT = Math.min(KEYS_COUNT, intFromEnv('BENCH_TIMED_OPS', KEYS_COUNT, 1000));
/** Puts of the synced-put workload (each waits for an fsync, so far fewer). */
export const SYNC_KEYS_COUNT = intFromEnv('BENCH_SYNC_KEYS', 2000, 10);
/** Child processes per engine; the table shows the median and the spread min..max. */
export const REPEATS_COUNT = intFromEnv('BENCH_REPEATS', 4, 1);
export const KEY_BYTES = 16;
export const VALUE_BYTES = 100;
/** Puts per batch in the fill and overwrite workloads. */
export const BATCH_OPS = 1000;
/** Gets awaited together in the "32 in flight" workload. */
export const GETS_IN_FLIGHT = 32;
/** Distinct random values cycled through by the writes (6.5 MB, the same in every child). */
export const VALUE_POOL_COUNT = 65536;
