/**
 * A small SVG writer for benchmark figures: one horizontal grouped bar chart, a group per workload
 * and a bar per series (store). Two scales: log10 (the default), so that puts (10^4..10^5 ops/s)
 * and scans (10^6..10^7 entries/s) share one figure; or linear from 0, for values already
 * normalized (say, to the best store = 1.0), each bar then labelled with its own text. Plain SVG
 * 1.1, no scripts, no external fonts, so it renders the same in a browser, on GitHub and in an
 * image viewer. Long subtitles wrap, the legend wraps onto more rows and the plot starts right of
 * the longest group label, so nothing is clipped at the figure's edge. (The layout follows the
 * grouped-bar idea of any plotting library; the code is ours.)
 */

export interface BarGroup {
  label: string;
  /** One value per series, in `series` order; NaN or <= 0 draws no bar (the label says "n/a"). */
  values: number[];
  /** Text beside each bar, in `series` order; default: the value, shortened (formatSi). */
  barLabels?: string[];
}

export interface BarChart {
  title: string;
  /** Shown under the title, wrapped to the figure's width; '\n' starts a new line. */
  subtitle?: string;
  /** Unit of the values, shown on the axis ("ops/s"). */
  unit: string;
  series: string[];
  groups: BarGroup[];
  /** 'log' (default): decades; 'linear': from 0 past the largest value, ticks at round steps (1, 2, 2.5 or 5 x 10^k). */
  scale?: 'log' | 'linear';
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];
const WIDTH_PX = 960;
const LABEL_WIDTH_PX = 250;
const VALUE_LABEL_WIDTH_PX = 170;
const BAR_HEIGHT_PX = 18;
const BAR_GAP_PX = 3;
const GROUP_GAP_PX = 16;
const TITLE_HEIGHT_PX = 40;
const LINE_HEIGHT_PX = 16;
const LEGEND_ROW_HEIGHT_PX = 22;
const AXIS_HEIGHT_PX = 46;
const MARGIN_PX = 16;
/** Average advance of a 12 px Helvetica/Arial glyph, for wrapping without measuring text. */
const CHAR_WIDTH_PX = 7;
/** The same for the bold group labels, with room for wide glyphs, so a long label is not cut at the left edge. */
const BOLD_CHAR_WIDTH_PX = 7.6;

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

/** Ticks of a linear axis from 0: about four round steps (1, 2, 2.5 or 5 x 10^k) reaching past `max`. */
export function linearTicks(max: number): number[] {
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const count = Math.ceil(max / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => i * step);
}

/** `text` cut into lines of at most `maxChars` characters at spaces ('\n' forces a break). */
function wrap(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line.length > 0 && line.length + 1 + word.length > maxChars) {
        lines.push(line);
        line = word;
      } else line = line.length === 0 ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines;
}

/** The x of each legend entry and its row, wrapping when the next entry would pass the right edge. */
function legendLayout(series: string[], left: number): Array<{ x: number; row: number }> {
  const out: Array<{ x: number; row: number }> = [];
  let x = left;
  let row = 0;
  for (const name of series) {
    const w = 30 + name.length * CHAR_WIDTH_PX;
    if (x > left && x + w > WIDTH_PX - MARGIN_PX) {
      x = left;
      row++;
    }
    out.push({ x, row });
    x += w;
  }
  return out;
}

