/**
 * Rich output: turning values into MIME bundles, and the `display()` global
 * with its helpers (`display.html`, `display.png`, ...), display ids and
 * `clearOutput()`.
 */
import { inspect } from "node:util";
import { randomUUID } from "node:crypto";
import { DISPLAY_SYMBOL, DisplayHandle, DisplayOptions, MimeBundle } from "../lib/host";

/** A bundle ready for display_data / execute_result content. */
export interface FormattedOutput {
  data: MimeBundle;
  metadata: Record<string, unknown>;
}

/** Where display messages go (the kernel publishes them on iopub). */
export type PublishDisplay = (msgType: "display_data" | "update_display_data" | "clear_output", content: Record<string, unknown>) => void;

const MIME_TYPE = /^[\w.+-]+\/[\w.+-]+$/;

/** True for `{ "text/html": ..., ... }`: a plain object whose keys are all MIME types. */
export function isMimeBundle(obj: unknown): obj is MimeBundle {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return false;
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(obj);
  return keys.length > 0 && keys.every((k) => MIME_TYPE.test(k));
}

function isJsonMime(mime: string): boolean {
  return mime === "application/json" || mime.endsWith("+json");
}

const ASYNC_BOOKKEEPING = new Set(["async_id_symbol", "trigger_async_id_symbol", "kResourceStore"]);

/**
 * Per-cell async contexts (AsyncLocalStorage) make Node tag every promise with
 * bookkeeping symbols, which util.inspect would print. This hides them, so a
 * promise shows as `Promise { 3 }` as in the REPL.
 */
export function hidePromiseBookkeeping(): void {
  Object.defineProperty(Promise.prototype, inspect.custom, {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function (this: Promise<unknown>) {
      for (const sym of Object.getOwnPropertySymbols(this)) {
        if (sym.description && ASYNC_BOOKKEEPING.has(sym.description)) {
          const desc = Object.getOwnPropertyDescriptor(this, sym);
          if (desc?.enumerable) Object.defineProperty(this, sym, { ...desc, enumerable: false });
        }
      }
      // Returning the object itself makes util.inspect format it the default way.
      return this;
    },
  });
}

/** Text for `text/plain`, the way the Node REPL shows values. */
export function plainText(value: unknown): string {
  try {
    return inspect(value, { colors: false, depth: 4, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 100 });
  } catch (e) {
    return `[value that cannot be shown: ${(e as Error)?.message ?? e}]`;
  }
}

