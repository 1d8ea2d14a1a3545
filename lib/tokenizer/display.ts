/**
 * Notebook displays for tokenizers: encoded text as coloured token spans,
 * a tokenizer's summary, and the live table of merges during training. Each
 * is an object with a `[Symbol.for("Jupyter.display")]()` method returning
 * `text/html` plus a `text/plain` fallback.
 */

import { DISPLAY_SYMBOL, type MimeBundle } from "../host";
import { hexBytes, printableBytes, utf8Decode } from "./utf8";

/** What a {@link TokenView} needs from a tokenizer. */
export interface TokenSource {
  /** Shown in the header line. */
  readonly name: string;
  /** The bytes of token `id`. */
  tokenBytes(id: number): Uint8Array;
  /** True for special tokens such as `<|endoftext|>` (drawn differently). */
  isSpecial?(id: number): boolean;
}

/** Options of `visualize()`. */
export interface VisualizeOptions {
  /** Draw at most this many tokens (default 20,000); the rest is summarized. */
  maxTokens?: number;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  );
}

const PALETTE = [
  "#fde2e4", "#dfe7fd", "#e2f0cb", "#fff1c1", "#e4d9ff",
  "#cdeffd", "#ffe0c7", "#d7f5e3", "#f8d7f0", "#eeeeee",
];

/** True if `bytes` ends inside a multi-byte UTF-8 character (a lead byte still missing continuation bytes). */
function endsMidCharacter(bytes: Uint8Array): boolean {
  let j = bytes.length - 1;
  let cont = 0;
  while (j >= 0 && cont < 3 && (bytes[j] & 0xc0) === 0x80) {
    j--;
    cont++;
  }
  if (j < 0) return false;
  const b = bytes[j];
  const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  return need > 0 && bytes.length - j < need;
}

/** Characters kept as they are although they are "invisible": they shape emoji and scripts. */
const JOINERS = new Set(["\u200c", "\u200d"]);

const INVISIBLE = /^[\p{C}\p{Z}]$/u;

/** HTML for token text with whitespace and invisible characters made visible. */
function visibleHtml(text: string): string {
  let out = "";
  let plain = "";
  const flush = () => {
    out += escapeHtml(plain);
    plain = "";
  };
  for (const ch of text) {
    let shown: string | null = null;
    if (ch === " ") shown = "·";
    else if (ch === "\n") shown = "↵\n";
    else if (ch === "\t") shown = "→";
    else if (ch === "\r") shown = "␍";
    else if (ch === "\u00a0") shown = "⍽";
    else if (!JOINERS.has(ch) && INVISIBLE.test(ch)) {
      shown = "\\u{" + ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0") + "}";
    }
    if (shown === null) plain += ch;
    else {
      flush();
      out += `<span style="color:#8a8a8a">${escapeHtml(shown)}</span>`;
    }
  }
  flush();
  return out;
}

/** Consecutive tokens shown as one span: together they spell whole characters. */
interface TokenGroup {
  ids: number[];
  bytes: Uint8Array;
  special: boolean;
}

/**
 * Encoded text, shown as coloured token spans. Hover a span to see its id(s)
 * and bytes. When one character is split over several tokens (e.g. an emoji
 * or a Chinese character in GPT-2), those tokens share one span, outlined, and
 * its tooltip lists all of them.
 */
export class TokenView {
  /** The token ids. */
  readonly ids: number[];
  /** Name of the tokenizer that produced them. */
  readonly tokenizerName: string;
  /** Total UTF-8 bytes the tokens stand for. */
  readonly byteCount: number;
  private readonly groups: TokenGroup[];
  private readonly maxTokens: number;

