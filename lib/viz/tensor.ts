/**
 * How tf tensors show in the notebook: shape, dtype and a preview of the
 * values (PyTorch-style, elided in the middle when large), plus summary
 * statistics, and small 1-D/2-D tensors as a shaded HTML table.
 *
 * Nothing is patched on import: the kernel's prelude calls
 * {@link installTensorDisplay} once.
 */

import { DISPLAY_SYMBOL, MimeBundle } from "../host";
import { escapeHtml } from "./html";

/** The parts of a tf.Tensor this module reads. */
export interface TensorView {
  readonly shape: number[];
  readonly dtype: string;
  readonly size: number;
  readonly isDisposed?: boolean;
  dataSync(): ArrayLike<unknown>;
}

/** Tensors with more values than this are elided (first/last `EDGE_ITEMS` per axis), as PyTorch does. */
export const SUMMARY_THRESHOLD = 1000;
/** Values kept at each end of an elided axis. */
export const EDGE_ITEMS = 3;
/** Text width before a row of values wraps. */
export const LINE_WIDTH = 80;
/** Largest 1-D/2-D tensor shown as an HTML table (per axis). */
export const TABLE_MAX = 32;

type Formatter = (v: unknown) => string;

/** Picks one number format for all shown values, like PyTorch: fixed 4 decimals, integers as `3.`, or scientific. */
function numberFormatter(values: number[], dtype: string): Formatter {
  if (dtype === "int32") return (v) => String(v);
  if (dtype === "bool") return (v) => (v ? "true" : "false");
  const finite = values.filter((v) => Number.isFinite(v));
  const special = (v: number) => (Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");
  if (finite.length > 0 && finite.every((v) => Number.isInteger(v)) && Math.max(...finite.map(Math.abs)) < 1e8) {
    return (v) => (Number.isFinite(v as number) ? `${v}.` : special(v as number));
  }
  const nonZero = finite.map(Math.abs).filter((v) => v > 0);
  const max = nonZero.length ? Math.max(...nonZero) : 0;
  const min = nonZero.length ? Math.min(...nonZero) : 0;
  const scientific = max > 0 && (max / min > 1000 || max >= 1e8 || min < 1e-4);
  return (v) => {
    const x = v as number;
    if (!Number.isFinite(x)) return special(x);
    return scientific ? x.toExponential(4) : x.toFixed(4);
  };
}

function formatterFor(t: TensorView, shown: unknown[]): Formatter {
  if (t.dtype === "string") return (v) => JSON.stringify(typeof v === "string" ? v : new TextDecoder().decode(v as Uint8Array));
  return numberFormatter(shown as number[], t.dtype);
}

/** Indices kept along an axis of `size` (with -1 marking the "..." gap). */
function keptIndices(size: number, summarise: boolean): number[] {
  if (!summarise || size <= 2 * EDGE_ITEMS) return Array.from({ length: size }, (_, i) => i);
  const head = Array.from({ length: EDGE_ITEMS }, (_, i) => i);
  const tail = Array.from({ length: EDGE_ITEMS }, (_, i) => size - EDGE_ITEMS + i);
  return [...head, -1, ...tail];
}

function strides(shape: number[]): number[] {
  const out = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) out[i] = out[i + 1] * shape[i + 1];
  return out;
}

/** Values of a complex64 tensor (interleaved re/im) as strings. */
function complexValues(flat: ArrayLike<unknown>): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const re = Number(flat[i]);
    const im = Number(flat[i + 1]);
    out.push(`${re.toFixed(4)}${im < 0 ? "-" : "+"}${Math.abs(im).toFixed(4)}j`);
  }
  return out;
}

function readValues(t: TensorView): unknown[] {
  const flat = t.dataSync();
  return t.dtype === "complex64" ? complexValues(flat) : Array.from(flat);
}

/**
 * The values of a tensor as nested, bracketed text, PyTorch-style: all values
 * in one format and width, long axes elided with "..." when the tensor has
 * more than {@link SUMMARY_THRESHOLD} values, rows wrapped at {@link LINE_WIDTH}.
 * `indent` is the column where the outer bracket opens.
 */
