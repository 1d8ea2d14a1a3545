/**
 * Getting plotly.js onto the notebook page once, with no network.
 *
 * The scheme:
 * - plotly.js (`plotly.js-dist-min`, ~4.6 MB) travels in its OWN output — a
 *   `display_data` whose `text/html` is one inline `<script>` — sent the first
 *   time a figure is shown in a kernel session (or by `plot.init()`). It is not
 *   put inside a figure's own output because a figure output can be replaced
 *   (`update_display_data` of a live view, `clearOutput`), which would take the
 *   library out of the saved notebook and break every other figure there.
 * - Every figure's `text/html` is a `<div>` plus a small loader script that
 *   draws with `window.Plotly` as soon as it exists: immediately if the library
 *   already ran, else when the library's script announces itself (it calls the
 *   waiting loaders) or a poll sees it — so the order in which a page executes
 *   the scripts does not matter (live notebook, reopened notebook, nbconvert
 *   HTML export).
 * - The library script runs the bundle with `define`, `module`, `exports` and
 *   `require` shadowed by a local CommonJS shim, so pages that load RequireJS
 *   (classic Notebook 6, nbconvert templates) do not turn it into an anonymous
 *   AMD module (which would leave `window.Plotly` undefined or throw RequireJS's
 *   "mismatched anonymous define()"). A page that already has the same plotly.js
 *   version skips re-evaluating it.
 * - "Already sent" is remembered per kernel session (the host object): when
 *   the host exposes the running cell's id (`cellId()`, from the frontend's
 *   execute_request metadata), re-running the cell that carried the library
 *   sends it again, since the frontend clears that cell's old outputs.
 *   Limits: clearing that output by hand, deleting its cell, or
 *   re-running it under a frontend that sends no cell id leaves the saved
 *   notebook without the library; figures then show a hint to run
 *   `plot.init()`, which always sends it again.
 */

import * as fs from "node:fs";
import { DISPLAY_SYMBOL, host, Host, MimeBundle } from "../host";
import { escapeHtml, jsonForScript, scriptSafe } from "./html";

/** The subset of a plotly figure the loader needs. */
export interface FigureJSON {
  data: unknown[];
  layout: Record<string, unknown>;
  config: Record<string, unknown>;
}

let cachedSource: string | undefined;
let cachedVersion: string | undefined;
let cachedHtml: string | undefined;

/** The version of the bundled plotly.js (from its package.json). */
export function plotlyVersion(): string {
  if (cachedVersion === undefined) {
    const pkg = JSON.parse(fs.readFileSync(require.resolve("plotly.js-dist-min/package.json"), "utf8"));
    cachedVersion = String(pkg.version);
  }
  return cachedVersion;
}

/** The minified plotly.js source (read once from node_modules). */
export function plotlyLibrarySource(): string {
  if (cachedSource === undefined) {
    cachedSource = fs.readFileSync(require.resolve("plotly.js-dist-min"), "utf8");
  }
  return cachedSource;
}

/**
 * The HTML that puts plotly.js on the page: one inline script defining
 * `window.Plotly` (see the module comment for the RequireJS handling), then
 * waking the figures that are waiting for it.
 */
export function plotlyLibraryHtml(): string {
  if (cachedHtml === undefined) {
    const version = plotlyVersion();
    cachedHtml =
      `<div class="llmlab-plotlyjs" data-plotly-version="${escapeHtml(version)}" style="display:none"></div>\n` +
      `<script type="text/javascript">\n` +
      `/* plotly.js ${version} (MIT licence, Plotly, Inc.), embedded once per notebook by llmlab so that figures draw offline. */\n` +
      `(function () {\n` +
      `  var w = window;\n` +
      `  if (!(w.Plotly && typeof w.Plotly.newPlot === "function" && w.Plotly.version === ${JSON.stringify(version)})) {\n` +
      `    var shim = { exports: {} };\n` +
      `    (function (define, module, exports, require) {\n` +
      scriptSafe(plotlyLibrarySource()) +
      `\n    }).call(w, undefined, shim, shim.exports, undefined);\n` +
      `    var lib = shim.exports && typeof shim.exports.newPlot === "function" ? shim.exports : null;\n` +
      `    if (lib && !(w.Plotly && w.Plotly.version === lib.version)) w.Plotly = lib;\n` +
      `  }\n` +
      `  var waiting = w.__llmlabPlotlyWaiters || [];\n` +
      `  w.__llmlabPlotlyWaiters = [];\n` +
      `  for (var i = 0; i < waiting.length; i++) { try { waiting[i](); } catch (e) { if (w.console) console.error(e); } }\n` +
      `})();\n` +
      `</script>`;
  }
  return cachedHtml;
}

/** The MIME bundle of the library output. */
export function plotlyLibraryBundle(): MimeBundle {
  return {
    "text/html": plotlyLibraryHtml(),
    "text/plain": `plotly.js ${plotlyVersion()} (loaded once for this notebook's figures)`,
  };
}