/** The chart as an SVG document. */
export function barChartSvg(chart: BarChart): string {
  const seriesCount = chart.series.length;
  const linear = chart.scale === 'linear';
  const drawable = chart.groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v) && v > 0);
  // The plot starts right of the longest group label (at least LABEL_WIDTH_PX).
  const longestLabel = Math.max(0, ...chart.groups.map((g) => g.label.length));
  const plotLeft = Math.max(LABEL_WIDTH_PX, Math.ceil(MARGIN_PX + longestLabel * BOLD_CHAR_WIDTH_PX + 10));
  const plotWidth = WIDTH_PX - plotLeft - VALUE_LABEL_WIDTH_PX;
  // Log: from the decade below the smallest value to the decade above the largest. Linear: 0..max.
  const lowExp = drawable.length === 0 ? 0 : Math.floor(Math.log10(Math.min(...drawable)));
  const highExp = drawable.length === 0 ? 1 : Math.max(lowExp + 1, Math.ceil(Math.log10(Math.max(...drawable))));
  const linearTickValues = linearTicks(drawable.length === 0 ? 1 : Math.max(...drawable));
  const linearMax = linearTickValues[linearTickValues.length - 1]!;
  const x = linear
    ? (v: number): number => plotLeft + (v / linearMax) * plotWidth
    : (v: number): number => plotLeft + ((Math.log10(v) - lowExp) / (highExp - lowExp)) * plotWidth;

  const subtitleLines = chart.subtitle === undefined ? [] : wrap(chart.subtitle, Math.floor((WIDTH_PX - 2 * MARGIN_PX) / CHAR_WIDTH_PX));
  // One series needs no legend: the title and the unit name it.
  const legend = seriesCount > 1 ? legendLayout(chart.series, plotLeft) : [];
  const legendRows = legend.length === 0 ? 0 : legend[legend.length - 1]!.row + 1;
  const legendTop = TITLE_HEIGHT_PX + subtitleLines.length * LINE_HEIGHT_PX + 8;
  const groupHeight = seriesCount * (BAR_HEIGHT_PX + BAR_GAP_PX);
  const plotTop = legendTop + legendRows * LEGEND_ROW_HEIGHT_PX + 8;
  const plotHeight = chart.groups.length * (groupHeight + GROUP_GAP_PX);
  const height = plotTop + plotHeight + AXIS_HEIGHT_PX;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH_PX}" height="${height}" viewBox="0 0 ${WIDTH_PX} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH_PX}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${MARGIN_PX}" y="28" font-size="18" font-weight="bold">${escapeXml(chart.title)}</text>`);
  subtitleLines.forEach((line, i) => out.push(`<text x="${MARGIN_PX}" y="${TITLE_HEIGHT_PX + 10 + i * LINE_HEIGHT_PX}" fill="#555">${escapeXml(line)}</text>`));
  legend.forEach(({ x: lx, row }, s) => {
    const y = legendTop + row * LEGEND_ROW_HEIGHT_PX;
    out.push(`<rect x="${lx}" y="${y + 4}" width="14" height="14" fill="${PALETTE[s % PALETTE.length]}"/>`);
    out.push(`<text x="${lx + 20}" y="${y + 16}">${escapeXml(chart.series[s]!)}</text>`);
  });
  // Grid lines and axis labels: decades, or round steps of the linear range.
  const ticks = linear ? linearTickValues : Array.from({ length: highExp - lowExp + 1 }, (_, i) => 10 ** (lowExp + i));
  for (const t of ticks) {
    const gx = x(t).toFixed(1);
    const label = linear ? t.toLocaleString('en-US', { maximumFractionDigits: 3 }) : formatSi(t);
    out.push(`<line x1="${gx}" y1="${plotTop - 4}" x2="${gx}" y2="${plotTop + plotHeight}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${plotTop + plotHeight + 16}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  out.push(`<text x="${plotLeft + plotWidth / 2}" y="${plotTop + plotHeight + 34}" text-anchor="middle" fill="#555">${escapeXml(chart.unit)}${linear ? '' : ' (log scale)'}</text>`);
  // Bars.
  chart.groups.forEach((group, gi) => {
    const top = plotTop + gi * (groupHeight + GROUP_GAP_PX);
    out.push(`<text x="${plotLeft - 10}" y="${(top + groupHeight / 2 + 4).toFixed(1)}" text-anchor="end" font-weight="bold">${escapeXml(group.label)}</text>`);
    for (let s = 0; s < seriesCount; s++) {
      const v = group.values[s] ?? NaN;
      const y = top + s * (BAR_HEIGHT_PX + BAR_GAP_PX);
      const ok = Number.isFinite(v) && v > 0;
      const w = ok ? Math.max(1, x(v) - plotLeft) : 0;
      const text = group.barLabels?.[s] ?? formatSi(v);
      if (ok) out.push(`<rect x="${plotLeft}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT_PX}" fill="${PALETTE[s % PALETTE.length]}"><title>${escapeXml(`${chart.series[s]}: ${text}`)}</title></rect>`);
      out.push(`<text x="${(plotLeft + w + 6).toFixed(1)}" y="${y + BAR_HEIGHT_PX - 5}" fill="#333">${escapeXml(text)}</text>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