export function formatValues(t: TensorView, indent = 0): string {
  const values = readValues(t);
  const shape = t.shape;
  if (shape.length === 0) return formatterFor(t, values)(values[0]);
  const summarise = t.size > SUMMARY_THRESHOLD;
  const st = strides(shape);
  // Collect the shown values first so they share one format and width.
  const shownFlat: unknown[] = [];
  const collect = (dim: number, offset: number) => {
    for (const i of keptIndices(shape[dim], summarise)) {
      if (i < 0) continue;
      if (dim === shape.length - 1) shownFlat.push(values[offset + i]);
      else collect(dim + 1, offset + i * st[dim]);
    }
  };
  collect(0, 0);
  const fmt = t.dtype === "complex64" ? (v: unknown) => String(v) : formatterFor(t, shownFlat);
  const width = shownFlat.reduce<number>((w, v) => Math.max(w, fmt(v).length), 0);
  const cell = (v: unknown) => fmt(v).padStart(width);

  const build = (dim: number, offset: number, col: number): string => {
    const kept = keptIndices(shape[dim], summarise);
    if (dim === shape.length - 1) {
      const items = kept.map((i) => (i < 0 ? "...".padStart(width) : cell(values[offset + i])));
      // Wrap long rows, continuing under the first value.
      const lines: string[] = [];
      let current = "";
      for (const item of items) {
        const piece = current ? `, ${item}` : item;
        if (current && col + 1 + current.length + piece.length + 2 > LINE_WIDTH) {
          lines.push(current + ",");
          current = item;
        } else {
          current += piece;
        }
      }
      lines.push(current);
      return "[" + lines.join("\n" + " ".repeat(col + 1)) + "]";
    }
    const blankLines = "\n".repeat(Math.max(1, shape.length - dim - 1));
    const parts = kept.map((i) => (i < 0 ? "..." : build(dim + 1, offset + i * st[dim], col + 1)));
    return "[" + parts.join("," + blankLines + " ".repeat(col + 1)) + "]";
  };
  return build(0, 0, indent);
}

/** Min, max, mean and the count of NaN/±Infinity of a numeric tensor (undefined for strings). */
export function tensorStats(t: TensorView): { min: number; max: number; mean: number; nonFinite: number } | undefined {
  if (t.dtype === "string" || t.dtype === "complex64" || t.size === 0) return undefined;
  const flat = t.dataSync() as ArrayLike<number>;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nonFinite = 0;
  for (let i = 0; i < flat.length; i++) {
    const v = Number(flat[i]);
    if (!Number.isFinite(v)) {
      nonFinite += 1;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const n = flat.length - nonFinite;
  return { min, max, mean: n > 0 ? sum / n : NaN, nonFinite };
}

function shapeText(shape: number[]): string {
  return `[${shape.join(", ")}]`;
}

/** The PyTorch-like text form: `tensor([[…]], shape=[2, 3], dtype=float32)`. */
export function tensorText(t: TensorView): string {
  const meta = `shape=${shapeText(t.shape)}, dtype=${t.dtype}`;
  if (t.isDisposed) return `tensor(<disposed>, ${meta})`;
  if (t.size === 0) return `tensor([], ${meta})`;
  return `tensor(${formatValues(t, "tensor(".length)}, ${meta})`;
}

function statNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(5)));
}

/** A cell background for value v within [lo, hi]: white → blue for ≥ 0 data, red ↔ blue around 0 otherwise. */
function shade(v: number, lo: number, hi: number): string {
  if (!Number.isFinite(v)) return "#f3d9d9";
  if (lo < 0 && hi > 0) {
    const m = Math.max(-lo, hi);
    const a = Math.min(1, Math.abs(v) / m) * 0.6;
    return v >= 0 ? `rgba(33,102,172,${a.toFixed(3)})` : `rgba(178,24,43,${a.toFixed(3)})`;
  }
  const a = hi > lo ? ((v - lo) / (hi - lo)) * 0.6 : 0;
  return `rgba(33,102,172,${a.toFixed(3)})`;
}

