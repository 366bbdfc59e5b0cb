/**
 * What the side-by-side benchmark hands the reader: the per-cell statistics over repeats (median,
 * min, max), an aligned text table (numbers right-aligned with thousands separators), and the
 * chart of every workload normalized to the best store of its row.
 */
import { barChartSvg, formatSi } from '../chart.js';
import { alignedTable, formatNumber } from '../table.js';
import type { EngineId } from './engine.js';
import { WORKLOADS } from './workloads.js';
import type { ChildResult, Workload, WorkloadId } from './workloads.js';

/** One cell of the results: statistics over the repeats, or why the store has no number. */
export type Cell = { median: number; min: number; max: number; samples: number[] } | { na: string };

export type Cells = Record<WorkloadId, Record<string, Cell>>;

function median(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Folds the children's results (any number of repeats per engine) into cells. */
export function summarize(engines: readonly EngineId[], runs: ReadonlyMap<EngineId, ChildResult[]>): Cells {
  const cells = {} as Cells;
  for (const w of WORKLOADS) {
    cells[w.id] = {};
    for (const e of engines) {
      const results = runs.get(e) ?? [];
      const numbers = results.map((r) => r[w.id]).filter((v): v is number => typeof v === 'number');
      const reason = results.map((r) => r[w.id]).find((v): v is { na: string } => typeof v === 'object');
      if (numbers.length === 0) {
        cells[w.id][e] = { na: reason?.na ?? 'no run finished' };
        continue;
      }
      const sorted = [...numbers].sort((a, b) => a - b);
      cells[w.id][e] = { median: median(sorted), min: sorted[0]!, max: sorted[sorted.length - 1]!, samples: numbers };
    }
  }
  return cells;
}

/** A number as the table shows it: integers for rates and MiB, two decimals for seconds and ratios, one for ms. */
export function formatValue(v: number, unit: Workload['unit']): string {
  return formatNumber(v, unit === 's' || unit === 'x' ? 2 : unit === 'ms' ? 1 : 0);
}

/** The medians table, or with `spread` the min..max table, in the layout | workload | engines… |. */
export function resultsTable(cells: Cells, engines: readonly EngineId[], titles: readonly string[], spread: boolean): string {
  const rows = WORKLOADS.map((w) => [
    w.label,
    ...engines.map((e) => {
      const c = cells[w.id][e]!;
      if ('na' in c) return 'n/a';
      return spread ? `${formatValue(c.min, w.unit)}..${formatValue(c.max, w.unit)}` : formatValue(c.median, w.unit);
    }),
  ]);
  return alignedTable(['workload', ...titles], rows);
}

/**
 * The figure: for each workload, each store's median over the best store's (for rates), or the
 * best over the store's (for seconds, amplification, memory), so the best is 1.0 and a longer bar
 * is better in every row. Each bar is labelled with its raw median.
 */
export function resultsSvg(cells: Cells, engines: readonly EngineId[], titles: readonly string[], subtitle: string): string {
  const groups = WORKLOADS.map((w) => {
    const medians = engines.map((e) => {
      const c = cells[w.id][e]!;
      return 'na' in c ? NaN : c.median;
    });
    const finite = medians.filter((v) => Number.isFinite(v) && v > 0);
    const best = finite.length === 0 ? NaN : w.higherIsBetter ? Math.max(...finite) : Math.min(...finite);
    return {
      label: w.label,
      values: medians.map((v) => (Number.isFinite(v) && v > 0 ? (w.higherIsBetter ? v / best : best / v) : NaN)),
      barLabels: medians.map((v) => (Number.isFinite(v) ? `${(w.higherIsBetter ? v / best : best / v).toFixed(2)} (${w.higherIsBetter ? formatSi(v) : formatValue(v, w.unit)} ${w.unit})` : 'n/a')),
    };
  });
  return barChartSvg({
    title: 'lsmraft against classic-level, lmdb and rocksdb-native',
    subtitle,
    unit: 'relative to the best store of each row (best = 1.0, longer is better)',
    series: [...titles],
    groups,
    scale: 'linear',
  });
}
