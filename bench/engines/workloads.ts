/**
 * The rows of the side-by-side benchmark, in table order: what each measures, its unit and which
 * direction is better. The child (child.ts) measures them; the parent (../engines.bench.ts) prints,
 * charts and stores them under these ids.
 */

export interface Workload {
  id: WorkloadId;
  label: string;
  unit: 'ops/s' | 'entries/s' | 's' | 'x' | 'MiB' | 'ms';
  /** true for throughput; false for seconds, amplification, memory and event-loop delay. */
  higherIsBetter: boolean;
}

export const WORKLOADS = [
  { id: 'put', label: 'put, awaited (ops/s)', unit: 'ops/s', higherIsBetter: true },
  { id: 'fill', label: 'fill, batch 1000 (ops/s)', unit: 'ops/s', higherIsBetter: true },
  { id: 'overwrite', label: 'overwrite, batch 1000 (ops/s)', unit: 'ops/s', higherIsBetter: true },
  { id: 'get', label: 'get, 32 in flight (ops/s)', unit: 'ops/s', higherIsBetter: true },
  { id: 'getSync', label: 'get, synchronous (ops/s)', unit: 'ops/s', higherIsBetter: true },
  { id: 'scan', label: 'full scan (entries/s)', unit: 'entries/s', higherIsBetter: true },
  { id: 'putSynced', label: 'synced put (ops/s)', unit: 'ops/s', higherIsBetter: true },
  { id: 'compact', label: 'compact() after fill (s)', unit: 's', higherIsBetter: false },
  { id: 'writeAmp', label: 'write amplification (x)', unit: 'x', higherIsBetter: false },
  { id: 'rss', label: 'peak RSS (MiB)', unit: 'MiB', higherIsBetter: false },
  { id: 'loopCompactP99', label: 'event-loop p99 in compact() (ms)', unit: 'ms', higherIsBetter: false },
  { id: 'loopCompactMax', label: 'event-loop max in compact() (ms)', unit: 'ms', higherIsBetter: false },
  { id: 'loopWriteP99', label: 'event-loop p99 in fill+overwrite (ms)', unit: 'ms', higherIsBetter: false },
  { id: 'loopWriteMax', label: 'event-loop max in fill+overwrite (ms)', unit: 'ms', higherIsBetter: false },
] as const satisfies ReadonlyArray<{ id: string; label: string; unit: Workload['unit']; higherIsBetter: boolean }>;

export type WorkloadId = (typeof WORKLOADS)[number]['id'];

/** One child's measurements: a number per workload, or the reason it has none. */
export type ChildResult = Record<WorkloadId, number | { na: string }>;

/** What one child measured, as it reports it to the parent. */
export interface ChildReport {
  result: ChildResult;
  /** How the writeAmp cell was measured. */
  writeAmpSource: string;
  /**
   * Bytes handed to write(2) and friends (/proc/self/io wchar) over the same phases, / user bytes;
   * unlike write_bytes it counts a page rewritten before writeback each time. Undefined off Linux.
   */
  writeCallAmp: number | undefined;
}

/** Messages a child sends its parent over the IPC channel. */
export type ChildMessage = { kind: 'phase'; phase: string } | ({ kind: 'result' } & ChildReport);

/** Phases a child announces, in order (the parent's progress bar counts them). */
export const PHASES = ['put', 'fill', 'overwrite', 'compact', 'get', 'getSync', 'scan', 'putSynced'] as const;