function tableHtml(t: TensorView): string {
  const values = readValues(t);
  const [rows, cols] = t.shape.length === 2 ? t.shape : [1, t.shape[0]];
  const numeric = t.dtype !== "string" && t.dtype !== "complex64";
  const fmt = t.dtype === "complex64" ? (v: unknown) => String(v) : formatterFor(t, values);
  const nums = numeric ? (values as number[]).map(Number).filter(Number.isFinite) : [];
  const lo = nums.length ? Math.min(...nums) : 0;
  const hi = nums.length ? Math.max(...nums) : 0;
  let html = `<table class="llmlab-tensor" style="border-collapse:collapse;font:12px monospace"><thead><tr><th></th>`;
  for (let c = 0; c < cols; c++) html += `<th style="padding:2px 6px;color:#888">${c}</th>`;
  html += `</tr></thead><tbody>`;
  for (let r = 0; r < rows; r++) {
    html += `<tr><th style="padding:2px 6px;color:#888">${t.shape.length === 2 ? r : ""}</th>`;
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      const bg = numeric ? `;background:${shade(Number(v), lo, hi)}` : "";
      html += `<td style="padding:2px 6px;text-align:right${bg}">${escapeHtml(fmt(v))}</td>`;
    }
    html += `</tr>`;
  }
  return html + `</tbody></table>`;
}

/** The HTML form: a header (dtype, shape, stats), then a shaded table for small 1-D/2-D tensors or the text preview. */
export function tensorHtml(t: TensorView): string {
  const stats = t.isDisposed ? undefined : tensorStats(t);
  const bits = [`<b>Tensor</b> ${escapeHtml(t.dtype)}`, `shape ${escapeHtml(shapeText(t.shape))}`, `${t.size} value${t.size === 1 ? "" : "s"}`];
  if (t.isDisposed) bits.push("<i>disposed</i>");
  if (stats && Number.isFinite(stats.min)) {
    bits.push(`min ${statNumber(stats.min)}`, `max ${statNumber(stats.max)}`, `mean ${statNumber(stats.mean)}`);
  }
  if (stats && stats.nonFinite > 0) bits.push(`<span style="color:#b2182b">${stats.nonFinite} NaN/Inf</span>`);
  const header = `<div style="font:12px sans-serif;color:#555;margin-bottom:4px">${bits.join(" · ")}</div>`;
  let body = "";
  if (!t.isDisposed && t.size > 0) {
    const small = (t.shape.length === 2 && t.shape[0] <= TABLE_MAX && t.shape[1] <= TABLE_MAX) || (t.shape.length === 1 && t.shape[0] <= TABLE_MAX);
    body = small ? tableHtml(t) : `<pre style="margin:0">${escapeHtml(formatValues(t))}</pre>`;
  }
  return `<div class="llmlab-tensor">${header}${body}</div>`;
}

/** The MIME bundle of a tensor (text/plain PyTorch-style repr, text/html with stats and a table). */
export function tensorBundle(t: TensorView): MimeBundle {
  return { "text/plain": tensorText(t), "text/html": tensorHtml(t) };
}

/** The tf module (or anything with a `Tensor` class) whose tensors get the rich display. */
export interface TensorModule {
  Tensor: { prototype: object };
}

/**
 * Makes every tf tensor (and Variable) show richly in the notebook: defines
 * `Tensor.prototype[Symbol.for("Jupyter.display")]`. Called once by the
 * kernel prelude; idempotent. Pass the tf module in use (default: `@tensorflow/tfjs`).
 */
export function installTensorDisplay(tf?: TensorModule): void {
  const mod = tf ?? (require("@tensorflow/tfjs") as TensorModule);
  Object.defineProperty(mod.Tensor.prototype, DISPLAY_SYMBOL, {
    value: function (this: TensorView): MimeBundle {
      return tensorBundle(this);
    },
    configurable: true,
    writable: true,
    enumerable: false,
  });
}
