/**
 * The main thread's event-loop delay while a workload runs: Node's perf_hooks
 * monitorEventLoopDelay, a libuv timer every LOOP_DELAY_RESOLUTION_MS recording how long each turn
 * of the loop really took between two firings (nanoseconds, HdrHistogram). A turn held by
 * synchronous work (a batch insert, a flush's hand-off, a compaction installed, a GC pause) shows
 * as a long interval; an idle loop records about the resolution. The same measurement serves every
 * store: whatever a store runs on its own threads (classic-level's and rocksdb-native's compactions,
 * lsmraft's pool workers) delays the loop only through what it asks of the main thread.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Interval of the sampling timer: fine enough to see a 10 ms stall as such. */
export const LOOP_DELAY_RESOLUTION_MS = 1;

/** What one measured stretch of the loop saw, in milliseconds. */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

/**
 * Runs `body` with a fresh histogram recording. One histogram per stretch: a histogram enabled
 * again after a pause records the pause as one long turn.
 */
export async function measureLoopDelay<T>(body: () => Promise<T>): Promise<{ value: T; delay: LoopDelay }> {
  const h = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  h.enable();
  // The histogram measures each turn from the timer's previous firing, and the first firing has
  // none: a stall right at the start of the body would go unseen. Let it fire first.
  await new Promise<void>((resolve) => setTimeout(resolve, 2 * LOOP_DELAY_RESOLUTION_MS));
  const firingsBefore = h.count;
  const t0 = process.hrtime.bigint();
  let value: T;
  try {
    value = await body();
  } finally {
    h.disable();
  }
  // No firing while the body ran: the loop never turned (the body resolved through microtasks
  // alone), so the one turn was the whole stretch.
  if (h.count === firingsBefore) {
    const wholeMs = Number(process.hrtime.bigint() - t0) / 1e6;
    return { value, delay: { p99Ms: wholeMs, maxMs: wholeMs } };
  }
  return { value, delay: { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 } };
}
