/**
 * DataFrames: danfojs-node exposed as `dfd`, loaded lazily (requiring it takes
 * ~0.7–1 s, too slow for kernel start-up), with DataFrame and Series showing
 * as HTML tables (+ aligned text): long frames as head … tail, wide frames with
 * the middle columns elided, and an "N rows × M columns" caption.
 */

import type * as Danfo from "danfojs-node";
import { DISPLAY_SYMBOL, MimeBundle } from "../host";
import { escapeHtml } from "./html";

/** How much of a frame is shown; change with {@link setTableOptions}. */
export interface TableOptions {
  /** Frames with more rows show the first and last `edgeRows` only (default 30). */
  maxRows: number;
  /** Rows shown at each end of a long frame (default 10). */
  edgeRows: number;
  /** Frames with more columns show the first and last `edgeColumns` only (default 20). */
  maxColumns: number;
  /** Columns shown at each end of a wide frame (default 8). */
  edgeColumns: number;
}

const tableOptions: TableOptions = { maxRows: 30, edgeRows: 10, maxColumns: 20, edgeColumns: 8 };

/** Changes how many rows and columns tables show. */
export function setTableOptions(options: Partial<TableOptions>): void {
  Object.assign(tableOptions, options);
}

/** The table-shaped parts of a danfo DataFrame or Series (or anything similar). */
export interface TableLike {
  readonly shape: number[];
  readonly columns: string[];
  readonly index: Array<string | number>;
  readonly values: unknown[];
  readonly dtypes?: string[];
}

/** One cell as text: numbers with up to 6 significant digits, NaN/null as "NaN". */
export function formatCell(v: unknown): string {
  if (v === null || v === undefined) return "NaN";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
    const abs = Math.abs(v);
    if (abs < 1e-4 || abs >= 1e15) return v.toExponential(4);
    return String(Number(v.toPrecision(6)));
  }
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v instanceof Date) return v.toISOString();
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Positions shown along an axis of `n` items (-1 marks the elided gap). */
function shownPositions(n: number, max: number, edge: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return [...Array.from({ length: edge }, (_, i) => i), -1, ...Array.from({ length: edge }, (_, i) => n - edge + i)];
}

interface Grid {
  rows: number;
  cols: number;
  header: string[];
  index: string[];
  cells: string[][];
  numericColumn: boolean[];
}

/** The visible part of a frame as strings; "…" marks elided rows and columns. */
function grid(t: TableLike, isSeries: boolean): Grid {
  const rows = t.shape[0] ?? 0;
  const cols = isSeries ? 1 : t.shape[1] ?? t.columns.length;
  const rowPos = shownPositions(rows, tableOptions.maxRows, tableOptions.edgeRows);
  const colPos = shownPositions(cols, tableOptions.maxColumns, tableOptions.edgeColumns);
  const header = colPos.map((c) => (c < 0 ? "…" : String(t.columns[c] ?? c)));
  const index = rowPos.map((r) => (r < 0 ? "…" : formatCell(t.index[r] ?? r)));
  const cells = rowPos.map((r) =>
    colPos.map((c) => {
      if (r < 0 || c < 0) return "…";
      const v = isSeries ? t.values[r] : (t.values[r] as unknown[])[c];
      return formatCell(v);
    }),
  );
  const numericColumn = colPos.map((c) => {
    if (c < 0) return false;
    const dtype = t.dtypes?.[c];
    return dtype === "float32" || dtype === "int32" || dtype === "float64";
  });
  return { rows, cols, header, index, cells, numericColumn };
}

function caption(rows: number, cols: number, isSeries: boolean, t: TableLike): string {
  if (isSeries) return `${rows} row${rows === 1 ? "" : "s"}${t.dtypes?.[0] ? ` · dtype ${t.dtypes[0]}` : ""}`;
  return `${rows} row${rows === 1 ? "" : "s"} × ${cols} column${cols === 1 ? "" : "s"}`;
}

