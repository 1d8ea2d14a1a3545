/**
 * A progress bar for long loops: an HTML bar updated in place in a notebook,
 * a `\r` line on stderr in a terminal. Throttled, so calling `update()` every
 * step costs next to nothing.
 *
 *     const bar = progress(steps, { label: "train" });
 *     for (let i = 1; i <= steps; i++) { …; bar.update(i, { loss }); }
 *     bar.close();
 */

import { DISPLAY_SYMBOL, DisplayHandle, host, MimeBundle } from "../host";
import { escapeHtml, formatDuration } from "./html";

/** Options of {@link progress}. */
export interface ProgressOptions {
  /** Shown before the bar. */
  label?: string;
  /** Name of one step in the rate (default "it", as in "12.3 it/s"). */
  unit?: string;
  /** Redraw at most this often (default 200 ms in a notebook, 100 ms on a terminal, 1 s when stderr is a file or pipe). */
  minIntervalMs?: number;
  /** Draw nothing at all (e.g. `disable: !verbose`). */
  disable?: boolean;
  /** Where the terminal line goes (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Clock in ms (tests pass a fake one). */
  now?: () => number;
}

/** Extra values shown after the bar, e.g. `{ loss: 2.31 }`. */
export type ProgressInfo = Record<string, number | string | boolean | null | undefined>;

function formatValue(v: unknown): string {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    const abs = Math.abs(v);
    return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
  }
  return String(v);
}

function formatRate(rate: number, unit: string): string {
  if (!Number.isFinite(rate) || rate <= 0) return `? ${unit}/s`;
  if (rate >= 1) return `${rate >= 100 ? Math.round(rate) : rate.toFixed(rate >= 10 ? 1 : 2)} ${unit}/s`;
  return `${(1 / rate).toFixed(2)} s/${unit}`;
}

const BLOCKS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/** A text bar of `width` cells filled to `fraction`, with eighth-block precision. */
export function textBar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, fraction));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = BLOCKS[eighths % 8];
  return ("█".repeat(full) + part).padEnd(width, " ");
}

/**
 * A progress bar; create it with {@link progress}. In a notebook it is one
 * output updated in place; in a terminal one line rewritten with `\r`.
 */
export class ProgressBar {
  /** The number of steps to do (undefined: unknown, no % or ETA). */
  readonly total: number | undefined;
  /** The label shown before the bar. */
  readonly label: string;
  /** The last step reported. */
  step = 0;
  /** The values shown after the bar. */
  info: ProgressInfo = {};
  /** How many times the bar was drawn (throttling keeps this small). */
  draws = 0;
  /** True after {@link close}. */
  closed = false;

  private readonly unit: string;
  private readonly now: () => number;
  private readonly minInterval: number;
  private readonly notebook: boolean;
  private readonly disabled: boolean;
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly start: number;
  private lastDraw = -Infinity;
  private handle: DisplayHandle | undefined;
  private lastLineLength = 0;
  private shownFinished = false;

  constructor(total?: number, options: ProgressOptions = {}) {
    if (total !== undefined && !(Number.isFinite(total) && total >= 0)) {
      throw new Error(`progress: total must be a non-negative number of steps (or undefined), got ${total}`);
    }
    this.total = total;
    this.label = options.label ?? "";
    this.unit = options.unit ?? "it";
    this.now = options.now ?? (() => performance.now());
    this.disabled = options.disable === true;
    this.notebook = host().interactive;
    this.stream = options.stream ?? process.stderr;
    this.minInterval =
      options.minIntervalMs ?? (this.notebook ? 200 : this.stream.isTTY ? 100 : 1000);
    this.start = this.now();
    this.draw(true);
  }

  /** Reports that `step` steps are done (absolute, not an increment); `info` is shown after the bar. */
  update(step: number, info?: ProgressInfo): void {
    if (!Number.isFinite(step)) throw new Error(`progress.update: step must be a number, got ${step}`);
    this.step = step;
    if (info) this.info = { ...this.info, ...info };
    if (this.closed) return;
    // Reaching the total always shows (once), so the bar never sticks at 99%.
    const justFinished = this.total !== undefined && step >= this.total && !this.shownFinished;
    this.draw(justFinished);
  }

  /** Advances by `n` steps (default 1). */
  advance(n = 1, info?: ProgressInfo): void {
    this.update(this.step + n, info);
  }

