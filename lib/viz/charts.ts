/**
 * The figure builders behind `plot.line`, `plot.scatter`, `plot.heatmap`,
 * `plot.histogram`, `plot.bar`, `plot.subplots`: friendly inputs in, a plain
 * plotly {@link Figure} out (its `data`/`layout` are ordinary plotly.js JSON
 * you can edit before showing it).
 */

import type { ColorScale } from "plotly.js";
import { Figure, FigureConfig, FigureData, FigureLayout, figureTitle } from "./figure";
import {
  isTensorLike,
  isValues,
  isNamedValues,
  Labels,
  Matrix,
  NormalSeries,
  range,
  SeriesInput,
  TensorLike,
  toLabels,
  toMatrix,
  toNumbers,
  toSeriesList,
  Values,
} from "./inputs";

/** Options every plot helper takes. */
export interface PlotOptions {
  /** Figure title. */
  title?: string;
  /** x axis title. */
  xLabel?: string;
  /** y axis title. */
  yLabel?: string;
  /** Logarithmic x axis. */
  logX?: boolean;
  /** Logarithmic y axis. */
  logY?: boolean;
  /** Width in pixels (default: the output's width). */
  width?: number;
  /** Height in pixels. */
  height?: number;
  /** Extra plotly layout, merged last (deep for nested objects). */
  layout?: FigureLayout;
  /** Extra plotly config. */
  config?: FigureConfig;
}

/** Options of `plot.line`. */
export interface LineOptions extends PlotOptions {
  /** Draw a marker at each point too. */
  markers?: boolean;
  /**
   * Exponential smoothing weight in [0, 1) (TensorBoard's slider, e.g. 0.9):
   * draws the smoothed curve over a faint raw one. Noisy losses read better.
   */
  smooth?: number;
}

/** Options of `plot.scatter`. */
export interface ScatterOptions extends PlotOptions {
  /** One label per point (single series), shown on hover — and next to the point with `showText`. */
  text?: Labels;
  /** Write `text` next to each point. */
  showText?: boolean;
  /** Marker size in pixels. */
  size?: number;
}

/** Options of `plot.heatmap`. */
export interface HeatmapOptions extends PlotOptions {
  /**
   * Token strings labelling both axes, for self-attention: rows are query
   * positions, columns are key positions. Sets the axis titles to "query" and
   * "key" unless `xLabel`/`yLabel` say otherwise.
   */
  tokens?: Labels;
  /** Column labels (keys); overrides `tokens` on the x axis. */
  x?: Labels;
  /** Row labels (queries); overrides `tokens` on the y axis. */
  y?: Labels;
  /** plotly colour scale; default Viridis for non-negative data, a diverging red-blue centred on 0 otherwise. */
  colorscale?: ColorScale;
  /** Lower end of the colour scale. */
  zmin?: number;
  /** Upper end of the colour scale. */
  zmax?: number;
  /** Write each cell's value in the cell (readable up to ~20×20). */
  showValues?: boolean;
  /** Put the first row at the top, like a printed matrix (default true). */
  rowsTopDown?: boolean;
}

/** Options of `plot.histogram`. */
export interface HistogramOptions extends PlotOptions {
  /** Number of bins (default: √n clamped to 10…100). All series share the same bin edges. */
  bins?: number;
  /** Only count values in [lo, hi] (default: the data's min and max). */
  range?: [number, number];
  /** Normalise so that each series' bars have area 1. */
  density?: boolean;
  /** Bar opacity (default 1 for one series, 0.6 when several overlap). */
  opacity?: number;
}

/** Options of `plot.bar`. */
export interface BarOptions extends PlotOptions {
  /** Horizontal bars (labels on the y axis). */
  horizontal?: boolean;
  /** Stack several series instead of grouping them side by side. */
  stacked?: boolean;
}

/** Options of `plot.subplots`. */
export interface SubplotOptions {
  /** Title above each cell (row-major); defaults to each figure's own title. */
  titles?: Array<string | undefined>;
  /** Title of the whole figure. */
  title?: string;
  /** Width in pixels. */
  width?: number;
  /** Height in pixels (default: 300 per row). */
  height?: number;
  /** Horizontal gap between cells, as a fraction of the width (default 0.08). */
  xGap?: number;
  /** Vertical gap between cells, as a fraction of the height (default 0.12 / rows). */
  yGap?: number;
  /**
   * Heatmaps share one colour scale and colour bar (default true when every
   * trace is a heatmap — e.g. attention heads, so their weights compare).
   */
  sharedColorScale?: boolean;
  /** Show the legend (default: when some trace has a name). */
  showLegend?: boolean;
  /** Extra layout merged last. */
  layout?: FigureLayout;
}