/** A frame (or series) as an HTML table with a caption. */
export function tableHtml(t: TableLike, isSeries = false): string {
  const g = grid(t, isSeries);
  let html = `<div class="llmlab-dataframe"><table class="dataframe" border="1"><thead><tr style="text-align:right"><th></th>`;
  for (const h of g.header) html += `<th>${escapeHtml(h)}</th>`;
  html += `</tr></thead><tbody>`;
  g.cells.forEach((row, i) => {
    html += `<tr><th>${escapeHtml(g.index[i])}</th>`;
    for (const cell of row) html += `<td>${escapeHtml(cell)}</td>`;
    html += `</tr>`;
  });
  html += `</tbody></table><p style="font-size:smaller;color:#666;margin:4px 0">${escapeHtml(caption(g.rows, g.cols, isSeries, t))}</p></div>`;
  return html;
}

/** A frame (or series) as aligned text with a caption. */
export function tableText(t: TableLike, isSeries = false): string {
  const g = grid(t, isSeries);
  const columns = [["", ...g.index], ...g.header.map((h, c) => [h, ...g.cells.map((row) => row[c])])];
  const widths = columns.map((col) => Math.max(...col.map((s) => [...s].length)));
  const pad = (s: string, w: number, left: boolean) => {
    const fill = " ".repeat(Math.max(0, w - [...s].length));
    return left ? s + fill : fill + s;
  };
  const lines: string[] = [];
  for (let r = 0; r < g.index.length + 1; r++) {
    lines.push(columns.map((col, c) => pad(col[r], widths[c], c === 0 && r > 0)).join("  "));
  }
  lines.push("", `[${caption(g.rows, g.cols, isSeries, t)}]`);
  return lines.join("\n");
}

/** The MIME bundle of a DataFrame or Series. */
export function tableBundle(t: TableLike, isSeries = false): MimeBundle {
  return { "text/html": tableHtml(t, isSeries), "text/plain": tableText(t, isSeries) };
}

/**
 * Gives danfo's DataFrame and Series the rich display (their prototypes get
 * the display symbol). danfojs-node's exported classes extend danfojs-base's,
 * and operations (`df.head()`, `df["col"]`) return base instances, so the
 * base classes up the prototype chain are patched too. Idempotent; {@link danfo}
 * calls it on first load.
 */
export function installDataFrameDisplay(mod: { DataFrame: { prototype: object }; Series: { prototype: object } }): void {
  const define = (cls: { prototype: object }, isSeries: boolean) => {
    const name = (cls.prototype as { constructor?: { name?: string } }).constructor?.name;
    for (let proto: object | null = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      if ((proto as { constructor?: { name?: string } }).constructor?.name !== name) break;
      Object.defineProperty(proto, DISPLAY_SYMBOL, {
        value: function (this: TableLike): MimeBundle {
          return tableBundle(this, isSeries);
        },
        configurable: true,
        writable: true,
        enumerable: false,
      });
    }
  };
  define(mod.DataFrame, false);
  define(mod.Series, true);
}

let loaded: typeof Danfo | undefined;

/** danfojs-node, loaded on first use, with the table display installed. */
export function danfo(): typeof Danfo {
  if (!loaded) {
    const mod = require("danfojs-node") as typeof Danfo;
    installDataFrameDisplay(mod as unknown as { DataFrame: { prototype: object }; Series: { prototype: object } });
    loaded = mod;
  }
  return loaded;
}

/** True once danfojs-node was loaded (tests and start-up checks). */
export function danfoLoaded(): boolean {
  return loaded !== undefined;
}

/** The danfojs-node module's type (what `dfd` is), nameable from outside llmlab. */
export type DanfoModule = typeof Danfo;

/**
 * danfojs-node (https://danfo.jsdata.org), pandas-like DataFrames: `new
 * dfd.DataFrame({a: [1, 2]})`, `dfd.readCSV(…)`. Loaded on first property
 * access, so merely having `dfd` costs nothing at start-up.
 */
export const dfd: DanfoModule = new Proxy({} as typeof Danfo, {
  get: (_target, prop) => Reflect.get(danfo(), prop),
  has: (_target, prop) => Reflect.has(danfo(), prop),
  ownKeys: () => Reflect.ownKeys(danfo()),
  getOwnPropertyDescriptor: (_target, prop) => {
    const d = Reflect.getOwnPropertyDescriptor(danfo(), prop);
    // The proxy target is empty, so every reported property must be configurable.
    return d ? { ...d, configurable: true } : undefined;
  },
});
