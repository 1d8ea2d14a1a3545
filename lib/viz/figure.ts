/**
 * A plotly figure (data + layout + config, plotly.js's own format) that shows
 * itself in the notebook: one MIME bundle with the plotly JSON type (JupyterLab
 * with the plotly extension, VS Code), a self-contained `text/html` that draws
 * offline (see plotlyjs.ts for how plotly.js reaches the page), and a
 * `text/plain` summary for terminals.
 */

import * as fs from "node:fs";
import type { Config, Data, Layout } from "plotly.js";
import { DISPLAY_SYMBOL, Displayable, DisplayHandle, host, MimeBundle } from "../host";
import { escapeHtml, uniqueId } from "./html";
import { plainData } from "./inputs";
import { ensurePlotlyLibrary, figureHtml, FigureJSON, plotlyLibraryHtml } from "./plotlyjs";

/** One trace, as plotly.js defines it (`{type: "scatter", x, y, …}`). */
export type FigureData = Data;
/** The layout, as plotly.js defines it; any other key (`xaxis12`, `coloraxis2`) is allowed too. */
export type FigureLayout = Partial<Layout> & { [key: string]: unknown };
/** plotly.js config (toolbar, responsiveness, …). */
export type FigureConfig = Partial<Config>;

/** The MIME type JupyterLab's plotly extension and VS Code render natively. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** Config every figure gets unless it says otherwise: resize with the page, no plotly.com logo link. */
export const DEFAULT_CONFIG: FigureConfig = { responsive: true, displaylogo: false };

/**
 * A plotly figure. Build one with the `plot` helpers or directly with
 * `new Figure(data, layout, config)`; make it a cell's last expression, or pass
 * it to `display()`, to see it.
 */
export class Figure implements Displayable {
  /** The traces. */
  data: FigureData[];
  /** The layout (titles, axes, size, …). */
  layout: FigureLayout;
  /** plotly.js config; merged over {@link DEFAULT_CONFIG}. */
  config: FigureConfig;

  constructor(data: FigureData[] = [], layout: FigureLayout = {}, config: FigureConfig = {}) {
    if (!Array.isArray(data)) {
      throw new Error(`Figure: data must be an array of traces (e.g. [{ type: "scatter", x, y }]), got ${typeof data}`);
    }
    data.forEach((trace, i) => {
      if (trace === null || typeof trace !== "object" || Array.isArray(trace)) {
        throw new Error(`Figure: trace ${i} must be an object like { type: "scatter", x, y }, got ${Array.isArray(trace) ? "an array" : String(trace)}`);
      }
    });
    if (layout === null || typeof layout !== "object" || Array.isArray(layout)) {
      throw new Error(`Figure: layout must be an object, got ${Array.isArray(layout) ? "an array" : String(layout)}`);
    }
    this.data = data;
    this.layout = layout;
    this.config = config;
  }

  /** The figure as plain JSON (typed arrays and tensors become arrays), ready for plotly.js. */
  toJSON(): FigureJSON {
    return {
      data: plainData(this.data) as unknown[],
      layout: plainData(this.layout) as Record<string, unknown>,
      config: { ...DEFAULT_CONFIG, ...(plainData(this.config) as Record<string, unknown>) },
    };
  }

  /**
   * The figure's HTML. By default the fragment shown in the notebook (it needs
   * plotly.js on the page); with `standalone: true` a complete HTML document
   * with plotly.js inline, which opens offline in any browser.
   */
  toHTML(options: { standalone?: boolean } = {}): string {
    const fragment = figureHtml(this.toJSON(), uniqueId("llmlab-fig"));
    if (!options.standalone) return fragment;
    const title = escapeHtml(figureTitle(this.layout) ?? "llmlab figure");
    return (
      `<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>${title}</title>\n</head>\n<body>\n` +
      `${plotlyLibraryHtml()}\n${fragment}\n</body>\n</html>\n`
    );
  }

