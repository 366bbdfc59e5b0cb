/**
 * lsmraft's performance goals against the other stores, judged on the medians of one run of the
 * side-by-side benchmark: each goal is a ratio of medians (or one median) against a bound, and
 * comes out met, missed, or n/a when a cell it needs has no number. The goals are set for a run of
 * GOAL_KEYS_COUNT keys; a smaller run still prints them, as a trend.
 */
import type { EngineId } from './engine.js';
import type { Cells } from './report.js';
import type { WorkloadId } from './workloads.js';

/** The size of run the goals are set for. */
export const GOAL_KEYS_COUNT = 1_000_000;

/** The store the goals are about: lsmraft with its default twin. */
const SUBJECT: EngineId = 'lsmraft-wasm';

/** A median of the subject over medians of others, or an absolute bound on one of its medians. */
interface Goal {
  /** How the goal reads, e.g. "fill >= 1.5x best(classic-level, rocksdb-native)". */
  text: string;
  /** The measured figure (a ratio, or the median itself for an absolute goal); undefined if a cell has no number. */
  measure: (m: (workload: WorkloadId, engine: EngineId) => number | undefined) => number | undefined;
  bound: number;
  /** 'atLeast': met when measure >= bound; 'atMost': met when measure <= bound. */
  sense: 'atLeast' | 'atMost';
  /** How the figure prints: a ratio "0.63x" or a value with a unit "12.0 ms". */
  unit: 'x' | 'ms';
}

export interface GoalVerdict {
  goal: string;
  /** The measured ratio or value; absent when a cell it needs has no number. */
  measured?: number;
  unit: 'x' | 'ms';
  /** The bound the figure is judged against. */
  bound: number;
  status: 'met' | 'missed' | 'n/a';
  /** Why the verdict is n/a. */
  note?: string;
}

/** a / b with both defined and b > 0, else undefined. */
function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || !(b > 0) ? undefined : a / b;
}

/** The largest of the defined values, undefined if none. */
function best(...values: Array<number | undefined>): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : Math.max(...defined);
}

/** A rate of the subject over the best rate of `others`, at least `bound`. */
function rateOverBest(workload: WorkloadId, text: string, bound: number, others: readonly EngineId[]): Goal {
  return { text, bound, sense: 'atLeast', unit: 'x', measure: (m) => ratio(m(workload, SUBJECT), best(...others.map((e) => m(workload, e)))) };
}

const GOALS: readonly Goal[] = [
  {
    text: 'WASM compact() >= 2.5x JS (seconds of lsmraft js over lsmraft wasm)',
    bound: 2.5,
    sense: 'atLeast',
    unit: 'x',
    measure: (m) => ratio(m('compact', 'lsmraft-js'), m('compact', SUBJECT)),
  },
  {
    text: 'compact() no slower than rocksdb-native (its seconds over ours)',
    bound: 1,
    sense: 'atLeast',
    unit: 'x',
    measure: (m) => ratio(m('compact', 'rocksdb-native'), m('compact', SUBJECT)),
  },
  rateOverBest('fill', 'fill, batch 1000 >= 1.5x best(classic-level, rocksdb-native)', 1.5, ['classic-level', 'rocksdb-native']),
  rateOverBest('overwrite', 'overwrite, batch 1000 >= 1.5x best(classic-level, rocksdb-native)', 1.5, ['classic-level', 'rocksdb-native']),
  rateOverBest('getSync', 'get, synchronous >= classic-level', 1, ['classic-level']),
  rateOverBest('getSync', 'get, synchronous >= 0.8x lmdb', 0.8, ['lmdb']),
  rateOverBest('get', 'get, 32 in flight >= classic-level', 1, ['classic-level']),
  rateOverBest('get', 'get, 32 in flight >= 0.8x lmdb', 0.8, ['lmdb']),
  rateOverBest('put', 'put, awaited >= 4x classic-level', 4, ['classic-level']),
  rateOverBest('scan', 'full scan >= lmdb', 1, ['lmdb']),
  rateOverBest('putSynced', 'synced put >= classic-level', 1, ['classic-level']),
  {
    text: 'peak RSS <= 2x classic-level',
    bound: 2,
    sense: 'atMost',
    unit: 'x',
    measure: (m) => ratio(m('rss', SUBJECT), m('rss', 'classic-level')),
  },
  {
    text: "write amplification <= rocksdb-native's",
    bound: 1,
    sense: 'atMost',
    unit: 'x',
    measure: (m) => ratio(m('writeAmp', SUBJECT), m('writeAmp', 'rocksdb-native')),
  },
  { text: 'event-loop p99 in compact() <= 10 ms', bound: 10, sense: 'atMost', unit: 'ms', measure: (m) => m('loopCompactP99', SUBJECT) },
  {
    text: 'event-loop p99 in fill+overwrite (background compactions) <= 10 ms',
    bound: 10,
    sense: 'atMost',
    unit: 'ms',
    measure: (m) => m('loopWriteP99', SUBJECT),
  },
];

/** Goals this benchmark cannot judge, and where they are measured. */
const GOALS_ELSEWHERE: ReadonlyArray<{ goal: string; note: string }> = [
  {
    goal: 'peak RSS of a 4M-key compact() <= 64 MiB + block cache + memtables of the same run at 0.5M keys',
    note: 'measured by npm run bench:compact-memory',
  },
];

/** Every goal judged on the medians of `cells`, in the order above. */
export function judgeGoals(cells: Cells): GoalVerdict[] {
  const m = (workload: WorkloadId, engine: EngineId): number | undefined => {
    const c = cells[workload]?.[engine];
    return c === undefined || 'na' in c ? undefined : c.median;
  };
  const verdicts: GoalVerdict[] = GOALS.map((g) => {
    const measured = g.measure(m);
    if (measured === undefined) return { goal: g.text, unit: g.unit, bound: g.bound, status: 'n/a', note: 'a cell it needs has no number' };
    const met = g.sense === 'atLeast' ? measured >= g.bound : measured <= g.bound;
    return { goal: g.text, measured, unit: g.unit, bound: g.bound, status: met ? 'met' : 'missed' };
  });
  for (const g of GOALS_ELSEWHERE) verdicts.push({ goal: g.goal, unit: 'x', bound: 1, status: 'n/a', note: g.note });
  return verdicts;
}

/**
 * A ratio with two decimals, or more when two would print the bound itself for a ratio that is not
 * it: 1.525 / 1.52 prints "1.003", not a "1.00" judged missed.
 */
function ratioText(measured: number, bound: number): string {
  let digits = 2;
  while (digits < 4 && measured !== bound && Number(measured.toFixed(digits)) === bound) digits++;
  return measured.toFixed(digits);
}

/** One line per goal, "goal: 0.63x, missed", for the console and the markdown report. */
export function goalLines(verdicts: readonly GoalVerdict[]): string[] {
  return verdicts.map((v) => {
    if (v.measured === undefined) return `${v.goal}: n/a (${v.note ?? 'not measured'})`;
    const figure = v.unit === 'x' ? `${ratioText(v.measured, v.bound)}x` : `${v.measured.toFixed(1)} ms`;
    return `${v.goal}: ${figure}, ${v.status}`;
  });
}
