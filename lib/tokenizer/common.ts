/**
 * What every tokenizer here shares: the {@link Tokenizer} interface, the saved
 * JSON format, and input checks with clear errors.
 */

import type { TokenView, VisualizeOptions } from "./display";

/** Version of the saved tokenizer JSON written by `save()` / `toJSON()`. */
export const FORMAT_VERSION = 1;
/** Value of the `format` field that marks a saved llmlab tokenizer. */
export const FORMAT_NAME = "llmlab-tokenizer";
/** Conventional file name of a tokenizer inside a model directory. */
export const TOKENIZER_FILE = "tokenizer.json";

/** Which special tokens `encode` may produce / must reject (tiktoken semantics). */
export interface EncodeOptions {
  /**
   * Special tokens that, found in the text, are encoded as their special id:
   * `"all"`, `"none"` (default) or a collection of their strings.
   */
  allowedSpecial?: "all" | "none" | Iterable<string>;
  /**
   * Special tokens whose presence in the text is an error: `"all"` (default:
   * every special token that is not allowed), `"none"` (they are encoded as
   * ordinary text) or a collection of their strings.
   */
  disallowedSpecial?: "all" | "none" | Iterable<string>;
}

/** The operations every tokenizer supports (character-level and BPE). */
export interface Tokenizer {
  /** `"char"` or `"bpe"`. */
  readonly kind: "char" | "bpe";
  /** A short name for displays (e.g. `"cl100k_base"`, `"char-65"`). */
  readonly name: string;
  /** One more than the largest token id (the embedding table size a model needs). */
  readonly vocabSize: number;
  /** Text → token ids. */
  encode(text: string, options?: EncodeOptions): number[];
  /** Token ids → text. */
  decode(ids: ArrayLike<number>): string;
  /** The bytes of one token. */
  tokenBytes(id: number): Uint8Array;
  /** A readable form of one token (invisible characters and partial UTF-8 escaped). */
  printable(id: number): string;
  /** Encoded text as coloured token spans (rich display in a notebook). */
  visualize(text: string, options?: VisualizeOptions): TokenView;
  /** Average UTF-8 bytes per token on `text` (higher = better compression). */
  bytesPerToken(text: string): number;
  /** The saved form (see {@link FORMAT_NAME}). */
  toJSON(): object;
  /** Writes the JSON to `path` (a directory gets `tokenizer.json`); returns the file path. */
  save(path: string): string;
}

/**
 * Thrown by `encode` when the text contains a special token string that is
 * not allowed (tiktoken's default). `token` is the string found, `index` its
 * position in the text.
 */
export class DisallowedSpecialTokenError extends Error {
  constructor(readonly token: string, readonly index: number) {
    super(
      `The text contains the special token ${JSON.stringify(token)} (at character ${index}), which is not allowed. ` +
      `To encode it as the special token, pass { allowedSpecial: "all" } (or a Set containing it); ` +
      `to encode it as ordinary text, pass { disallowedSpecial: "none" }.`,
    );
    this.name = "DisallowedSpecialTokenError";
  }
}

/** Throws a TypeError unless `text` is a string. */
export function checkText(text: unknown, what = "text"): asserts text is string {
  if (typeof text !== "string") {
    const got = text === null ? "null" : Array.isArray(text) ? "an array" : typeof text;
    throw new TypeError(`Expected ${what} to be a string, got ${got}`);
  }
}

/** Throws unless `ids` is an array-like of integers (ranges are checked by the caller). */
export function checkIds(ids: unknown): asserts ids is ArrayLike<number> {
  if (ids === null || typeof ids !== "object" || typeof (ids as ArrayLike<number>).length !== "number") {
    throw new TypeError(`Expected token ids (an array of integers), got ${ids === null ? "null" : typeof ids}`);
  }
  const a = ids as ArrayLike<number>;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== "number" || !Number.isInteger(v)) {
      throw new TypeError(`Token id at index ${i} is not an integer: ${String(v)}`);
    }
  }
}

/** Throws a clear RangeError for a token id that is not in the vocabulary. */
export function badId(id: number, index: number, vocabSize: number): never {
  throw new RangeError(
    `Token id ${id} (at index ${index}) is not in the vocabulary (ids 0..${vocabSize - 1})`,
  );
}

/** Writes `json` to `path`, or to `path/tokenizer.json` if `path` is a directory. */
export function writeTokenizerFile(path: string, json: object): string {
  const fs = require("node:fs") as typeof import("node:fs");
  const nodePath = require("node:path") as typeof import("node:path");
  if (typeof path !== "string" || path.length === 0) throw new TypeError("save() needs a file or directory path");
  let file = path;
  if (fs.existsSync(path) && fs.statSync(path).isDirectory()) file = nodePath.join(path, TOKENIZER_FILE);
  fs.mkdirSync(nodePath.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(json) + "\n");
  return file;
}

/**
 * Reads saved tokenizer JSON from a file path, a directory (its
 * `tokenizer.json`), a JSON string or an already-parsed object; checks the
 * format marker and version.
 */
export function readTokenizerJSON(source: unknown): Record<string, unknown> {
  let obj: unknown = source;
  let where = "tokenizer JSON";
  if (typeof source === "string") {
    const trimmed = source.trimStart();
    let text: string;
    if (trimmed.startsWith("{")) text = source;
    else {
      const fs = require("node:fs") as typeof import("node:fs");
      const nodePath = require("node:path") as typeof import("node:path");
      let file = source;
      try {
        if (fs.statSync(file).isDirectory()) file = nodePath.join(file, TOKENIZER_FILE);
        text = fs.readFileSync(file, "utf8");
      } catch (e) {
        throw new Error(`Cannot read tokenizer file ${JSON.stringify(file)}: ${(e as Error).message}`);
      }
      where = file;
    }
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new SyntaxError(`${where} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new TypeError(`${where} must be a JSON object`);
  }
  const o = obj as Record<string, unknown>;
  if (o.format !== FORMAT_NAME) {
    throw new Error(`${where} is not a saved llmlab tokenizer (expected "format": "${FORMAT_NAME}")`);
  }
  if (typeof o.version !== "number" || !Number.isInteger(o.version) || o.version < 1) {
    throw new Error(`${where} has no valid "version"`);
  }
  if (o.version > FORMAT_VERSION) {
    throw new Error(`${where} has format version ${o.version}; this llmlab reads up to version ${FORMAT_VERSION}`);
  }
  return o;
}