  /** Writes {@link toHTML}`({ standalone: true })` to a file. */
  save(path: string): void {
    fs.writeFileSync(path, this.toHTML({ standalone: true }));
  }

  /** One line per trace describing the figure (the `text/plain` form). */
  summary(): string {
    const title = figureTitle(this.layout);
    const head = `Figure${title ? ` ${JSON.stringify(title)}` : ""}: ${this.data.length} trace${this.data.length === 1 ? "" : "s"}`;
    const axes = [axisSummary("x", this.layout.xaxis), axisSummary("y", this.layout.yaxis)].filter(Boolean).join(", ");
    const lines = [axes ? `${head} (${axes})` : head];
    for (const trace of this.data) lines.push("  " + traceSummary(trace as Record<string, unknown>));
    return lines.join("\n");
  }

  /** The MIME bundle, with no side effect (the notebook uses {@link [DISPLAY_SYMBOL]}). */
  bundle(): MimeBundle {
    const json = this.toJSON();
    return {
      [PLOTLY_MIME]: json,
      "text/html": figureHtml(json, uniqueId("llmlab-fig")),
      "text/plain": this.summary(),
    };
  }

  /**
   * Jupyter rich display. Before the first figure of a kernel session this
   * sends plotly.js to the page as its own output (once; see plotlyjs.ts).
   */
  [DISPLAY_SYMBOL](): MimeBundle {
    ensurePlotlyLibrary();
    return this.bundle();
  }

  /** Shows the figure now (same as `display(fig)`); returns the display handle. */
  show(options: { id?: boolean | string } = {}): DisplayHandle {
    return host().display(this, options);
  }
}

/** The layout's title text, whether given as a string or as `{text}`. */
export function figureTitle(layout: FigureLayout | Record<string, unknown>): string | undefined {
  const t = (layout as Record<string, unknown>).title;
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof (t as { text?: unknown }).text === "string") return (t as { text: string }).text;
  return undefined;
}

function axisSummary(name: string, axis: unknown): string {
  if (!axis || typeof axis !== "object") return "";
  const a = axis as Record<string, unknown>;
  const label = [figureTitle(a), a.type === "log" ? "(log)" : ""].filter(Boolean).join(" ");
  return label ? `${name}: ${label}` : "";
}

function lengthOf(v: unknown): number | undefined {
  if (Array.isArray(v)) return v.length;
  if (ArrayBuffer.isView(v)) return (v as unknown as ArrayLike<number>).length;
  return undefined;
}

function traceSummary(trace: Record<string, unknown>): string {
  const type = typeof trace.type === "string" ? trace.type : "scatter";
  const name = typeof trace.name === "string" ? ` ${JSON.stringify(trace.name)}` : "";
  let size = "";
  if (type === "heatmap" && Array.isArray(trace.z)) {
    const rows = trace.z.length;
    const cols = rows > 0 ? lengthOf(trace.z[0]) ?? 0 : 0;
    size = `${rows}×${cols}`;
  } else if (type === "histogram" && trace.histfunc === "sum" && Array.isArray(trace.y)) {
    const total = (trace.y as unknown[]).reduce((s: number, v) => s + (typeof v === "number" ? v : 0), 0);
    size = `${total} values in ${trace.y.length} bins`;
  } else {
    const n = lengthOf(trace.y) ?? lengthOf(trace.x) ?? lengthOf(trace.values) ?? lengthOf(trace.z);
    if (n !== undefined) size = `${n} point${n === 1 ? "" : "s"}`;
  }
  const mode = type === "scatter" && typeof trace.mode === "string" ? ` (${trace.mode})` : "";
  const axes = trace.xaxis || trace.yaxis ? ` on ${trace.xaxis ?? "x"}/${trace.yaxis ?? "y"}` : "";
  return `${type}${mode}${name}${size ? ": " + size : ""}${axes}`;
}
