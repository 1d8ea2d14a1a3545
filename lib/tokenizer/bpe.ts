/**
 * Byte-level BPE tokenizer, minbpe style: train your own on a text, or load
 * OpenAI's GPT-2 / GPT-4 / GPT-4o vocabularies (see `encodingFor`).
 *
 * ```ts
 * const tok = new BPETokenizer();                    // GPT-4 split pattern
 * await tok.train(text, 512, { live: true });        // watch the merges
 * tok.encode("hello world");                         // → ids
 * tok.decode(ids);                                   // → text
 * tok.visualize("hello world");                      // coloured token spans
 * tok.save("model/");                                // model/tokenizer.json
 * ```
 */

import { DISPLAY_SYMBOL, host, throwIfAborted, type DisplayHandle, type MimeBundle } from "../host";
import {
  badId, checkIds, checkText, DisallowedSpecialTokenError, FORMAT_NAME, FORMAT_VERSION, readTokenizerJSON, writeTokenizerFile,
  type EncodeOptions, type Tokenizer,
} from "./common";
import { BpeCore, MAX_VOCAB, type Merge } from "./core";
import {
  MergeProgress, TokenView, mergeTableHtml, mergeTableText, summaryBundle,
  type MergeRow, type VisualizeOptions,
} from "./display";
import { GPT2_SPLIT_PATTERN, GPT4O_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, SplitPattern } from "./patterns";
import { isEncodingName, loadEncodingData } from "./ranks";
import { BpeTrainer, type MergeInfo } from "./train";
import { printableBytes, utf8Decode, utf8Encode, utf8Length } from "./utf8";

export type { MergeInfo } from "./train";
export type { Merge } from "./core";

/** Options of {@link BPETokenizer.train}. */
export interface TrainOptions {
  /**
   * Split pattern: a RegExp source, a RegExp (its source is used; always
   * compiled with the `gu` flags), or a name: `"gpt2"`, `"gpt4"` /
   * `"cl100k_base"`, `"gpt4o"` / `"o200k_base"`. `null` trains on the whole
   * text as one sequence (minbpe's BasicTokenizer). Default: the tokenizer's pattern.
   */
  pattern?: string | RegExp | null;
  /** Print every merge to stdout, like minbpe's `verbose=True`. */
  verbose?: boolean;
  /** Called after every merge. */
  onMerge?: (merge: MergeInfo) => void;
  /** Called every `every` merges and once at the end, with progress and the latest merges. */
  onProgress?: (progress: MergeProgress) => void;
  /** How many merges between `onProgress` calls and live-view updates (default 10). */
  every?: number;
  /**
   * Show a live view in the notebook (progress bar + latest merges, updated
   * in place). `true` shows the last 10 merges; a number sets how many.
   */
  live?: boolean | number;
  /** Stops training with an AbortError (default: the current cell's interrupt signal). */
  signal?: AbortSignal;
}

/** Options of the {@link BPETokenizer} constructor. */
export interface BPETokenizerOptions {
  /** Split pattern (see {@link TrainOptions.pattern}); default {@link GPT4_SPLIT_PATTERN}. */
  pattern?: string | RegExp | null;
  /** Name shown in displays. */
  name?: string;
}

/** Names accepted in place of a pattern source. */
const NAMED_PATTERNS: Record<string, string> = {
  gpt2: GPT2_SPLIT_PATTERN, "gpt-2": GPT2_SPLIT_PATTERN, r50k_base: GPT2_SPLIT_PATTERN,
  gpt4: GPT4_SPLIT_PATTERN, "gpt-4": GPT4_SPLIT_PATTERN, cl100k_base: GPT4_SPLIT_PATTERN,
  gpt4o: GPT4O_SPLIT_PATTERN, "gpt-4o": GPT4O_SPLIT_PATTERN, o200k_base: GPT4O_SPLIT_PATTERN,
};

function patternSource(pattern: string | RegExp | null): string | null {
  if (pattern === null) return null;
  if (pattern instanceof RegExp) return pattern.source;
  if (typeof pattern === "string") return NAMED_PATTERNS[pattern.toLowerCase()] ?? pattern;
  throw new TypeError(`pattern must be a string, a RegExp or null, got ${typeof pattern}`);
}

