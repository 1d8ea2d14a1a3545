/**
 * Live views: a figure shown once with a display id and redrawn in place
 * (Jupyter `update_display_data`), throttled so that a training loop can
 * report every step without flooding the notebook or slowing down; and the
 * training {@link Dashboard} built on it (loss, val loss, lr, tokens/s).
 *
 * Throttling never uses timers: a redraw happens inside `update()`/`log()`
 * when enough steps and milliseconds have passed, and `close()` draws the
 * final state. Nothing runs in the background after the loop ends.
 */

import { DISPLAY_SYMBOL, DisplayHandle, host, MimeBundle } from "../host";
import { subplots } from "./charts";
import { Figure, FigureData } from "./figure";
import { formatDuration, humanNumber } from "./html";
import { ensurePlotlyLibrary } from "./plotlyjs";
import { ProgressBar } from "./progress";

/** Options of {@link LiveFigure}. */
export interface LiveOptions {
  /** Redraw at most this often (default 250 ms in a notebook, 5 s in a terminal). */
  minIntervalMs?: number;
  /** Clock in ms (tests pass a fake one). */
  now?: () => number;
}

/**
 * A figure output that is redrawn in place. `update(fig)` redraws at most
 * every `minIntervalMs`; an update that comes too soon is kept and drawn by the
 * next one that is due, or by `flush()`/`close()`. Pass a function to build the
 * figure only when it will actually be drawn:
 *
 *     const view = plot.live();
 *     for (…) { losses.push(loss); view.update(() => plot.line(losses)); }
 *     view.close();
 */
export class LiveFigure {
  /** How many times the output was (re)drawn. */
  draws = 0;
  private handle: DisplayHandle | undefined;
  private pending: Figure | (() => Figure) | undefined;
  private lastDraw = -Infinity;
  private readonly minInterval: number;
  private readonly now: () => number;

  constructor(initial?: Figure, options: LiveOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.minInterval = options.minIntervalMs ?? (host().interactive ? 250 : 5000);
    if (initial !== undefined) this.update(initial, { force: true });
  }

  /** The display id of the output (undefined before the first draw). */
  get id(): string | undefined {
    return this.handle?.id;
  }

  /** Shows `fig` (now if due or `force`, else at the next due update or flush); returns whether it drew. */
  update(fig: Figure | (() => Figure), options: { force?: boolean } = {}): boolean {
    if (!(fig instanceof Figure) && typeof fig !== "function") {
      throw new Error("LiveFigure.update: expected a Figure or a function returning one");
    }
    this.pending = fig;
    const t = this.now();
    if (!options.force && t - this.lastDraw < this.minInterval) return false;
    this.lastDraw = t;
    this.drawPending();
    return true;
  }

  /** Draws the last figure given if it was not drawn yet. */
  flush(): void {
    if (this.pending !== undefined) {
      this.lastDraw = this.now();
      this.drawPending();
    }
  }

  /** Same as {@link flush}; call it when the loop ends. */
  close(): void {
    this.flush();
  }

  private drawPending(): void {
    const p = this.pending!;
    this.pending = undefined;
    const fig = typeof p === "function" ? p() : p;
    if (!(fig instanceof Figure)) throw new Error("LiveFigure.update: the function did not return a Figure");
    this.show(fig);
  }

  /** Sends a displayable: the first time as a new output with an id, then as updates of it. */
  protected show(obj: unknown): void {
    this.draws += 1;
    if (this.handle) {
      this.handle.update(obj);
    } else {
      // plotly.js goes out first, as its own output that later updates never replace.
      ensurePlotlyLibrary();
      this.handle = host().display(obj, { id: true });
    }
  }
}

/** One panel of the dashboard: the metrics drawn together on one plot. */
export interface DashboardPanel {
  title: string;
  /** Metric names drawn in this panel. */
  keys: string[];
  /** Logarithmic y axis. */
  logY?: boolean;
}