function base64(data: Uint8Array | ArrayBuffer | string): string {
  if (typeof data === "string") return data;
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Makes every value of a bundle serialisable the way Jupyter expects. */
function normalizeBundle(bundle: MimeBundle, fallbackText: () => string): MimeBundle {
  const data: MimeBundle = {};
  for (const [mime, value] of Object.entries(bundle)) {
    if (!MIME_TYPE.test(mime) || value === undefined) continue;
    if (isJsonMime(mime)) data[mime] = value;
    else if (typeof value === "string") data[mime] = value;
    else if (value instanceof Uint8Array || value instanceof ArrayBuffer) data[mime] = base64(value);
    else data[mime] = typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  if (data["text/plain"] === undefined) data["text/plain"] = fallbackText();
  return data;
}

/**
 * The MIME bundle of any value: its rich-display method, a MIME bundle as is,
 * or `text/plain` like the REPL.
 */
export function formatValue(value: unknown, metadata: Record<string, unknown> = {}): FormattedOutput {
  if (value !== null && (typeof value === "object" || typeof value === "function")) {
    let rich: unknown;
    let hasRich = false;
    try {
      const fn = (value as any)[DISPLAY_SYMBOL];
      if (typeof fn === "function") {
        rich = fn.call(value);
        hasRich = true;
      }
    } catch (e) {
      return { data: { "text/plain": `[display failed: ${(e as Error)?.message ?? e}]\n${plainText(value)}` }, metadata };
    }
    if (hasRich && rich !== null && typeof rich === "object") {
      const name = (value as any)?.constructor?.name ?? "object";
      return { data: normalizeBundle(rich as MimeBundle, () => `[${name}]`), metadata };
    }
    if (isMimeBundle(value)) {
      return { data: normalizeBundle(value, () => ""), metadata };
    }
  }
  return { data: { "text/plain": plainText(value) }, metadata };
}

/** The `display` global: a function with one helper per common MIME type. */
export interface DisplayFunction {
  (obj: unknown, options?: DisplayOptions): DisplayHandle;
  html(html: string, options?: DisplayOptions): DisplayHandle;
  markdown(markdown: string, options?: DisplayOptions): DisplayHandle;
  text(text: string, options?: DisplayOptions): DisplayHandle;
  svg(svg: string, options?: DisplayOptions): DisplayHandle;
  png(data: Uint8Array | ArrayBuffer | string, options?: ImageOptions): DisplayHandle;
  jpeg(data: Uint8Array | ArrayBuffer | string, options?: ImageOptions): DisplayHandle;
  json(value: unknown, options?: DisplayOptions): DisplayHandle;
  latex(latex: string, options?: DisplayOptions): DisplayHandle;
}

/** Options of the image helpers. */
export interface ImageOptions extends DisplayOptions {
  width?: number;
  height?: number;
}

/** Handles returned by display(): never shown as a cell's result. */
const handles = new WeakSet<object>();

/** True for the handles display() returns (the kernel does not echo them as results). */
export function isDisplayHandle(value: unknown): boolean {
  return value !== null && typeof value === "object" && handles.has(value);
}

function checkString(what: string, value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`${what} expects a string, got ${value === null ? "null" : typeof value}`);
  return value;
}

function checkImage(what: string, data: unknown): Uint8Array | ArrayBuffer | string {
  if (typeof data === "string" || data instanceof Uint8Array || data instanceof ArrayBuffer) return data;
  throw new TypeError(`${what} expects bytes (Uint8Array, Buffer, ArrayBuffer) or base64 text, got ${data === null ? "null" : typeof data}`);
}

/** Builds the `display` global and `clearOutput`, publishing through `publish`. */
export function createDisplay(publish: PublishDisplay): { display: DisplayFunction; clearOutput: (options?: { wait?: boolean }) => void } {
  function show(formatted: FormattedOutput, options: DisplayOptions | undefined): DisplayHandle {
    if (options !== undefined && (options === null || typeof options !== "object")) {
      throw new TypeError(`display options must be an object, got ${typeof options}`);
    }
    const id = typeof options?.id === "string" && options.id !== "" ? options.id : randomUUID();
    const metadata = { ...formatted.metadata, ...(options?.metadata ?? {}) };
    publish("display_data", { data: formatted.data, metadata, transient: { display_id: id } });
    const handle: DisplayHandle = {
      id,
      update(obj: unknown, updateOptions?: { metadata?: Record<string, unknown> }) {
        const next = formatValue(obj);
        publish("update_display_data", {
          data: next.data,
          metadata: { ...next.metadata, ...(updateOptions?.metadata ?? {}) },
          transient: { display_id: id },
        });
      },
    };
    handles.add(handle);
    return handle;
  }

  function bundle(mime: string, value: unknown, text: string, metadata: Record<string, unknown> = {}): FormattedOutput {
    return { data: { [mime]: value, "text/plain": text }, metadata };
  }

  function imageMetadata(mime: string, options?: ImageOptions): Record<string, unknown> {
    const meta: Record<string, unknown> = {};
    if (options?.width !== undefined) meta.width = options.width;
    if (options?.height !== undefined) meta.height = options.height;
    return Object.keys(meta).length > 0 ? { [mime]: meta } : {};
  }

  const display = ((obj: unknown, options?: DisplayOptions) => show(formatValue(obj), options)) as DisplayFunction;
  display.html = (html, options) => show(bundle("text/html", checkString("display.html", html), "[HTML]"), options);
  display.markdown = (md, options) => show(bundle("text/markdown", checkString("display.markdown", md), md), options);
  display.text = (text, options) => show({ data: { "text/plain": checkString("display.text", text) }, metadata: {} }, options);
  display.svg = (svg, options) => show(bundle("image/svg+xml", checkString("display.svg", svg), "[SVG image]"), options);
  display.png = (data, options) =>
    show(bundle("image/png", base64(checkImage("display.png", data)), "[PNG image]", imageMetadata("image/png", options)), options);
  display.jpeg = (data, options) =>
    show(bundle("image/jpeg", base64(checkImage("display.jpeg", data)), "[JPEG image]", imageMetadata("image/jpeg", options)), options);
  display.json = (value, options) => {
    // Round-trip so what is shown is exactly what JSON can carry.
    const json = JSON.parse(JSON.stringify(value ?? null));
    return show(bundle("application/json", json, plainText(value)), options);
  };
  display.latex = (latex, options) => show(bundle("text/latex", checkString("display.latex", latex), latex), options);

  function clearOutput(options?: { wait?: boolean }): void {
    publish("clear_output", { wait: options?.wait === true });
  }

  return { display, clearOutput };
}
