/**
 * A small SVG writer for benchmark figures: one horizontal grouped bar chart, a group per workload
 * and a bar per series (store), on a log10 axis so that puts (10^4..10^5 ops/s) and scans
 * (10^6..10^7 entries/s) share one figure. Plain SVG 1.1, no scripts, no external fonts, so it
 * renders the same in a browser, on GitHub and in an image viewer. (The layout follows the
 * grouped-bar idea of any plotting library; the code is ours.)
 */

export interface BarGroup {
  label: string;
  /** One value per series, in `series` order; NaN or <= 0 draws no bar (the label says "n/a"). */
  values: number[];
}

export interface BarChart {
  title: string;
  subtitle?: string;
  /** Unit of the values, shown on the axis ("ops/s"). */
  unit: string;
  series: string[];
  groups: BarGroup[];
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];
const WIDTH_PX = 960;
const LABEL_WIDTH_PX = 250;
const VALUE_LABEL_WIDTH_PX = 110;
const BAR_HEIGHT_PX = 18;
const BAR_GAP_PX = 3;
const GROUP_GAP_PX = 16;
const HEADER_HEIGHT_PX = 70;
const LEGEND_HEIGHT_PX = 30;
const AXIS_HEIGHT_PX = 30;

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1234567 -> "1.23M": short axis and bar labels. */
export function formatSi(v: number): string {
  if (!Number.isFinite(v) || v <= 0) return 'n/a';
  const units: Array<[number, string]> = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, suffix] of units) if (v >= scale) return `${(v / scale).toPrecision(3)}${suffix}`;
  return v.toPrecision(3);
}

/** The chart as an SVG document. */
export function barChartSvg(chart: BarChart): string {
  const seriesCount = chart.series.length;
  const drawable = chart.groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v) && v > 0);
  // Axis from the decade below the smallest value to the decade above the largest.
  const lowExp = drawable.length === 0 ? 0 : Math.floor(Math.log10(Math.min(...drawable)));
  const highExp = drawable.length === 0 ? 1 : Math.max(lowExp + 1, Math.ceil(Math.log10(Math.max(...drawable))));
  const plotLeft = LABEL_WIDTH_PX;
  const plotWidth = WIDTH_PX - LABEL_WIDTH_PX - VALUE_LABEL_WIDTH_PX;
  const x = (v: number): number => plotLeft + ((Math.log10(v) - lowExp) / (highExp - lowExp)) * plotWidth;
  const groupHeight = seriesCount * (BAR_HEIGHT_PX + BAR_GAP_PX);
  const plotTop = HEADER_HEIGHT_PX + LEGEND_HEIGHT_PX;
  const plotHeight = chart.groups.length * (groupHeight + GROUP_GAP_PX);
  const height = plotTop + plotHeight + AXIS_HEIGHT_PX;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH_PX}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="16" y="28" font-size="18" font-weight="bold">${escapeXml(chart.title)}</text>`);
  if (chart.subtitle !== undefined) out.push(`<text x="16" y="50" fill="#555">${escapeXml(chart.subtitle)}</text>`);
  // Legend.
  let legendX = plotLeft;
  for (let s = 0; s < seriesCount; s++) {
    const name = chart.series[s]!;
    out.push(`<rect x="${legendX}" y="${HEADER_HEIGHT_PX + 4}" width="14" height="14" fill="${PALETTE[s % PALETTE.length]}"/>`);
    out.push(`<text x="${legendX + 20}" y="${HEADER_HEIGHT_PX + 16}">${escapeXml(name)}</text>`);
    legendX += 30 + name.length * 7;
  }
  // Decade grid lines and axis labels.
  for (let e = lowExp; e <= highExp; e++) {
    const gx = x(10 ** e).toFixed(1);
    out.push(`<line x1="${gx}" y1="${plotTop - 4}" x2="${gx}" y2="${plotTop + plotHeight}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${plotTop + plotHeight + 16}" text-anchor="middle" fill="#555">${formatSi(10 ** e)}</text>`);
  }
  out.push(`<text x="${plotLeft + plotWidth}" y="${plotTop + plotHeight + 28}" text-anchor="end" fill="#555">${escapeXml(chart.unit)} (log scale)</text>`);
  // Bars.
  chart.groups.forEach((group, gi) => {
    const top = plotTop + gi * (groupHeight + GROUP_GAP_PX);
    out.push(`<text x="${plotLeft - 10}" y="${(top + groupHeight / 2 + 4).toFixed(1)}" text-anchor="end" font-weight="bold">${escapeXml(group.label)}</text>`);
    for (let s = 0; s < seriesCount; s++) {
      const v = group.values[s] ?? NaN;
      const y = top + s * (BAR_HEIGHT_PX + BAR_GAP_PX);
      const ok = Number.isFinite(v) && v > 0;
      const w = ok ? Math.max(1, x(v) - plotLeft) : 0;
      if (ok) out.push(`<rect x="${plotLeft}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT_PX}" fill="${PALETTE[s % PALETTE.length]}"><title>${escapeXml(`${chart.series[s]}: ${Math.round(v)} ${chart.unit}`)}</title></rect>`);
      out.push(`<text x="${(plotLeft + w + 6).toFixed(1)}" y="${y + BAR_HEIGHT_PX - 5}" fill="#333">${formatSi(v)}</text>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
