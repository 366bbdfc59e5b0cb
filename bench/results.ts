/**
 * Where a benchmark leaves its results: bench/results/<name>.json (configuration, machine, every
 * number) and bench/results/<name>.svg (bench/chart.ts), or under BENCH_OUT_DIR when set.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { barChartSvg } from './chart.js';
import type { BarChart } from './chart.js';

export const RESULTS_DIR = process.env.BENCH_OUT_DIR ?? fileURLToPath(new URL('./results', import.meta.url));

/** The machine a run measured: node, platform, cores, load, date. */
export function machine(): Record<string, unknown> {
  return { node: process.version, platform: process.platform, cpus: cpus().length, loadavg: loadavg(), date: new Date().toISOString() };
}

/**
 * Writes `<name>.json` ({ name, config, machine, results }) and, given a chart (or its SVG text),
 * `<name>.svg`; prints where.
 */
export function writeResults(name: string, config: Record<string, unknown>, results: unknown, chart?: BarChart | string): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const jsonPath = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(jsonPath, `${JSON.stringify({ name, config, machine: machine(), results }, null, 2)}\n`);
  if (chart === undefined) {
    console.log(`results written to ${jsonPath}`);
    return;
  }
  const svgPath = join(RESULTS_DIR, `${name}.svg`);
  writeFileSync(svgPath, typeof chart === 'string' ? chart : barChartSvg(chart));
  console.log(`results written to ${jsonPath} and ${svgPath}`);
}