// ---------------------------------------------------------------------------
// shared layout helpers

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v) && !isTensorLike(v);
}

/** Deep merge of plain objects (arrays and other values are replaced). */
export function mergeLayout<T extends Record<string, unknown>>(base: T, extra: Record<string, unknown> | undefined): T {
  if (!extra) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeLayout(out[k] as Record<string, unknown>, v) : v;
  }
  return out as T;
}

function checkOptions(options: unknown, fn: string): void {
  if (options !== undefined && !isPlainObject(options)) {
    throw new Error(`${fn}: options must be an object like { title: "…" }, got ${Array.isArray(options) ? "an array" : typeof options}`);
  }
}

function axis(label: string | undefined, log: boolean | undefined): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  if (label !== undefined) a.title = { text: label };
  if (log) a.type = "log";
  return a;
}

function baseLayout(o: PlotOptions, showLegend: boolean): FigureLayout {
  const layout: FigureLayout = {
    xaxis: axis(o.xLabel, o.logX),
    yaxis: axis(o.yLabel, o.logY),
    margin: { l: 60, r: 20, t: o.title ? 50 : 25, b: 50 },
    showlegend: showLegend,
  };
  if (o.title !== undefined) layout.title = { text: o.title };
  if (o.width !== undefined) layout.width = o.width;
  if (o.height !== undefined) layout.height = o.height;
  return layout;
}

function finish(data: FigureData[], o: PlotOptions, showLegend: boolean, extraLayout: Record<string, unknown> = {}): Figure {
  const layout = mergeLayout(mergeLayout(baseLayout(o, showLegend), extraLayout), o.layout);
  return new Figure(data, layout, o.config ?? {});
}

/** Splits `(input, options?)` from `(x, y, options?)`. */
/** Option names whose values can be arrays: an object with one of them is options, not named series. */
const ARRAY_OPTION_KEYS = ["text"];

function splitArgs<O>(input: unknown, second: unknown, third: unknown, fn: string): { x: unknown; y: unknown; options: O } {
  const namedSeries = isValues(input) && isNamedValues(second) && !ARRAY_OPTION_KEYS.some((k) => k in (second as object));
  if (isValues(second) || namedSeries) {
    checkOptions(third, fn);
    return { x: input, y: second, options: (third ?? {}) as O };
  }
  checkOptions(second, fn);
  return { x: input, y: undefined, options: (second ?? {}) as O };
}

// ---------------------------------------------------------------------------
// line and scatter

/** TensorBoard-style debiased exponential moving average; gaps stay gaps. */
export function smoothValues(y: Array<number | null>, weight: number): Array<number | null> {
  if (!(weight >= 0 && weight < 1)) throw new Error(`plot.line: smooth must be in [0, 1), got ${weight}`);
  let avg = 0;
  let n = 0;
  return y.map((v) => {
    if (v === null) return null;
    avg = weight * avg + (1 - weight) * v;
    n += 1;
    return avg / (1 - Math.pow(weight, n));
  });
}

function seriesTraces(series: NormalSeries[], mode: string, extra: (s: NormalSeries, i: number) => Record<string, unknown> = () => ({})): FigureData[] {
  return series.map((s, i) => {
    const trace: Record<string, unknown> = { type: "scatter", mode, x: s.x, y: s.y, ...extra(s, i) };
    if (s.name !== undefined) trace.name = s.name;
    return trace as FigureData;
  });
}

/**
 * A line chart. `plot.line(losses)`, `plot.line(steps, losses)`,
 * `plot.line(steps, {train: a, val: b})` (named series sharing x),
 * `plot.line({x: steps, y: losses})`, `plot.line({train: a, val: {x, y}})`,
 * or `plot.line([{name, x, y}, …])`; values may be arrays, typed arrays or tf tensors.
 */
