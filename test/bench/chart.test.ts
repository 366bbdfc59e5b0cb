/**
 * bench/chart.ts layout: a long group label starts inside the figure, a linear axis steps at round
 * values, and a single series draws no legend.
 */
import { describe, expect, it } from 'vitest';
import { barChartSvg, linearTicks } from '../../bench/chart.js';

describe('bench/chart.ts', () => {
  it('starts the plot right of the longest group label, so the label is not cut at the left edge', () => {
    const label = 'insert 5000 entries into a new memtable, then some more words';
    const svg = barChartSvg({ title: 't', unit: 'u', series: ['a', 'b'], groups: [{ label, values: [1, 2] }] });
    // The label is right-aligned (text-anchor end) at its x; at ~7 px a glyph it must fit left of it.
    const x = Number(new RegExp(`<text x="([0-9.]+)"[^>]*text-anchor="end"[^>]*>${label}<`).exec(svg)![1]);
    expect(x - label.length * 7).toBeGreaterThanOrEqual(0);
    const firstBar = Number(/<rect x="([0-9.]+)" y="[0-9.]+" width="[0-9.]+" height="18"/.exec(svg)![1]);
    expect(firstBar).toBeGreaterThan(x);
  });

  it('steps a linear axis at round values reaching past the largest value', () => {
    expect(linearTicks(12.18)).toEqual([0, 5, 10, 15]);
    expect(linearTicks(8.52)).toEqual([0, 2.5, 5, 7.5, 10]);
    expect(linearTicks(1)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(linearTicks(77)).toEqual([0, 20, 40, 60, 80]);
  });

  it('draws a legend only for more than one series', () => {
    const one = barChartSvg({ title: 't', unit: 'u', series: ['only'], groups: [{ label: 'g', values: [1] }] });
    expect(one).not.toContain('>only</text>');
    const two = barChartSvg({ title: 't', unit: 'u', series: ['a', 'b'], groups: [{ label: 'g', values: [1, 2] }] });
    expect(two).toContain('>a</text>');
  });
});