  constructor(source: TokenSource, ids: number[], options: VisualizeOptions = {}) {
    this.ids = ids;
    this.tokenizerName = source.name;
    this.maxTokens = options.maxTokens ?? 20000;
    this.groups = [];
    let byteCount = 0;
    let current: { ids: number[]; parts: Uint8Array[]; length: number } | null = null;
    const close = () => {
      if (current === null) return;
      const bytes = new Uint8Array(current.length);
      let at = 0;
      for (const p of current.parts) {
        bytes.set(p, at);
        at += p.length;
      }
      this.groups.push({ ids: current.ids, bytes, special: false });
      current = null;
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const bytes = source.tokenBytes(id);
      byteCount += bytes.length;
      if (i >= this.maxTokens) continue;
      if (source.isSpecial?.(id)) {
        close();
        this.groups.push({ ids: [id], bytes, special: true });
        continue;
      }
      if (current === null) current = { ids: [], parts: [], length: 0 };
      const cur: { ids: number[]; parts: Uint8Array[]; length: number } = current;
      cur.ids.push(id);
      cur.parts.push(bytes);
      cur.length += bytes.length;
      const joined = cur.parts.length === 1 ? bytes : concat(cur.parts, cur.length);
      if (!endsMidCharacter(joined) || cur.ids.length >= 16) close();
    }
    close();
    this.byteCount = byteCount;
  }

  /** Number of tokens. */
  get length(): number {
    return this.ids.length;
  }

  /** Average bytes per token. */
  get bytesPerToken(): number {
    return this.ids.length === 0 ? 0 : this.byteCount / this.ids.length;
  }

  private header(): string {
    return `${this.tokenizerName}: ${this.ids.length} tokens, ${this.byteCount} bytes, ` +
      `${this.bytesPerToken.toFixed(2)} bytes/token`;
  }

  /** Plain-text form: header, the ids, then the pieces separated by `|`. */
  toString(): string {
    const shownIds = this.ids.length > 1000 ? this.ids.slice(0, 1000).join(", ") + ", …" : this.ids.join(", ");
    const pieces = this.groups.map((g) => printableBytes(g.bytes)).join("|");
    const more = this.ids.length > this.maxTokens ? ` … (${this.ids.length - this.maxTokens} more tokens)` : "";
    return `${this.header()}\n[${shownIds}]\n${pieces}${more}`;
  }

  /** The HTML of the coloured spans. */
  toHTML(): string {
    const spans = this.groups.map((g, i) => {
      const text = utf8Decode(g.bytes);
      const idText = g.ids.length === 1 ? `id ${g.ids[0]}` : `ids ${g.ids.join(", ")}`;
      const split = g.ids.length > 1 ? ` (${g.ids.length} tokens spell these characters together)` : "";
      const title = `${idText}${split}\n${quoted(printableBytes(g.bytes))}\nbytes ${hexBytes(g.bytes)}`;
      const style = g.special
        ? "background:#444;color:#fff;border-radius:3px;padding:1px 3px;margin-right:1px"
        : `background:${PALETTE[i % PALETTE.length]};color:#111;border-radius:3px;padding:1px 0;margin-right:1px` +
          (g.ids.length > 1 ? ";outline:1px dashed #888" : "");
      return `<span title="${escapeHtml(title)}" style="${style}">${g.special ? escapeHtml(text) : visibleHtml(text)}</span>`;
    });
    const more = this.ids.length > this.maxTokens
      ? `<div style="color:#888">… ${this.ids.length - this.maxTokens} more tokens not drawn</div>`
      : "";
    return (
      `<div class="llmlab-tokens">` +
      `<div style="font-family:sans-serif;font-size:12px;color:#666;margin-bottom:4px">${escapeHtml(this.header())}</div>` +
      `<div style="font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;` +
      `white-space:pre-wrap;word-break:break-all;line-height:1.9">${spans.join("")}</div>${more}</div>`
    );
  }

