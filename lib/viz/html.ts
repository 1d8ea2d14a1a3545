/**
 * Small string helpers for building the HTML the notebook renders: escaping
 * text, embedding JSON in an inline `<script>`, formatting numbers.
 */

/** Escapes text for use inside HTML element content or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/**
 * JSON that is safe to paste inside an inline `<script>`: `<`, `>` and `&` are
 * written as `\u` escapes so that a string such as `"</script>"` in the data
 * (a token label, a column name) cannot end the script early; everything
 * beyond ASCII (U+2028/2029 included) is escaped too. Non-finite numbers become
 * `null`, as in `JSON.stringify`.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    // Non-ASCII as \u escapes too: the data then survives pages that do not declare UTF-8.
    .replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/**
 * JavaScript source made safe to inline in a `<script>` element: the sequences
 * `</script` and `<!--` (which the HTML parser would act on) are rewritten with
 * a `\x3C` escape, which means the same `<` inside JS strings, regexes and
 * comments — the only places they can occur in real code.
 */
export function scriptSafe(source: string): string {
  return source.replace(/<(\/script|!--)/gi, "\\x3C$1");
}

let idCounter = 0;

/** A page-unique element id (random part so ids from different kernel sessions never clash). */
export function uniqueId(prefix: string): string {
  idCounter += 1;
  const random = Math.random().toString(36).slice(2, 10);
  return `${prefix}-${random}-${idCounter}`;
}

/** A compact human-readable number: 3 significant digits with k/M/G suffixes for big values. */
export function humanNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 1e9) return (x / 1e9).toPrecision(3).replace(/\.?0+$/, "") + "G";
  if (abs >= 1e6) return (x / 1e6).toPrecision(3).replace(/\.?0+$/, "") + "M";
  if (abs >= 1e4) return (x / 1e3).toPrecision(3).replace(/\.?0+$/, "") + "k";
  if (Number.isInteger(x)) return String(x);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e4)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/** Seconds as `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${two(m)}:${two(sec)}`;
}