  /** Draws the final state and ends the terminal line. Safe to call twice. */
  close(info?: ProgressInfo): void {
    if (this.closed) return;
    if (info) this.info = { ...this.info, ...info };
    this.closed = true;
    this.draw(true);
    if (!this.notebook && !this.disabled) this.stream.write("\n");
  }

  /** Seconds since the bar was created. */
  elapsed(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Steps per second so far. */
  rate(): number {
    const s = this.elapsed();
    return s > 0 ? this.step / s : NaN;
  }

  /** The bar as one line of text (what a terminal shows). */
  text(): string {
    const parts: string[] = [];
    if (this.label) parts.push(`${this.label}:`);
    const elapsed = this.elapsed();
    const rate = this.rate();
    if (this.total !== undefined && this.total > 0) {
      const f = Math.min(1, this.step / this.total);
      const eta = rate > 0 ? (this.total - this.step) / rate : NaN;
      parts.push(`${String(Math.floor(f * 100)).padStart(3)}%|${textBar(f)}| ${this.step}/${this.total}`);
      parts.push(`[${formatDuration(elapsed)}<${this.closed ? "00:00" : formatDuration(eta)}, ${formatRate(rate, this.unit)}]`);
    } else {
      parts.push(`${this.step}${this.total === 0 ? "/0" : ""} [${formatDuration(elapsed)}, ${formatRate(rate, this.unit)}]`);
    }
    const extra = this.infoText();
    if (extra) parts.push(extra);
    return parts.join(" ");
  }

  private infoText(): string {
    return Object.entries(this.info)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(" ");
  }

  /** The bar as HTML (what a notebook shows). */
  html(): string {
    const f = this.total ? Math.min(1, this.step / this.total) : this.closed ? 1 : 0;
    const finished = this.total !== undefined && this.step >= this.total;
    const color = this.closed && !finished && this.total !== undefined ? "#e69138" : finished ? "#4caf50" : "#4c8bf5";
    const rate = this.rate();
    const eta = this.total !== undefined && rate > 0 ? (this.total - this.step) / rate : NaN;
    const counts = this.total !== undefined ? `${this.step}/${this.total}` : `${this.step}`;
    const percent = this.total ? `${Math.floor(f * 100)}%` : "";
    const timing = `${formatDuration(this.elapsed())}${this.total !== undefined ? ` &lt; ${this.closed ? "00:00" : formatDuration(eta)}` : ""}, ${escapeHtml(formatRate(rate, this.unit))}`;
    const extra = this.infoText();
    return (
      `<div class="llmlab-progress" style="display:flex;align-items:center;gap:8px;font:12px/1.6 monospace">` +
      (this.label ? `<span>${escapeHtml(this.label)}</span>` : "") +
      `<div style="flex:0 0 240px;height:12px;background:#e3e3e3;border-radius:3px;overflow:hidden">` +
      `<div style="width:${(f * 100).toFixed(1)}%;height:100%;background:${color}"></div></div>` +
      `<span>${percent} ${counts} [${timing}]${extra ? " " + escapeHtml(extra) : ""}</span>` +
      `</div>`
    );
  }

  /** Rich display: the HTML bar with the text line as fallback. */
  [DISPLAY_SYMBOL](): MimeBundle {
    return { "text/html": this.html(), "text/plain": this.text() };
  }

  private draw(force: boolean): void {
    if (this.disabled) return;
    const t = this.now();
    if (!force && t - this.lastDraw < this.minInterval) return;
    this.lastDraw = t;
    this.draws += 1;
    if (this.total !== undefined && this.step >= this.total) this.shownFinished = true;
    if (this.notebook) {
      // A snapshot, so a later update cannot change what an earlier message shows.
      const bundle = this[DISPLAY_SYMBOL]();
      const snapshot = { [DISPLAY_SYMBOL]: () => bundle };
      if (this.handle) this.handle.update(snapshot);
      else this.handle = host().display(snapshot, { id: true });
    } else {
      const line = this.text();
      const pad = this.lastLineLength > line.length ? " ".repeat(this.lastLineLength - line.length) : "";
      this.lastLineLength = line.length;
      this.stream.write("\r" + line + pad);
    }
  }
}

/**
 * A progress bar over `total` steps (omit it when unknown). Call
 * `bar.update(step, { loss })` as you go and `bar.close()` at the end.
 * Works with or without a notebook: no host set means a terminal line on stderr.
 */
export function progress(total?: number, options: ProgressOptions = {}): ProgressBar {
  return new ProgressBar(total, options);
}