  /** Rich display: coloured spans with a plain-text fallback. */
  [DISPLAY_SYMBOL](): MimeBundle {
    return { "text/plain": this.toString(), "text/html": this.toHTML() };
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A MIME bundle for a titled two-column summary table (label → value), plus optional extra HTML. */
export function summaryBundle(title: string, rows: Array<[string, string]>, extraHtml = "", extraText = ""): MimeBundle {
  const width = Math.max(...rows.map(([k]) => k.length));
  const text = [title, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join("\n") + extraText;
  const html =
    `<div class="llmlab-tokenizer"><b>${escapeHtml(title)}</b>` +
    `<table style="border-collapse:collapse;margin-top:4px">` +
    rows.map(([k, v]) =>
      `<tr><td style="text-align:left;padding:1px 12px 1px 0;color:#666">${escapeHtml(k)}</td>` +
      `<td style="text-align:left;font-family:monospace;word-break:break-all">${escapeHtml(v)}</td></tr>`,
    ).join("") +
    `</table>${extraHtml}</div>`;
  return { "text/plain": text, "text/html": html };
}

/** One row of a merge table: what a learned merge looks like to a reader. */
export interface MergeRow {
  id: number;
  left: string;
  right: string;
  token: string;
  count?: number;
}

/** A printable token in quotes (its escapes are kept as they are, not escaped again). */
function quoted(s: string): string {
  return `"${s}"`;
}

/** HTML table of merges (`left + right → token`), with counts if known. */
export function mergeTableHtml(rows: MergeRow[]): string {
  const hasCount = rows.some((r) => r.count !== undefined);
  const cell = "padding:1px 8px;text-align:left;font-family:monospace";
  return (
    `<table style="border-collapse:collapse">` +
    `<tr><th style="${cell}">id</th><th style="${cell}">left</th><th style="${cell}">right</th>` +
    `<th style="${cell}">token</th>${hasCount ? `<th style="${cell}">count</th>` : ""}</tr>` +
    rows.map((r) =>
      `<tr><td style="${cell}">${r.id}</td><td style="${cell}">${escapeHtml(quoted(r.left))}</td>` +
      `<td style="${cell}">${escapeHtml(quoted(r.right))}</td>` +
      `<td style="${cell}">${escapeHtml(quoted(r.token))}</td>` +
      (hasCount ? `<td style="${cell}">${r.count ?? ""}</td>` : "") + `</tr>`,
    ).join("") +
    `</table>`
  );
}

/** Plain-text lines of merges: `  300: "t" + "he" -> "the"  (count 123)`. */
export function mergeTableText(rows: MergeRow[]): string {
  return rows
    .map((r) => `  ${r.id}: ${quoted(r.left)} + ${quoted(r.right)} -> ${quoted(r.token)}` +
      (r.count !== undefined ? `  (count ${r.count})` : ""))
    .join("\n");
}

/**
 * The live view of a training run: progress and the most recent merges.
 * `BPETokenizer.train(..., { live: true })` shows one and updates it in place.
 */
export class MergeProgress {
  constructor(
    /** Merges done so far. */
    readonly done: number,
    /** Merges requested. */
    readonly total: number,
    /** The most recent merges, oldest first. */
    readonly recent: MergeRow[],
    /** Milliseconds since training started. */
    readonly elapsedMs: number,
    /** True once training has finished. */
    readonly finished: boolean,
  ) {}

  /** One line: how far training is. */
  status(): string {
    const pct = this.total > 0 ? ((100 * this.done) / this.total).toFixed(0) : "100";
    return `${this.finished ? "Trained" : "Training"}: ${this.done} / ${this.total} merges (${pct}%), ` +
      `${(this.elapsedMs / 1000).toFixed(1)} s`;
  }

  /** Rich display: a progress bar and the latest merges. */
  [DISPLAY_SYMBOL](): MimeBundle {
    const pct = this.total > 0 ? Math.min(100, (100 * this.done) / this.total) : 100;
    const bar =
      `<div style="width:320px;height:8px;background:#eee;border-radius:4px;margin:4px 0">` +
      `<div style="width:${pct.toFixed(1)}%;height:8px;background:#4c8bf5;border-radius:4px"></div></div>`;
    return {
      "text/plain": `${this.status()}\n${mergeTableText(this.recent)}`,
      "text/html": `<div><div style="font-family:sans-serif;font-size:12px">${escapeHtml(this.status())}</div>${bar}` +
        mergeTableHtml(this.recent) + `</div>`,
    };
  }
}