/** The library output as a displayable object (so any host shows it as a MIME bundle). */
const libraryDisplayable = {
  [DISPLAY_SYMBOL]: (): MimeBundle => plotlyLibraryBundle(),
};

interface Carrier {
  host: Host;
  signal: AbortSignal | undefined;
  cellId: string | undefined;
}

/** Where the library was last sent (undefined: not yet in this session). */
let carrier: Carrier | undefined;

/**
 * True when the next figure shown must first send plotly.js: the host is a
 * notebook (interactive) and, in this session, the library was not sent yet
 * or the cell that carried it is being re-run.
 */
export function needsPlotlyLibrary(): boolean {
  const h = host();
  if (!h.interactive) return false;
  if (!carrier || carrier.host !== h) return true;
  const cellId = typeof h.cellId === "function" ? h.cellId() : undefined;
  // The carrying cell runs again: the frontend is clearing its old outputs, library included.
  return cellId !== undefined && cellId === carrier.cellId && h.abortSignal() !== carrier.signal;
}

/** Sends plotly.js as its own output now, whatever was sent before (what `plot.init()` does). */
export function sendPlotlyLibrary(): void {
  const h = host();
  h.display(libraryDisplayable);
  carrier = {
    host: h,
    signal: h.abortSignal(),
    cellId: typeof h.cellId === "function" ? h.cellId() : undefined,
  };
}

/** Sends plotly.js if {@link needsPlotlyLibrary}; returns whether it did. */
export function ensurePlotlyLibrary(): boolean {
  if (!needsPlotlyLibrary()) return false;
  sendPlotlyLibrary();
  return true;
}

/** Forgets that the library was sent (the next figure sends it again). */
export function resetPlotlyLibrary(): void {
  carrier = undefined;
}

/** Default figure height in pixels when the layout sets none. */
export const DEFAULT_HEIGHT = 420;

/**
 * A figure's self-contained HTML: a sized `<div>` and a loader script that
 * draws into it with `window.Plotly` once available (see the module comment).
 * Contains no URL and never loads anything from the network.
 */
export function figureHtml(fig: FigureJSON, id: string): string {
  const height = typeof fig.layout.height === "number" ? fig.layout.height : DEFAULT_HEIGHT;
  const width = typeof fig.layout.width === "number" ? `${fig.layout.width}px` : "100%";
  const hint =
    "Waiting for plotly.js… llmlab sends it once per notebook, in the output of the first cell that showed a figure. " +
    "If that output was cleared, run <code>plot.init()</code> in a cell.";
  return (
    `<div id="${id}-hint" class="llmlab-figure-hint" style="display:none;color:#777;font:12px sans-serif;padding:4px 0">${hint}</div>` +
    `<div id="${id}" class="llmlab-figure" style="width:${width};height:${height}px"></div>` +
    `<script type="text/javascript">\n` +
    `(function () {\n` +
    `  var id = ${jsonForScript(id)};\n` +
    `  var fig = ${jsonForScript(fig)};\n` +
    `  var script = document.currentScript, seen = false, start = Date.now(), timer = null;\n` +
    `  function find() {\n` +
    `    var el = script && script.previousElementSibling;\n` +
    `    if (!el || el.id !== id) el = document.getElementById(id);\n` +
    `    return el && el.isConnected !== false ? el : null;\n` +
    `  }\n` +
    `  function hint(text) {\n` +
    `    var el = find(), h = el && el.previousElementSibling;\n` +
    `    if (h && h.id === id + "-hint") { if (text) h.textContent = text; h.style.display = text === "" ? "none" : "block"; }\n` +
    `  }\n` +
    `  function draw() {\n` +
    `    var el = find(), P = window.Plotly;\n` +
    `    if (!el) return seen;\n` +
    `    seen = true;\n` +
    `    if (el.getAttribute("data-llmlab-drawn")) return true;\n` +
    `    if (!(P && typeof P.newPlot === "function")) return false;\n` +
    `    el.setAttribute("data-llmlab-drawn", "1");\n` +
    `    hint("");\n` +
    `    try {\n` +
    `      var done = P.newPlot(el, fig.data, fig.layout, fig.config);\n` +
    `      if (done && done.catch) done.catch(function (e) { hint("plotly.js could not draw this figure: " + e); });\n` +
    `    } catch (e) { hint("plotly.js could not draw this figure: " + e); }\n` +
    `    return true;\n` +
    `  }\n` +
    `  if (draw()) return;\n` +
    `  (window.__llmlabPlotlyWaiters = window.__llmlabPlotlyWaiters || []).push(function () { if (draw() && timer) { clearInterval(timer); timer = null; } });\n` +
    `  timer = setInterval(function () {\n` +
    `    if (draw()) { clearInterval(timer); timer = null; return; }\n` +
    `    if (Date.now() - start > 4000) hint(null);\n` +
    `  }, 200);\n` +
    `})();\n` +
    `</script>`
  );
}
