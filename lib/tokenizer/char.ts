/**
 * Character-level tokenizer: one token per Unicode character (code point).
 * Built from a corpus, its vocabulary is the sorted set of the characters that
 * occur, nanoGPT's convention (`chars = sorted(set(text))`), so ids agree with
 * nanoGPT's shakespeare_char: on tiny Shakespeare "\n" → 0, " " → 1, "!" → 2…
 */

import { DISPLAY_SYMBOL, type MimeBundle } from "../host";
import {
  checkIds, checkText, FORMAT_NAME, FORMAT_VERSION, readTokenizerJSON, writeTokenizerFile,
  type Tokenizer,
} from "./common";
import { summaryBundle, TokenView, type VisualizeOptions } from "./display";
import { escapeInvisible, utf8Encode, utf8Length } from "./utf8";

/** Sorts code points by value (Python's string order; not JavaScript's UTF-16 order). */
function byCodePoint(a: string, b: string): number {
  return a.codePointAt(0)! - b.codePointAt(0)!;
}

/** A tokenizer whose tokens are single characters. */
export class CharTokenizer implements Tokenizer {
  /** Always `"char"`. */
  readonly kind = "char" as const;
  /** The vocabulary: `chars[id]` is the character of token `id`. */
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;
  /** Name shown in displays. */
  name: string;

  /**
   * From a corpus (a string): its distinct characters sorted by code point,
   * like {@link CharTokenizer.fromText}. From an array: exactly these
   * characters in this order (token id = position), each one code point,
   * without repeats.
   */
  constructor(chars: string | Iterable<string>, name?: string) {
    if (chars === null || (typeof chars !== "object" && typeof chars !== "string")) {
      throw new TypeError("CharTokenizer needs a corpus (a string) or the characters of its vocabulary (an array)");
    }
    const list = typeof chars === "string" ? [...new Set(chars)].sort(byCodePoint) : Array.from(chars);
    const index = new Map<string, number>();
    list.forEach((c, i) => {
      if (typeof c !== "string" || c.length === 0 || [...c].length !== 1) {
        throw new TypeError(`Vocabulary entry ${i} must be a single character, got ${JSON.stringify(c)}`);
      }
      if (index.has(c)) throw new Error(`Character ${JSON.stringify(c)} appears twice in the vocabulary (ids ${index.get(c)} and ${i})`);
      index.set(c, i);
    });
    this.chars = Object.freeze(list);
    this.index = index;
    this.name = name ?? `char-${list.length}`;
  }

  /** The vocabulary of `text`: its distinct characters sorted by code point (nanoGPT's `sorted(set(text))`). */
  static fromText(text: string): CharTokenizer {
    checkText(text);
    return new CharTokenizer(text);
  }

  /** Number of characters in the vocabulary. */
  get vocabSize(): number {
    return this.chars.length;
  }

  /** Character → id map (nanoGPT's `stoi`), as a plain object. */
  get stoi(): Record<string, number> {
    return Object.fromEntries(this.index);
  }

  /**
   * Text → ids, one per character. Throws an error naming the first character
   * that is not in the vocabulary and its position.
   */
  encode(text: string): number[] {
    checkText(text);
    const out: number[] = [];
    let pos = 0;
    for (const c of text) {
      const id = this.index.get(c);
      if (id === undefined) {
        throw new Error(
          `Character ${JSON.stringify(c)} (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}) ` +
          `at position ${pos} is not in the vocabulary of ${this.chars.length} characters`,
        );
      }
      out.push(id);
      pos += c.length;
    }
    return out;
  }

  /** Ids → text. Throws for an id outside `0..vocabSize-1`. */
  decode(ids: ArrayLike<number>): string {
    checkIds(ids);
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const c = this.chars[ids[i]];
      if (c === undefined) {
        throw new RangeError(`Token id ${ids[i]} (at index ${i}) is not in the vocabulary (ids 0..${this.chars.length - 1})`);
      }
      s += c;
    }
    return s;
  }

  private charOf(id: number): string {
    const c = Number.isInteger(id) ? this.chars[id] : undefined;
    if (c === undefined) throw new RangeError(`Token id ${id} is not in the vocabulary (ids 0..${this.chars.length - 1})`);
    return c;
  }

  /** UTF-8 bytes of the character of token `id`. */
  tokenBytes(id: number): Uint8Array {
    return utf8Encode(this.charOf(id));
  }

  /** The character of token `id`, with invisible ones escaped (`\n`, `\u{200B}`). */
  printable(id: number): string {
    return escapeInvisible(this.charOf(id));
  }

  /** Average UTF-8 bytes per token (= per character) of `text`. */
  bytesPerToken(text: string): number {
    checkText(text);
    const n = [...text].length;
    return n === 0 ? 0 : utf8Length(text) / n;
  }

  /** `text` as coloured spans, one per character. */
  visualize(text: string, options: VisualizeOptions = {}): TokenView {
    return new TokenView(this, this.encode(text), options);
  }

  /** The saved form: `{format, version, type: "char", name, chars}`. */
  toJSON(): object {
    return { format: FORMAT_NAME, version: FORMAT_VERSION, type: "char", name: this.name, chars: [...this.chars] };
  }

  /** Writes the tokenizer as JSON to `path` (a directory gets `tokenizer.json`); returns the file written. */
  save(path: string): string {
    return writeTokenizerFile(path, this.toJSON());
  }

  /** Loads a tokenizer saved by {@link CharTokenizer.save}: a file, a directory, JSON text or a parsed object. */
  static load(source: string | object): CharTokenizer {
    return CharTokenizer.fromJSON(readTokenizerJSON(source));
  }

  /** @internal Builds from checked saved JSON. */
  static fromJSON(o: Record<string, unknown>): CharTokenizer {
    if (o.type !== "char") throw new Error(`Expected a saved character tokenizer ("type": "char"), got type ${JSON.stringify(o.type)}`);
    if (!Array.isArray(o.chars)) throw new TypeError(`Saved tokenizer: "chars" must be an array of characters`);
    return new CharTokenizer(o.chars as string[], typeof o.name === "string" ? o.name : undefined);
  }

  /** One line: name and vocabulary size. */
  toString(): string {
    return `CharTokenizer(${this.name}: vocabSize ${this.vocabSize})`;
  }

  /** Rich display: a summary with the whole vocabulary. */
  [DISPLAY_SYMBOL](): MimeBundle {
    const shown = this.chars.slice(0, 200).map((c) => (c === " " ? "␣" : escapeInvisible(c))).join(" ");
    return summaryBundle(`CharTokenizer ${this.name}`, [
      ["vocab size", String(this.vocabSize)],
      ["characters", this.chars.length > 200 ? shown + " …" : shown],
    ]);
  }
}