/** Options of {@link Dashboard}. */
export interface DashboardOptions {
  /** Shown above the plots. */
  title?: string;
  /** The number of steps planned (for %, ETA, and the terminal bar). */
  total?: number;
  /** Redraw at most every `every` steps (default 1)… */
  every?: number;
  /** …and at most every `minIntervalMs` ms (default 1000 in a notebook, 100 on a terminal line). */
  minIntervalMs?: number;
  /** Points drawn per curve; longer histories are thinned evenly (default 500; all points are kept). */
  maxPoints?: number;
  /**
   * How metrics are grouped into plots. Default: every metric whose name
   * contains "loss" together (log y), `lr` alone, `tokensPerSec` alone, and
   * one plot per other metric, in the order first logged.
   */
  panels?: DashboardPanel[];
  /** Where the terminal status line goes (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Clock in ms (tests pass a fake one). */
  now?: () => number;
}

/** Metric values at one step; null/undefined/NaN are skipped (e.g. val loss only every 100 steps). */
export type Metrics = Record<string, number | null | undefined>;

/** The history of one metric. */
export interface MetricHistory {
  steps: number[];
  values: number[];
}

function isLossKey(key: string): boolean {
  return /loss|perplexity|ppl/i.test(key);
}

function isLrKey(key: string): boolean {
  return /^(lr|learningRate|learning_rate)$/i.test(key);
}

function isThroughputKey(key: string): boolean {
  return /tok(en)?s?_?(per_?sec|\/s|PerSec|PerSecond)|throughput/i.test(key);
}

/** Evenly thins `n` indices down to at most `max`, always keeping the first and last. */
export function thinIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  const stride = (n - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(Math.round(i * stride));
  return out;
}

/**
 * A live training dashboard: call `log(step, { loss, valLoss, lr, tokensPerSec })`
 * every step; it redraws one notebook output in place at most every `every`
 * steps and every `minIntervalMs` ms (in a terminal: a status line on stderr).
 * Recording a step costs well under a microsecond; a redraw rebuilds the
 * figure from at most `maxPoints` points per curve (see `npm run bench`).
 *
 *     const dash = plot.dashboard({ total: steps });
 *     for (let step = 1; step <= steps; step++) { …; dash.log(step, { loss, lr }); }
 *     dash.close();
 */
export class Dashboard extends LiveFigure {
  /** Every value logged, per metric. */
  readonly history = new Map<string, MetricHistory>();
  /** The last step logged. */
  step = 0;
  private readonly options: DashboardOptions;
  private readonly every: number;
  private readonly maxPoints: number;
  private readonly clock: () => number;
  private readonly started: number;
  private lastDrawStep = -Infinity;
  private lastDrawTime = -Infinity;
  private readonly bar: ProgressBar | undefined;
  private finished = false;
  /** Values were logged since the last redraw (e.g. a val loss logged at the step already drawn). */
  private dirty = false;

  constructor(options: DashboardOptions = {}) {
    const now = options.now ?? (() => performance.now());
    const notebook = host().interactive;
    const minIntervalMs = options.minIntervalMs ?? (notebook ? 1000 : 100);
    super(undefined, { minIntervalMs: 0, now });
    this.options = options;
    this.clock = now;
    this.started = now();
    this.every = Math.max(1, Math.floor(options.every ?? 1));
    this.maxPoints = Math.max(2, options.maxPoints ?? 500);
    this.minIntervalMs = minIntervalMs;
    if (!notebook) this.bar = new ProgressBar(options.total, { label: options.title ?? "train", minIntervalMs, now, unit: "step", stream: options.stream });
  }

  private readonly minIntervalMs: number;