export function line(input: SeriesInput, options?: LineOptions): Figure;
/** A line chart of `y` (one series, or named series) against the shared `x`: `plot.line(steps, losses)`, `plot.line(steps, {train, val})`. */
export function line(x: Labels, y: Values | Record<string, Values>, options?: LineOptions): Figure;
export function line(input: unknown, second?: unknown, third?: unknown): Figure {
  const { x, y, options } = splitArgs<LineOptions>(input, second, third, "plot.line");
  const series = toSeriesList(x, y, "plot.line");
  const mode = options.markers ? "lines+markers" : "lines";
  const named = series.some((s) => s.name !== undefined);
  let data: FigureData[];
  if (options.smooth !== undefined && options.smooth > 0) {
    data = [];
    const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    series.forEach((s, i) => {
      const color = palette[i % palette.length];
      const name = s.name ?? "y";
      data.push({ type: "scatter", mode, x: s.x, y: s.y, name: `${name} (raw)`, opacity: 0.3, line: { color }, legendgroup: name, showlegend: false } as FigureData);
      data.push({ type: "scatter", mode: "lines", x: s.x, y: smoothValues(s.y, options.smooth!), name, line: { color }, legendgroup: name } as FigureData);
    });
  } else {
    data = seriesTraces(series, mode);
  }
  return finish(data, options, named && series.length > 1);
}

/**
 * A scatter plot (markers), with the same inputs as {@link line}. Use
 * `logX`/`logY` for log axes (scaling laws), `text` for per-point labels.
 */
export function scatter(input: SeriesInput, options?: ScatterOptions): Figure;
/** A scatter plot of `y` (one series, or named series) against the shared `x`; `logX`/`logY` for log axes. */
export function scatter(x: Labels, y: Values | Record<string, Values>, options?: ScatterOptions): Figure;
export function scatter(input: unknown, second?: unknown, third?: unknown): Figure {
  const { x, y, options } = splitArgs<ScatterOptions>(input, second, third, "plot.scatter");
  const series = toSeriesList(x, y, "plot.scatter");
  let text: Array<number | string | null> | undefined;
  if (options.text !== undefined) {
    if (series.length !== 1) throw new Error(`plot.scatter: text labels work with one series, got ${series.length} series`);
    text = toLabels(options.text, "plot.scatter text");
    if (text.length !== series[0].y.length) {
      throw new Error(`plot.scatter: ${text.length} text labels for ${series[0].y.length} points; they must have the same length`);
    }
  }
  const mode = text && options.showText ? "markers+text" : "markers";
  const data = seriesTraces(series, mode, () => {
    const extra: Record<string, unknown> = {};
    if (options.size !== undefined) extra.marker = { size: options.size };
    if (text) {
      extra.text = text;
      if (options.showText) extra.textposition = "top center";
    }
    return extra;
  });
  const named = series.some((s) => s.name !== undefined);
  return finish(data, options, named && series.length > 1);
}

// ---------------------------------------------------------------------------
// heatmap

/** A token made visible as an axis label: spaces, newlines and tabs get a visible symbol. */
export function visibleToken(token: unknown): string {
  const s = String(token ?? "");
  if (s === "") return "∅";
  return s
    .replace(/ /g, "␣")
    .replace(/\n/g, "↵")
    .replace(/\r/g, "␍")
    .replace(/\t/g, "⇥")
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * Labels made unique for a category axis (plotly merges equal categories, and
 * a sentence repeats tokens): the k-th repeat gets k zero-width spaces appended,
 * invisible in the plot.
 */
export function uniqueLabels(labels: string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const k = seen.get(l) ?? 0;
    seen.set(l, k + 1);
    return k === 0 ? l : l + "\u200b".repeat(k);
  });
}