/** A short description of a split pattern for displays. */
function describePattern(pattern: string | null): string {
  if (pattern === null) return "none (whole text is one sequence)";
  if (pattern === GPT2_SPLIT_PATTERN) return "GPT-2 (r50k_base)";
  if (pattern === GPT4_SPLIT_PATTERN) return "GPT-4 (cl100k_base)";
  if (pattern === GPT4O_SPLIT_PATTERN) return "GPT-4o (o200k_base)";
  return "custom: " + pattern;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * A byte-level BPE tokenizer: text is split into chunks by a pattern, each
 * chunk's UTF-8 bytes are merged into tokens by the learned merges, and
 * special tokens (like `<|endoftext|>`) are handled with tiktoken's rules.
 *
 * Lone surrogates in the input (half of a UTF-16 pair, which is not valid
 * Unicode) are encoded as U+FFFD, like `TextEncoder` does; so
 * `decode(encode(s)) === s` for every well-formed string, and for other
 * strings decode gives `s` with each lone surrogate replaced by U+FFFD.
 */
export class BPETokenizer implements Tokenizer {
  /** Always `"bpe"`. */
  readonly kind = "bpe" as const;
  /** Name shown in displays. */
  name: string;

  private core: BpeCore;
  private patternStr: string | null;
  private regex: SplitPattern | null;
  /** Set for OpenAI's vocabularies: saved by name rather than by merges. */
  private encoding: string | null = null;
  private readonly specials = new Map<string, number>();
  private readonly specialsById = new Map<number, string>();
  private readonly specialRegexes = new Map<string, RegExp>();
  private vocabMap: Map<number, Uint8Array> | null = null;

  /** An untrained tokenizer (the 256 byte tokens only). */
  constructor(options: BPETokenizerOptions = {}) {
    this.patternStr = patternSource(options.pattern === undefined ? GPT4_SPLIT_PATTERN : options.pattern);
    this.regex = this.patternStr === null ? null : new SplitPattern(this.patternStr);
    this.core = BpeCore.fromMerges([]);
    this.name = options.name ?? "bpe";
  }

  /** @internal Builds a tokenizer on a pretrained encoding (use `encodingFor`). */
  static fromEncoding(name: string): BPETokenizer {
    const data = loadEncodingData(name);
    const tok = new BPETokenizer({ pattern: data.pattern, name: data.name });
    tok.core = data.core;
    tok.encoding = data.name;
    tok.registerSpecialTokens(data.specialTokens);
    return tok;
  }

  /** Trains a new tokenizer; shorthand for `new BPETokenizer({ pattern }).train(...)`. */
  static train(text: string, vocabSize: number, options: TrainOptions = {}): Promise<BPETokenizer> {
    return new BPETokenizer({ pattern: options.pattern }).train(text, vocabSize, options);
  }

  // ---------------------------------------------------------------- training

  /**
   * Learns `vocabSize - 256` merges from `text` (replacing any previous
   * vocabulary; registered special tokens are kept and must have ids ≥
   * `vocabSize`). Returns a promise: `await` it. In a notebook (or with
   * `live` / `signal`) it yields to the event loop every ~25 ms, so live views
   * update and an interrupt stops it (AbortError; the tokenizer is then left
   * unchanged); elsewhere it completes before returning. Stops early if every
   * chunk has become a single token. minbpe's `verbose` printing is
   * `{ verbose: true }`; {@link BPETokenizer.trainSync} is the blocking form.
   */
  async train(text: string, vocabSize: number, options: TrainOptions = {}): Promise<this> {
    const signal = options.signal ?? host().abortSignal();
    throwIfAborted(signal);
    const run = this.startTraining(text, vocabSize, options);
    // Yield only where someone can watch or interrupt (a notebook, a live view,
    // a signal); in a plain script the work finishes before train() returns.
    const cooperative = host().interactive || signal !== undefined || (options.live !== undefined && options.live !== false);
    let lastYield = Date.now();
    while (run.step()) {
      if (cooperative && Date.now() - lastYield >= 25) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        throwIfAborted(signal);
        lastYield = Date.now();
      }
    }
    run.finish();
    return this;
  }

  /** Like {@link BPETokenizer.train} but synchronous (no live updates or interrupts while it runs). */
  trainSync(text: string, vocabSize: number, options: TrainOptions = {}): this {
    const run = this.startTraining(text, vocabSize, options);
    while (run.step()) {
      /* every merge reports through the callbacks */
    }
    run.finish();
    return this;
  }

  private startTraining(text: string, vocabSize: number, options: TrainOptions) {
    checkText(text, "the training text");
    if (typeof vocabSize !== "number" || !Number.isInteger(vocabSize) || vocabSize < 256) {
      throw new RangeError(`vocabSize must be an integer ≥ 256 (the 256 byte tokens come first), got ${vocabSize}`);
    }
    if (vocabSize > MAX_VOCAB) throw new RangeError(`vocabSize must be at most ${MAX_VOCAB}, got ${vocabSize}`);
    for (const [s, id] of this.specials) {
      if (id < vocabSize) {
        throw new RangeError(
          `Special token ${JSON.stringify(s)} has id ${id}, which training would give to an ordinary token; ` +
          `register special tokens with ids ≥ vocabSize (${vocabSize}), or after training`,
        );
      }
    }
    const pattern = options.pattern === undefined ? this.patternStr : patternSource(options.pattern);
    const regex = pattern === null ? null : new SplitPattern(pattern);
    const every = Math.max(1, Math.floor(options.every ?? 10));
    const rows = options.live === undefined || options.live === false ? 0 : options.live === true ? 10 : Math.max(1, Math.floor(options.live));
    const keepRows = Math.max(rows, options.onProgress ? every : 0);

    const trainer = new BpeTrainer(text, regex);
    const total = vocabSize - 256;
    const started = Date.now();
    const recent: MergeRow[] = [];
    let done = 0;
    let handle: DisplayHandle | null = null;
    let lastDraw = 0;
    const progress = (finished: boolean) =>
      new MergeProgress(done, total, recent.slice(-Math.max(rows, every)), Date.now() - started, finished);
    const liveView = (finished: boolean) =>
      new MergeProgress(done, total, recent.slice(-rows), Date.now() - started, finished);
    if (rows > 0) handle = host().display(liveView(false), { id: true });

    const step = (): boolean => {
      if (done >= total) return false;
      const m = trainer.step();
      if (m === null) return false;
      done++;
      if (options.verbose) {
        console.log(`merge ${done}/${total}: (${m.left}, ${m.right}) -> ${m.id} ` +
          `(${JSON.stringify(printableBytes(m.bytes))}) had ${m.count} occurrences`);
      }
      options.onMerge?.(m);
      if (keepRows > 0) {
        recent.push({
          id: m.id,
          left: printableBytes(trainer.tokenBytes[m.left]),
          right: printableBytes(trainer.tokenBytes[m.right]),
          token: printableBytes(m.bytes),
          count: m.count,
        });
        if (recent.length > 2 * keepRows) recent.splice(0, recent.length - keepRows);
      }
      if (done % every === 0) {
        options.onProgress?.(progress(false));
        const now = Date.now();
        if (handle !== null && now - lastDraw >= 100) {
          handle.update(liveView(false));
          lastDraw = now;
        }
      }
      return true;
    };
    const finish = () => {
      this.core = BpeCore.fromMerges(trainer.merges);
      this.patternStr = pattern;
      this.regex = regex;
      this.encoding = null;
      this.vocabMap = null;
      if (this.name === "bpe" || /^bpe-\d+$/.test(this.name) || isEncodingName(this.name)) {
        this.name = `bpe-${this.core.size}`;
      }
      options.onProgress?.(progress(true));
      handle?.update(liveView(true));
    };
    return { step, finish };
  }

  // ---------------------------------------------------------------- encoding

  /**
   * Text → token ids. Special tokens follow tiktoken's rules: by default any
   * special token string found in the text is an error naming it; pass
   * `allowedSpecial: "all"` (or a Set of them) to encode them as their
   * special ids, or `disallowedSpecial: "none"` to encode them as ordinary text.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    checkText(text);
    const allowed = this.specialSet(options.allowedSpecial ?? "none", "allowedSpecial");
    const disallowedOpt = options.disallowedSpecial ?? "all";
    const disallowed = disallowedOpt === "all"
      ? new Set([...this.specials.keys()].filter((s) => !allowed.has(s)))
      : this.specialSet(disallowedOpt, "disallowedSpecial");
    if (disallowed.size > 0) {
      const re = this.specialRegex(disallowed);
      re.lastIndex = 0;
      const m = re.exec(text);
      if (m !== null) {
        throw new DisallowedSpecialTokenError(m[0], m.index);
      }
    }
    const out: number[] = [];
    if (allowed.size === 0) {
      this.encodeOrdinaryInto(text, out);
      return out;
    }
    const re = this.specialRegex(allowed);
    re.lastIndex = 0;
    let start = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      this.encodeOrdinaryInto(text.slice(start, m.index), out);
      out.push(this.specials.get(m[0])!);
      start = m.index + m[0].length;
    }
    this.encodeOrdinaryInto(start === 0 ? text : text.slice(start), out);
    return out;
  }

  /** Text → token ids, treating special token strings as ordinary text. */
  encodeOrdinary(text: string): number[] {
    checkText(text);
    const out: number[] = [];
    this.encodeOrdinaryInto(text, out);
    return out;
  }

  private encodeOrdinaryInto(text: string, out: number[]): void {
    if (text.length === 0) return;
    const core = this.core;
    const re = this.regex;
    if (re === null) {
      core.encodeBytes(utf8Encode(text), out);
      return;
    }
    let pos = 0;
    for (;;) {
      const end = re.next(text, pos);
      if (end < 0) return;
      core.encodeChunk(text, re.start, end, out);
      pos = end;
    }
  }

  /** Resolves an allowed/disallowed option to a set of special token strings. */
  private specialSet(opt: "all" | "none" | Iterable<string>, what: string): Set<string> {
    if (opt === "all") return new Set(this.specials.keys());
    if (opt === "none") return new Set();
    if (opt === null || typeof opt !== "object" || typeof (opt as any)[Symbol.iterator] !== "function") {
      throw new TypeError(`${what} must be "all", "none" or a Set/array of special token strings`);
    }
    const set = new Set<string>();
    for (const s of opt) {
      if (!this.specials.has(s)) {
        throw new Error(`${what}: ${JSON.stringify(s)} is not a special token of this tokenizer ` +
          `(special tokens: ${[...this.specials.keys()].join(", ") || "none"})`);
      }
      set.add(s);
    }
    return set;
  }

  /** A global RegExp matching any of `tokens`, longest first. */
  private specialRegex(tokens: Set<string>): RegExp {
    const list = [...tokens].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    const key = list.join("\u0000");
    let re = this.specialRegexes.get(key);
    if (re === undefined) {
      re = new RegExp(list.map(escapeRegExp).join("|"), "gu");
      this.specialRegexes.set(key, re);
    }
    return re;
  }

  // ---------------------------------------------------------------- decoding

  /** Token ids → their bytes, concatenated (special tokens as their UTF-8 text). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    checkIds(ids);
    const { pool, offsets, size } = this.core;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < size) total += offsets[id + 1] - offsets[id];
      else total += this.specialBytes(id, i).length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < size) {
        for (let k = offsets[id], end = offsets[id + 1]; k < end; k++) out[at++] = pool[k];
      } else {
        const b = this.specialBytes(id, i);
        out.set(b, at);
        at += b.length;
      }
    }
    return out;
  }

  /**
   * Token ids → text. Bytes that are not valid UTF-8 (e.g. a token sequence
   * cut in the middle of a character) become U+FFFD, like Python's
   * `bytes.decode("utf-8", errors="replace")`.
   */
  decode(ids: ArrayLike<number>): string {
    return utf8Decode(this.decodeBytes(ids));
  }

  private specialBytes(id: number, index: number): Uint8Array {
    const s = this.specialsById.get(id);
    if (s === undefined) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) badId(id, index, this.vocabSize);
      throw new RangeError(
        `Token id ${id} (at index ${index}) is not a token: ordinary tokens are 0..${this.core.size - 1}, ` +
        `special tokens are ${[...this.specialsById.keys()].join(", ")}`,
      );
    }
    return utf8Encode(s);
  }

  // ---------------------------------------------------------------- special tokens

  /**
   * Adds special tokens: an object `{ "<|endoftext|>": 512 }` (ids must not be
   * ordinary tokens or other special tokens), or a list of strings, which get
   * the next free ids from `vocabSize` on. Returns the tokenizer.
   */
  registerSpecialTokens(tokens: Record<string, number> | Iterable<string>): this {
    if (tokens === null || typeof tokens !== "object") {
      throw new TypeError("registerSpecialTokens() expects an object {token: id} or a list of token strings");
    }
    const entries: Array<[string, number]> = [];
    if (typeof (tokens as Iterable<string>)[Symbol.iterator] === "function") {
      let next = this.vocabSize;
      for (const s of tokens as Iterable<string>) {
        if (this.specials.has(s)) continue;
        entries.push([s, next++]);
      }
    } else {
      for (const [s, id] of Object.entries(tokens as Record<string, number>)) entries.push([s, id]);
    }
    for (const [s, id] of entries) {
      if (typeof s !== "string" || s.length === 0) throw new TypeError("A special token must be a non-empty string");
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= MAX_VOCAB) {
        throw new RangeError(`Special token ${JSON.stringify(s)}: id must be an integer in 0..${MAX_VOCAB - 1}, got ${id}`);
      }
      if (id < this.core.size) {
        throw new RangeError(`Special token ${JSON.stringify(s)}: id ${id} is an ordinary token (0..${this.core.size - 1})`);
      }
      const other = this.specialsById.get(id);
      if (other !== undefined && other !== s) {
        throw new RangeError(`Special token ${JSON.stringify(s)}: id ${id} is already ${JSON.stringify(other)}`);
      }
      const old = this.specials.get(s);
      if (old !== undefined && old !== id) this.specialsById.delete(old);
      this.specials.set(s, id);
      this.specialsById.set(id, s);
    }
    this.specialRegexes.clear();
    this.vocabMap = null;
    return this;
  }

  /** The special tokens, string → id. */
  get specialTokens(): Record<string, number> {
    return Object.fromEntries(this.specials);
  }

  /** True if `id` is a special token. */
  isSpecial(id: number): boolean {
    return this.specialsById.has(id);
  }

  // ---------------------------------------------------------------- inspection

  /** The split pattern (RegExp source), or null if the text is not split. */
  get pattern(): string | null {
    return this.patternStr;
  }

  /** One more than the largest id, ordinary or special (tiktoken's `n_vocab`). */
  get vocabSize(): number {
    let n = this.core.size;
    for (const id of this.specialsById.keys()) if (id + 1 > n) n = id + 1;
    return n;
  }

  /**
   * The merges in the order they were learned: `{left, right, id}` means
   * tokens `left` and `right` merge into `id`. For OpenAI's vocabularies they
   * are recovered from the ranks the first time this is read (a second or so).
   */
  get merges(): readonly Merge[] {
    return this.core.merges();
  }

  /** Every token's bytes, id → bytes (special tokens as their UTF-8 text). */
  get vocab(): ReadonlyMap<number, Uint8Array> {
    if (this.vocabMap === null) {
      const map = new Map<number, Uint8Array>();
      for (let id = 0; id < this.core.size; id++) map.set(id, this.core.bytesOf(id).slice());
      for (const [id, s] of this.specialsById) map.set(id, utf8Encode(s));
      this.vocabMap = map;
    }
    return this.vocabMap;
  }

  /** The bytes of token `id` (a copy). */
  tokenBytes(id: number): Uint8Array {
    if (Number.isInteger(id) && id >= 0 && id < this.core.size) return this.core.bytesOf(id).slice();
    return this.specialBytes(id, 0);
  }

  /**
   * A readable form of token `id`: its text, with invisible characters escaped
   * (`\n`, `\u{200B}`) and bytes that are only part of a character as `\xNN`.
   */
  printable(id: number): string {
    if (this.specialsById.has(id)) return this.specialsById.get(id)!;
    return printableBytes(this.tokenBytes(id));
  }

  /** Average UTF-8 bytes per token on `text` (special token strings count as ordinary text). */
  bytesPerToken(text: string): number {
    const n = this.encodeOrdinary(text).length;
    return n === 0 ? 0 : utf8Length(text) / n;
  }

  /**
   * `text` encoded and shown as coloured token spans (hover for ids and
   * bytes). Unlike `encode`, special tokens are allowed by default.
   */
  visualize(text: string, options: VisualizeOptions & EncodeOptions = {}): TokenView {
    const ids = this.encode(text, { allowedSpecial: options.allowedSpecial ?? "all", disallowedSpecial: options.disallowedSpecial });
    return new TokenView(this, ids, options);
  }

  // ---------------------------------------------------------------- save / load

  /**
   * The saved form: `{format, version, type: "bpe", name, pattern, merges |
   * encoding, specialTokens}`. OpenAI vocabularies are saved by name
   * (`encoding`), trained ones by their merges (token 256+i = merges[i]).
   */
  toJSON(): object {
    const base = { format: FORMAT_NAME, version: FORMAT_VERSION, type: "bpe", name: this.name, pattern: this.patternStr };
    if (this.encoding !== null) return { ...base, encoding: this.encoding, specialTokens: this.specialTokens };
    return {
      ...base,
      merges: this.core.merges().map((m) => [m.left, m.right]),
      specialTokens: this.specialTokens,
    };
  }

  /** Writes the tokenizer as JSON to `path` (a directory gets `tokenizer.json`); returns the file written. */
  save(path: string): string {
    return writeTokenizerFile(path, this.toJSON());
  }

  /** Loads a tokenizer saved by {@link BPETokenizer.save}: a file, a directory, JSON text or a parsed object. */
  static load(source: string | object): BPETokenizer {
    return BPETokenizer.fromJSON(readTokenizerJSON(source));
  }

  /** @internal Builds from checked saved JSON. */
  static fromJSON(o: Record<string, unknown>): BPETokenizer {
    if (o.type !== "bpe") throw new Error(`Expected a saved BPE tokenizer ("type": "bpe"), got type ${JSON.stringify(o.type)}`);
    if (o.pattern !== undefined && o.pattern !== null && typeof o.pattern !== "string") {
      throw new TypeError(`Saved tokenizer: "pattern" must be a string or null`);
    }
    let tok: BPETokenizer;
    if (o.encoding !== undefined) {
      if (typeof o.encoding !== "string") throw new TypeError(`Saved tokenizer: "encoding" must be a string`);
      tok = BPETokenizer.fromEncoding(o.encoding);
      if (o.specialTokens !== undefined) {
        tok.specials.clear();
        tok.specialsById.clear();
      }
      if (o.pattern !== undefined) {
        tok.patternStr = o.pattern as string | null;
        tok.regex = tok.patternStr === null ? null : new SplitPattern(tok.patternStr);
      }
    } else {
      const merges = o.merges;
      if (!Array.isArray(merges)) throw new TypeError(`Saved tokenizer: "merges" must be an array of [left, right] pairs`);
      merges.forEach((m, i) => {
        if (!Array.isArray(m) || m.length !== 2) throw new TypeError(`Saved tokenizer: merge ${i} is not a [left, right] pair`);
      });
      tok = new BPETokenizer({ pattern: o.pattern === undefined ? GPT4_SPLIT_PATTERN : (o.pattern as string | null) });
      tok.core = BpeCore.fromMerges(merges as Array<[number, number]>);
    }
    if (typeof o.name === "string") tok.name = o.name;
    if (o.specialTokens !== undefined) {
      if (o.specialTokens === null || typeof o.specialTokens !== "object" || Array.isArray(o.specialTokens)) {
        throw new TypeError(`Saved tokenizer: "specialTokens" must be an object {token: id}`);
      }
      tok.registerSpecialTokens(o.specialTokens as Record<string, number>);
    }
    return tok;
  }

  // ---------------------------------------------------------------- display

  /** One line: kind, name, sizes. */
  toString(): string {
    return `BPETokenizer(${this.name}: vocabSize ${this.vocabSize}, ${this.core.size - 256} merges, ` +
      `${this.specials.size} special tokens)`;
  }

  /** Rich display: a summary table (and the first and last merges of a trained tokenizer). */
  [DISPLAY_SYMBOL](): MimeBundle {
    const specials = [...this.specials].map(([s, id]) => `${s}=${id}`).join(", ") || "none";
    const rows: Array<[string, string]> = [
      ["vocab size", `${this.vocabSize} (256 bytes + ${this.core.size - 256} merges + ${this.specials.size} special)`],
      ["source", this.encoding !== null ? `OpenAI ${this.encoding} (ranks from js-tiktoken)` : "trained"],
      ["split pattern", describePattern(this.patternStr)],
      ["special tokens", specials],
    ];
    let html = "";
    let text = "";
    if (this.encoding === null && this.core.size > 256) {
      const merges = this.core.merges();
      const pick = merges.length <= 16 ? merges : [...merges.slice(0, 8), ...merges.slice(-8)];
      const table: MergeRow[] = pick.map((m) => ({
        id: m.id, left: this.printable(m.left), right: this.printable(m.right), token: this.printable(m.id),
      }));
      const title = merges.length <= 16 ? "merges" : "first and last 8 merges";
      html = `<div style="margin-top:6px;color:#666">${title}</div>${mergeTableHtml(table)}`;
      text = `\n  ${title}:\n${mergeTableText(table)}`;
    }
    return summaryBundle(`BPETokenizer ${this.name}`, rows, html, text);
  }
}