  /**
   * Records the metrics of `step` and redraws if due. Returns whether it redrew.
   */
  log(step: number, metrics: Metrics): boolean {
    if (!Number.isFinite(step)) throw new Error(`Dashboard.log: step must be a number, got ${step}`);
    if (metrics === null || typeof metrics !== "object") throw new Error("Dashboard.log: metrics must be an object like { loss: 2.3 }");
    this.step = step;
    for (const key in metrics) {
      const v = metrics[key];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        if (v !== null && v !== undefined && typeof v !== "number") {
          throw new Error(`Dashboard.log: metric ${JSON.stringify(key)} must be a number, got ${typeof v}`);
        }
        continue;
      }
      let h = this.history.get(key);
      if (!h) this.history.set(key, (h = { steps: [], values: [] }));
      h.steps.push(step);
      h.values.push(v);
    }
    this.dirty = true;
    if (this.bar) {
      this.bar.update(step, this.latest());
      return false;
    }
    const t = this.clock();
    const last = this.options.total !== undefined && step >= this.options.total && !this.finished;
    if (!last && (step - this.lastDrawStep < this.every || t - this.lastDrawTime < this.minIntervalMs)) return false;
    if (last) this.finished = true;
    this.redraw();
    return true;
  }

  /** Draws the current state now (and ends the terminal line). Call it when training ends. */
  override close(): void {
    if (this.bar) {
      this.bar.close(this.latest());
      return;
    }
    if (this.dirty || this.draws === 0) this.redraw();
  }

  /** Redraws now, whatever the throttle says. */
  override flush(): void {
    if (this.bar) return;
    this.redraw();
  }

  /** As a cell's last expression: a snapshot of the current figure (the live output keeps updating). */
  [DISPLAY_SYMBOL](): MimeBundle {
    const b = this.figure()[DISPLAY_SYMBOL]();
    b["text/plain"] = this.status();
    return b;
  }

  private redraw(): void {
    this.dirty = false;
    this.lastDrawStep = this.step;
    this.lastDrawTime = this.clock();
    const fig = this.figure();
    const status = this.status();
    const bundle = (): MimeBundle => {
      const b = fig[DISPLAY_SYMBOL]();
      b["text/plain"] = status;
      return b;
    };
    this.show({ [DISPLAY_SYMBOL]: bundle });
  }

  /** The last value of each metric. */
  latest(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, h] of this.history) out[k] = h.values[h.values.length - 1];
    return out;
  }

  /** One line: step, %, the latest metrics, elapsed time and ETA. */
  status(): string {
    const total = this.options.total;
    const elapsed = (this.clock() - this.started) / 1000;
    const parts = [total !== undefined ? `step ${this.step}/${total}` : `step ${this.step}`];
    for (const [k, v] of Object.entries(this.latest())) parts.push(`${k} ${humanNumber(v)}`);
    let time = formatDuration(elapsed);
    if (total !== undefined && this.step > 0 && this.step < total) {
      time += ` (ETA ${formatDuration((elapsed / this.step) * (total - this.step))})`;
    }
    parts.push(time);
    return parts.join(" · ");
  }

  /** The panels in use: the configured ones, or the default grouping of the metrics seen so far. */
  panels(): DashboardPanel[] {
    if (this.options.panels) return this.options.panels;
    const keys = [...this.history.keys()];
    const panels: DashboardPanel[] = [];
    const losses = keys.filter(isLossKey);
    if (losses.length) panels.push({ title: "loss", keys: losses, logY: true });
    for (const k of keys) {
      if (isLossKey(k)) continue;
      if (isLrKey(k)) panels.push({ title: "learning rate", keys: [k] });
      else if (isThroughputKey(k)) panels.push({ title: "tokens/s", keys: [k] });
      else panels.push({ title: k, keys: [k] });
    }
    return panels;
  }

  /** The dashboard as a figure (one plot per panel, histories thinned to `maxPoints`). */
  figure(): Figure {
    const panels = this.panels();
    const figs = panels.map((p) => {
      const data: FigureData[] = [];
      for (const key of p.keys) {
        const h = this.history.get(key);
        if (!h) continue;
        const idx = thinIndices(h.steps.length, this.maxPoints);
        data.push({
          type: "scatter",
          mode: h.steps.length === 1 ? "markers" : "lines",
          name: key,
          x: idx.map((i) => h.steps[i]),
          // 5 significant digits are plenty on screen and halve the update's size.
          y: idx.map((i) => Number(h.values[i].toPrecision(5))),
        } as FigureData);
      }
      return new Figure(data, { title: { text: p.title }, yaxis: p.logY ? { type: "log" } : {}, xaxis: { title: { text: "step" } } });
    });
    const cols = Math.min(3, Math.max(1, figs.length));
    const rows = Math.max(1, Math.ceil(figs.length / cols));
    const fig = subplots(rows, cols, figs.length ? figs : [new Figure()], {
      title: `${this.options.title ? this.options.title + " — " : ""}${this.status()}`,
      height: rows * 280 + 80,
      showLegend: figs.some((f) => f.data.length > 1),
    });
    fig.layout.title = { text: fig.layout.title?.text, font: { size: 14 } };
    return fig;
  }
}