function matrixRange(z: Array<Array<number | null>>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const row of z) {
    for (const v of row) {
      if (v === null) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return { min, max };
}

function axisLabels(value: Labels | undefined, count: number, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const labels = toLabels(value, `plot.heatmap ${what}`);
  if (labels.length !== count) {
    throw new Error(`plot.heatmap: ${labels.length} ${what} labels for ${count} ${what === "row" ? "rows" : "columns"}; they must match`);
  }
  return uniqueLabels(labels.map(visibleToken));
}

/**
 * A heatmap of a matrix (`number[][]` rows, or a 2-D tensor). For attention
 * pass the weights `[query, key]` and `{ tokens }`: rows are query tokens (top
 * to bottom), columns are key tokens; masked entries (-Infinity, NaN) are left
 * blank.
 */
export function heatmap(z: Matrix, options: HeatmapOptions = {}): Figure {
  checkOptions(options, "plot.heatmap");
  const matrix = toMatrix(z, "plot.heatmap");
  const rows = matrix.length;
  const cols = rows > 0 ? matrix[0].length : 0;
  const xLabels = axisLabels(options.x ?? options.tokens, cols, "column");
  const yLabels = axisLabels(options.y ?? options.tokens, rows, "row");
  const { min, max } = matrixRange(matrix);
  const diverging = min < 0 && max > 0;
  const trace: Record<string, unknown> = {
    type: "heatmap",
    z: matrix,
    colorscale: options.colorscale ?? (diverging ? "RdBu" : "Viridis"),
    hoverongaps: false,
  };
  if (options.colorscale === undefined && diverging && options.zmin === undefined && options.zmax === undefined) trace.zmid = 0;
  if (options.zmin !== undefined) trace.zmin = options.zmin;
  if (options.zmax !== undefined) trace.zmax = options.zmax;
  if (xLabels) trace.x = xLabels;
  if (yLabels) trace.y = yLabels;
  const xName = options.xLabel ?? (options.tokens !== undefined ? "key" : "column");
  const yName = options.yLabel ?? (options.tokens !== undefined ? "query" : "row");
  trace.hovertemplate = `${yName} %{y}<br>${xName} %{x}<br>value %{z:.4g}<extra></extra>`;
  if (options.showValues) {
    trace.texttemplate = "%{z:.2f}";
    trace.textfont = { size: 10 };
  }
  const o: HeatmapOptions = {
    ...options,
    xLabel: options.xLabel ?? (options.tokens !== undefined ? "key" : undefined),
    yLabel: options.yLabel ?? (options.tokens !== undefined ? "query" : undefined),
  };
  // Labelled rows and columns (tokens) get square cells. The axes shrink their domain to keep
  // them square ("domain"), rather than padding the range with empty space, which would leave
  // the tick labels and axis titles far from the cells, on top of the next row in a grid.
  const square = xLabels !== undefined && yLabels !== undefined;
  const extra: Record<string, unknown> = {
    xaxis: {
      ...(xLabels ? { type: "category", tickangle: cols > 12 ? -60 : 0 } : {}),
      showgrid: false,
      ...(square ? { constrain: "domain" } : {}),
    },
    yaxis: {
      ...(yLabels ? { type: "category" } : {}),
      showgrid: false,
      ...(options.rowsTopDown === false ? {} : { autorange: "reversed" }),
      ...(square ? { scaleanchor: "x", constrain: "domain" } : {}),
    },
  };
  if (options.height === undefined) extra.height = Math.max(320, Math.min(900, 140 + 22 * rows));
  return finish([trace as FigureData], o, false, extra);
}

/** The matrices of a 3-D `[heads, T, T]` or 4-D `[layers, heads, T, T]` tensor, with grid shape and titles. */
function splitMatrices(
  input: ReadonlyArray<Matrix> | TensorLike,
): { mats: Array<Array<Array<number | null>>>; cols?: number; titles?: string[] } {
  if (!isTensorLike(input)) {
    if (!Array.isArray(input)) throw new Error("plot.heatmaps: expected an array of matrices or a 3-D/4-D tensor");
    return { mats: input.map((m, i) => toMatrix(m, `plot.heatmaps matrix ${i}`)) };
  }
  const shape = input.shape;
  if (shape.length !== 3 && shape.length !== 4) {
    throw new Error(`plot.heatmaps: expected a 3-D [heads, T, T] or 4-D [layers, heads, T, T] tensor, got shape [${shape.join(", ")}]`);
  }
  const [r, c] = shape.slice(-2);
  const lead = shape.slice(0, -2);
  const flat = Array.from(input.dataSync() as ArrayLike<number>);
  const count = lead.reduce((a, b) => a * b, 1);
  const mats: Array<Array<Array<number | null>>> = [];
  const titles: string[] = [];
  for (let m = 0; m < count; m++) {
    const rowsOut: Array<Array<number | null>> = [];
    for (let i = 0; i < r; i++) {
      rowsOut.push(Array.from(flat.slice(m * r * c + i * c, m * r * c + (i + 1) * c), (v) => (Number.isFinite(v) ? v : null)));
    }
    mats.push(rowsOut);
    titles.push(lead.length === 2 ? `layer ${Math.floor(m / lead[1])} head ${m % lead[1]}` : `head ${m}`);
  }
  return { mats, cols: lead[lead.length - 1], titles };
}

/**
 * A grid of heatmaps sharing one colour scale: an array of matrices, a 3-D
 * `[heads, T, T]` tensor (one row of heads) or a 4-D `[layers, heads, T, T]`
 * tensor (a row per layer). Options as {@link heatmap}, plus `cols` and `titles`.
 */
export function heatmaps(
  input: ReadonlyArray<Matrix> | TensorLike,
  options: HeatmapOptions & { cols?: number; titles?: string[] } = {},
): Figure {
  checkOptions(options, "plot.heatmaps");
  const split = splitMatrices(input);
  const n = split.mats.length;
  if (n === 0) throw new Error("plot.heatmaps: no matrices to draw");
  const cols = options.cols ?? Math.min(split.cols ?? n, 4);
  const rows = Math.ceil(n / cols);
  const { title, width, height, titles, cols: _c, layout, ...each } = options;
  const figs = split.mats.map((m) => heatmap(m, { ...each, height: undefined }));
  const side = Math.max(220, Math.min(420, 120 + 16 * split.mats[0].length));
  const totalHeight = height ?? rows * side + 60;
  // Between rows: the tick labels and title of the x axis above, then the next cell's title.
  const labelled = options.tokens !== undefined || options.x !== undefined || options.xLabel !== undefined;
  const yGap = rows > 1 ? Math.min(0.3, (labelled ? 120 : 70) / totalHeight) : 0;
  return subplots(rows, cols, figs, {
    title,
    width,
    height: totalHeight,
    yGap,
    titles: titles ?? split.titles,
    layout,
  });
}

// ---------------------------------------------------------------------------
// histogram

/** Counts of values in `bins` equal-width bins over [lo, hi] (the last bin includes hi). */
export function binCounts(values: Array<number | null>, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (const v of values) {
    if (v === null || v < lo || v > hi) continue;
    let b = width > 0 ? Math.floor((v - lo) / width) : 0;
    if (b >= bins) b = bins - 1;
    counts[b] += 1;
  }
  return counts;
}

/**
 * A histogram of one set of values, or of several named sets overlaid
 * (`{before: w0, after: w1}`) on shared bins. Values are binned here, so a
 * histogram of millions of weights stays small; tensors of any shape are
 * flattened.
 */
export function histogram(values: Values | Record<string, Values>, options: HistogramOptions = {}): Figure {
  checkOptions(options, "plot.histogram");
  const flatten = (v: unknown, what: string): Array<number | null> => {
    if (isTensorLike(v)) {
      return Array.from(v.dataSync() as ArrayLike<number>, (x) => (Number.isFinite(x) ? x : null));
    }
    return toNumbers(v, what);
  };
  let series: Array<{ name?: string; values: Array<number | null> }>;
  if (isValues(values)) {
    series = [{ values: flatten(values, "plot.histogram") }];
  } else if (isPlainObject(values) && Object.keys(values).length > 0) {
    series = Object.entries(values).map(([name, v]) => ({ name, values: flatten(v, `plot.histogram series ${JSON.stringify(name)}`) }));
  } else {
    throw new Error("plot.histogram: expected values (array, typed array, tensor) or named sets of values like {before: a, after: b}");
  }
  let lo = Infinity;
  let hi = -Infinity;
  let most = 0;
  for (const s of series) {
    let n = 0;
    for (const v of s.values) {
      if (v === null) continue;
      n += 1;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    most = Math.max(most, n);
  }
  if (options.range) {
    [lo, hi] = options.range;
    if (!(hi > lo)) throw new Error(`plot.histogram: range must be [lo, hi] with hi > lo, got [${options.range.join(", ")}]`);
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  } else if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const bins = options.bins ?? Math.min(100, Math.max(10, Math.ceil(Math.sqrt(most))));
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`plot.histogram: bins must be a positive integer, got ${bins}`);
  const width = (hi - lo) / bins;
  const centers = range(bins).map((b) => lo + (b + 0.5) * width);
  const opacity = options.opacity ?? (series.length > 1 ? 0.6 : 1);
  const data = series.map((s) => {
    const counts = binCounts(s.values, lo, hi, bins);
    const total = counts.reduce((a, b) => a + b, 0);
    const y = options.density ? counts.map((c) => (total > 0 ? c / (total * width) : 0)) : counts;
    const trace: Record<string, unknown> = {
      type: "histogram",
      x: centers,
      y,
      histfunc: "sum",
      xbins: { start: lo, end: hi, size: width },
      offsetgroup: "histogram",
      opacity,
    };
    if (s.name !== undefined) trace.name = s.name;
    return trace as FigureData;
  });
  const o = { ...options, yLabel: options.yLabel ?? (options.density ? "density" : "count") };
  return finish(data, o, series.length > 1, { barmode: "overlay", bargap: 0.02 });
}

// ---------------------------------------------------------------------------
// bar

/**
 * A bar chart: `plot.bar(values)`, `plot.bar(labels, values)`,
 * `plot.bar({a: 3, b: 5})`, or grouped series `plot.bar(labels, {gpt2: [...], ours: [...]})`.
 */
export function bar(values: Values | Record<string, number>, options?: BarOptions): Figure;
/** A bar chart with a label per bar: `plot.bar(labels, values)`, or grouped series `plot.bar(labels, {gpt2: [...], ours: [...]})`. */
export function bar(labels: Labels, values: Values | Record<string, Values>, options?: BarOptions): Figure;
export function bar(first: unknown, second?: unknown, third?: unknown): Figure {
  let labels: Array<number | string | null>;
  let series: Array<{ name?: string; y: Array<number | null> }>;
  let options: BarOptions;
  const secondIsData = isValues(second) || (isPlainObject(second) && Object.values(second).length > 0 && Object.values(second).every(isValues));
  if (secondIsData) {
    checkOptions(third, "plot.bar");
    options = (third ?? {}) as BarOptions;
    labels = toLabels(first, "plot.bar labels");
    series = isValues(second)
      ? [{ y: toNumbers(second, "plot.bar values") }]
      : Object.entries(second as Record<string, unknown>).map(([name, v]) => ({ name, y: toNumbers(v, `plot.bar series ${JSON.stringify(name)}`) }));
  } else {
    checkOptions(second, "plot.bar");
    options = (second ?? {}) as BarOptions;
    if (isValues(first)) {
      const y = toNumbers(first, "plot.bar values");
      labels = range(y.length);
      series = [{ y }];
    } else if (isPlainObject(first) && Object.keys(first).length > 0) {
      labels = Object.keys(first);
      series = [{ y: toNumbers(Object.values(first), "plot.bar values") }];
    } else {
      throw new Error("plot.bar: expected values, (labels, values), {label: value}, or (labels, {series: values})");
    }
  }
  for (const s of series) {
    if (s.y.length !== labels.length) {
      const what = s.name !== undefined ? `series ${JSON.stringify(s.name)}` : "values";
      throw new Error(`plot.bar: ${labels.length} labels but ${s.y.length} ${what}; they must have the same length`);
    }
  }
  const data = series.map((s) => {
    const trace: Record<string, unknown> = options.horizontal
      ? { type: "bar", orientation: "h", x: s.y, y: labels }
      : { type: "bar", x: labels, y: s.y };
    if (s.name !== undefined) trace.name = s.name;
    return trace as FigureData;
  });
  // Labels that look like numbers would otherwise be placed on a numeric axis.
  const catAxis = labels.some((l) => typeof l === "string") ? { type: "category" } : {};
  const extra: Record<string, unknown> = { barmode: options.stacked ? "stack" : "group" };
  if (options.horizontal) {
    extra.yaxis = { ...catAxis, autorange: "reversed" };
    const o = { ...options, logX: options.logX ?? options.logY, logY: false };
    return finish(data, o, series.length > 1, extra);
  }
  extra.xaxis = catAxis;
  return finish(data, options, series.length > 1, extra);
}

// ---------------------------------------------------------------------------
// overlay and subplots

/**
 * One figure with the traces of several: e.g. measured points and a fitted
 * line, `plot.overlay(plot.scatter(pts, {logX: true, logY: true}), plot.line(fit))`.
 * The layout is the first figure's.
 */
export function overlay(...figs: Figure[]): Figure {
  if (figs.length === 0) throw new Error("plot.overlay: pass at least one figure");
  figs.forEach((f, i) => {
    if (!(f instanceof Figure)) throw new Error(`plot.overlay: argument ${i} is not a Figure`);
  });
  const data = figs.flatMap((f) => f.data);
  const named = data.filter((t) => typeof (t as { name?: unknown }).name === "string").length;
  const layout = { ...figs[0].layout, showlegend: named > 1 || figs[0].layout.showlegend === true };
  return new Figure([...data], layout, { ...figs[0].config });
}

function remapRef(ref: unknown, axis: "x" | "y", suffix: string): unknown {
  return ref === axis ? axis + suffix : ref;
}

/**
 * Several figures in a grid: `plot.subplots(2, 2, [a, b, c, d])` (row-major;
 * `null` leaves a cell empty) or `plot.subplots(2, 2, [[a, b], [c, d]])`. Each
 * cell keeps its figure's traces, axis settings (log axes, titles) and title.
 */
export function subplots(
  rows: number,
  cols: number,
  figs: ReadonlyArray<Figure | null | undefined> | ReadonlyArray<ReadonlyArray<Figure | null | undefined>>,
  options: SubplotOptions = {},
): Figure {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1) {
    throw new Error(`plot.subplots: rows and cols must be positive integers, got ${rows} and ${cols}`);
  }
  if (!Array.isArray(figs)) throw new Error("plot.subplots: figs must be an array of figures");
  checkOptions(options, "plot.subplots");
  const cells: Array<Figure | null | undefined> = (figs as unknown[]).some((f) => Array.isArray(f))
    ? (figs as ReadonlyArray<ReadonlyArray<Figure | null | undefined>>).flatMap((row, r) => {
        if (!Array.isArray(row)) throw new Error(`plot.subplots: row ${r} is not an array of figures`);
        if (row.length > cols) throw new Error(`plot.subplots: row ${r} has ${row.length} figures but the grid has ${cols} columns`);
        return [...row, ...new Array(cols - row.length).fill(null)];
      })
    : [...(figs as ReadonlyArray<Figure | null | undefined>)];
  if (cells.length > rows * cols) {
    throw new Error(`plot.subplots: ${cells.length} figures do not fit a ${rows}×${cols} grid`);
  }
  cells.forEach((f, i) => {
    if (f !== null && f !== undefined && !(f instanceof Figure)) throw new Error(`plot.subplots: cell ${i} is not a Figure (or null)`);
  });
  const xGap = options.xGap ?? 0.08;
  const height = options.height ?? rows * 300 + 60;
  // About 70 px between rows, room for the cell titles.
  const yGap = options.yGap ?? (rows > 1 ? Math.min(0.3, 70 / height) : 0);
  const cellW = (1 - (cols - 1) * xGap) / cols;
  const cellH = (1 - (rows - 1) * yGap) / rows;
  if (!(cellW > 0 && cellH > 0)) throw new Error("plot.subplots: the gaps leave no room for the cells");

  const allTraces = cells.flatMap((f) => (f ? f.data : []));
  const shared = options.sharedColorScale ?? (allTraces.length > 0 && allTraces.every((t) => (t as { type?: string }).type === "heatmap"));
  let zmin = Infinity;
  let zmax = -Infinity;
  let sharedScale: unknown;
  const data: FigureData[] = [];
  const layout: FigureLayout = {
    margin: { l: 60, r: 20, t: options.title ? 70 : 40, b: 50 },
    height,
    annotations: [],
  };
  const annotations = layout.annotations as Array<Record<string, unknown>>;
  if (options.title) layout.title = { text: options.title };
  if (options.width !== undefined) layout.width = options.width;

  cells.forEach((fig, i) => {
    const r = Math.floor(i / cols);
    const c = i % cols;
    const k = i + 1;
    const suffix = k === 1 ? "" : String(k);
    const xd: [number, number] = [c * (cellW + xGap), c * (cellW + xGap) + cellW];
    const top = 1 - r * (cellH + yGap);
    const yd: [number, number] = [top - cellH, top];
    const fl = (fig?.layout ?? {}) as Record<string, unknown>;
    const xa = { ...((fl.xaxis as object) ?? {}), domain: xd, anchor: "y" + suffix } as Record<string, unknown>;
    const ya = { ...((fl.yaxis as object) ?? {}), domain: yd, anchor: "x" + suffix } as Record<string, unknown>;
    if (ya.scaleanchor !== undefined) ya.scaleanchor = remapRef(ya.scaleanchor, "x", suffix);
    if (xa.scaleanchor !== undefined) xa.scaleanchor = remapRef(xa.scaleanchor, "y", suffix);
    if (!fig) {
      xa.visible = false;
      ya.visible = false;
    }
    layout["xaxis" + suffix] = xa;
    layout["yaxis" + suffix] = ya;
    const cellTitle = options.titles?.[i] ?? (fig ? figureTitle(fig.layout) : undefined);
    if (cellTitle) {
      annotations.push({
        text: cellTitle,
        x: (xd[0] + xd[1]) / 2,
        y: yd[1],
        xref: "paper",
        yref: "paper",
        xanchor: "center",
        yanchor: "bottom",
        showarrow: false,
        font: { size: 13 },
      });
    }
    if (!fig) return;
    for (const a of (fl.annotations as Array<Record<string, unknown>> | undefined) ?? []) {
      annotations.push({ ...a, xref: remapRef(a.xref ?? "x", "x", suffix), yref: remapRef(a.yref ?? "y", "y", suffix) });
    }
    // barmode is one setting for the whole figure: grouped/stacked bars win, since
    // histograms overlay their series through a shared offsetgroup in any mode.
    if (fl.barmode !== undefined && (layout.barmode === undefined || layout.barmode === "overlay")) {
      layout.barmode = fl.barmode as FigureLayout["barmode"];
    }
    for (const t of fig.data) {
      const trace = { ...(t as Record<string, unknown>) };
      if ((trace.xaxis !== undefined && trace.xaxis !== "x") || (trace.yaxis !== undefined && trace.yaxis !== "y")) {
        throw new Error(`plot.subplots: cell ${i} is itself a figure with subplots; nesting is not supported`);
      }
      trace.xaxis = "x" + suffix;
      trace.yaxis = "y" + suffix;
      if (typeof trace.name !== "string") trace.showlegend = false; // no "trace 7" entries
      if (trace.type === "heatmap") {
        if (shared) {
          const { min, max } = matrixRange(trace.z as Array<Array<number | null>>);
          zmin = Math.min(zmin, typeof trace.zmin === "number" ? trace.zmin : min);
          zmax = Math.max(zmax, typeof trace.zmax === "number" ? trace.zmax : max);
          sharedScale ??= trace.colorscale;
          trace.coloraxis = "coloraxis";
          delete trace.colorscale;
          delete trace.zmin;
          delete trace.zmax;
          delete trace.zmid;
        } else {
          trace.showscale = false;
        }
      }
      data.push(trace as FigureData);
    }
  });
  if (shared && Number.isFinite(zmin)) {
    // A diverging scale stays centred on 0; otherwise every cell uses the global range.
    const diverging = zmin < 0 && zmax > 0 && sharedScale === "RdBu";
    layout.coloraxis = diverging
      ? { colorscale: "RdBu", cmid: 0 }
      : { colorscale: sharedScale ?? "Viridis", cmin: zmin, cmax: zmax };
  }
  // plotly drops the gap between all bars of a figure that has a histogram; with bar
  // charts in other cells, a small gap keeps both readable.
  const types = new Set(data.map((d) => (d as { type?: string }).type));
  if (types.has("histogram") && types.has("bar")) layout.bargap = 0.1;
  layout.showlegend = options.showLegend ?? data.some((t) => typeof (t as { name?: unknown }).name === "string" && (t as { showlegend?: boolean }).showlegend !== false);
  return new Figure(data, mergeLayout(layout, options.layout));
}

/** `plot.figure(data, layout?, config?)`: a figure from raw plotly.js traces and layout. */
export function figure(data: FigureData[] | FigureData, layout: FigureLayout = {}, config: FigureConfig = {}): Figure {
  return new Figure(Array.isArray(data) ? data : [data], layout, config);
}
