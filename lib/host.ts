/**
 * The one seam between the library and whoever runs it (the Jupyter kernel, a
 * CLI, a test). The library never imports `kernel/`; instead the kernel calls
 * {@link setHost} once at start-up and hands over two things: a way to show
 * rich output and the abort signal of the cell that is running.
 *
 * Outside the kernel the default host prints `text/plain` to stdout and never
 * aborts, so every library function also works in a plain Node script.
 */

/** A Jupyter MIME bundle: MIME type → data (string, or JSON for `+json` types). */
export type MimeBundle = Record<string, unknown>;

/**
 * Objects with a method under this symbol show richly in the notebook, both as a
 * cell's last expression and through `display()`. The method returns a MIME bundle.
 */
export const DISPLAY_SYMBOL: unique symbol = Symbol.for("Jupyter.display") as any;

/** Anything that can show itself as a MIME bundle. */
export interface Displayable {
  [DISPLAY_SYMBOL](): MimeBundle;
}

/** Options for {@link Host.display}. */
export interface DisplayOptions {
  /** `true` to get a handle whose `update()` replaces the output in place; a string to reuse that id. */
  id?: boolean | string;
  /** Per-MIME-type metadata sent with the bundle. */
  metadata?: Record<string, unknown>;
}

/** A live output: `update()` redraws it in place (Jupyter `update_display_data`). */
export interface DisplayHandle {
  readonly id: string;
  update(obj: unknown, options?: { metadata?: Record<string, unknown> }): void;
}

/** What the environment provides to the library. */
export interface Host {
  /** Show an object (a MIME bundle, a {@link Displayable}, or any value). */
  display(obj: unknown, options?: DisplayOptions): DisplayHandle;
  /**
   * The abort signal of the work that is running now (in the kernel: the
   * current cell; it fires on interrupt). Long loops check it at step boundaries.
   */
  abortSignal(): AbortSignal | undefined;
  /** True inside a notebook (rich output is seen), false in a terminal. */
  readonly interactive: boolean;
  /**
   * Optional: the id of the notebook cell running now, when the frontend sent
   * one (execute_request `metadata.cellId`; JupyterLab and Notebook 7 do). lib/viz
   * uses it to send plotly.js again when the cell that carried it is re-run.
   */
  cellId?(): string | undefined;
}

let counter = 0;

/** The host used when nothing else was set: plain text on stdout, never aborts. */
export const consoleHost: Host = {
  display(obj: unknown): DisplayHandle {
    const text = toPlainText(obj);
    if (text !== undefined) process.stdout.write(text + "\n");
    const id = `console-${++counter}`;
    return {
      id,
      update(next: unknown) {
        const t = toPlainText(next);
        if (t !== undefined) process.stdout.write(t + "\n");
      },
    };
  },
  abortSignal: () => undefined,
  interactive: false,
};

let current: Host = consoleHost;

/** Install the host (the kernel does this once at start-up). */
export function setHost(host: Host): void {
  current = host;
}

/** The host in use now. */
export function host(): Host {
  return current;
}

/** The MIME bundle of an object that implements the rich-display protocol, else undefined. */
export function richBundle(obj: unknown): MimeBundle | undefined {
  if (obj !== null && (typeof obj === "object" || typeof obj === "function")) {
    const fn = (obj as any)[DISPLAY_SYMBOL];
    if (typeof fn === "function") return fn.call(obj);
  }
  return undefined;
}

function toPlainText(obj: unknown): string | undefined {
  const bundle = richBundle(obj);
  if (bundle) {
    const plain = bundle["text/plain"];
    return typeof plain === "string" ? plain : undefined;
  }
  if (typeof obj === "string") return obj;
  return require("node:util").inspect(obj, { colors: false, depth: 4 });
}

/** Throws an `AbortError` if the signal (default: the host's) has fired. */
export function throwIfAborted(signal: AbortSignal | undefined = current.abortSignal()): void {
  if (signal?.aborted) {
    const err = new Error("Interrupted");
    err.name = "AbortError";
    throw err;
  }
}
