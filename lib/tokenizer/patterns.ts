/**
 * Split patterns: before BPE, text is cut into chunks by a regular expression
 * and merges never cross a chunk boundary (so " dog." never becomes one token
 * with the period). These are OpenAI's patterns rewritten for JavaScript
 * RegExp (always compiled with the `u` flag):
 *
 * - JavaScript has no inline case-insensitive group `(?i:…)`, so the
 *   contractions `'s 't 're 've 'm 'll 'd` are spelled out with both cases of
 *   each letter (`'(?:[sSdDmMtT]|[lL][lL]|…)`), which matches exactly the same
 *   ASCII strings.
 * - JavaScript has no possessive quantifiers (`?+`, `++`). In these patterns
 *   they only forbid backtracking that could never produce a different match
 *   (e.g. `[^\r\n\p{L}\p{N}]?+\p{L}+`: giving back the optional non-letter
 *   cannot help `\p{L}+` match, as that character is not a letter), so plain
 *   greedy quantifiers give identical chunks. The equality tests against
 *   js-tiktoken on a large mixed text and on random strings check this.
 *
 * Whitespace is JavaScript's `\s` (it includes U+FEFF but not U+0085, the
 * opposite of Rust's `\s` in Python tiktoken); we follow js-tiktoken here, as
 * it is our reference.
 */

/** `'s 't 're 've 'm 'll 'd` in any letter case. */
const CONTRACTIONS_ANY_CASE = String.raw`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])`;

/**
 * GPT-2 / r50k_base: case-sensitive contractions, then runs of letters, of
 * digits, of other symbols (each with an optional leading space), then
 * whitespace — where a run of spaces before a word leaves its last space to
 * the word (`\s+(?!\S)`).
 */
export const GPT2_SPLIT_PATTERN = [
  String.raw`'(?:[sdmt]|ll|ve|re)`,
  String.raw` ?\p{L}+`,
  String.raw` ?\p{N}+`,
  String.raw` ?[^\s\p{L}\p{N}]+`,
  String.raw`\s+(?!\S)`,
  String.raw`\s+`,
].join("|");

/**
 * GPT-4 / cl100k_base: contractions in any case; a word may take one leading
 * non-letter (space, quote, bracket…); numbers are split into groups of at most
 * 3 digits; symbol runs keep trailing newlines; newlines group with the
 * whitespace before them.
 */
export const GPT4_SPLIT_PATTERN = [
  CONTRACTIONS_ANY_CASE,
  String.raw`[^\r\n\p{L}\p{N}]?\p{L}+`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^\s\p{L}\p{N}]+[\r\n]*`,
  String.raw`\s*[\r\n]+`,
  String.raw`\s+(?!\S)`,
  String.raw`\s+`,
].join("|");

/** Upper/title-case-like letters (and marks) that may start a word in o200k_base. */
const UPPERISH = String.raw`[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`;
/** Lower-case-like letters (and marks) that continue a word in o200k_base. */
const LOWERISH = String.raw`[\p{Ll}\p{Lm}\p{Lo}\p{M}]`;

/**
 * GPT-4o / o200k_base: like GPT-4 but words are split at case changes
 * ("CamelCase" → "Camel", "Case"), carry their contraction with them
 * ("don't" → "don't"), and `/` may trail a symbol run.
 */
export const GPT4O_SPLIT_PATTERN = [
  String.raw`[^\r\n\p{L}\p{N}]?${UPPERISH}*${LOWERISH}+(?:${CONTRACTIONS_ANY_CASE})?`,
  String.raw`[^\r\n\p{L}\p{N}]?${UPPERISH}+${LOWERISH}*(?:${CONTRACTIONS_ANY_CASE})?`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^\s\p{L}\p{N}]+[\r\n/]*`,
  String.raw`\s*[\r\n]+`,
  String.raw`\s+(?!\S)`,
  String.raw`\s+`,
].join("|");

/**
 * A compiled split pattern. Chunks are found with a sticky RegExp (`uy`):
 * with the GPT patterns every chunk starts where the previous one ended, and
 * a sticky `test()` finds it without building a match object. Where nothing
 * matches (possible with custom patterns), the global RegExp skips to the
 * next match, like Python's `re.findall` (the skipped characters are dropped).
 */
export class SplitPattern {
  /** The RegExp source. */
  readonly source: string;
  /** `gu`: finds the next match anywhere. */
  readonly global: RegExp;
  /** `uy`: matches only at `lastIndex`. */
  readonly sticky: RegExp;

  /** Compiles `source`; throws a clear error if it is not a valid pattern. */
  constructor(source: string) {
    if (typeof source !== "string") {
      throw new TypeError(`Split pattern must be a string (a RegExp source), got ${typeof source}`);
    }
    try {
      this.global = new RegExp(source, "gu");
      this.sticky = new RegExp(source, "uy");
    } catch (e) {
      throw new SyntaxError(`Invalid split pattern ${JSON.stringify(source)}: ${(e as Error).message}`);
    }
    this.source = source;
  }

  /**
   * The end of the chunk that starts at or after `pos`, with its start in
   * `this.start`; -1 when there is no further chunk. Empty matches are
   * stepped over.
   */
  next(text: string, pos: number): number {
    const sticky = this.sticky;
    for (;;) {
      if (pos >= text.length) return -1;
      sticky.lastIndex = pos;
      if (sticky.test(text)) {
        const end = sticky.lastIndex;
        if (end > pos) {
          this.start = pos;
          return end;
        }
        pos += codePointLength(text, pos);
        continue;
      }
      const global = this.global;
      global.lastIndex = pos;
      const m = global.exec(text);
      if (m === null) return -1;
      pos = m[0].length > 0 ? m.index : m.index + codePointLength(text, m.index);
    }
  }

  /** Start of the chunk last returned by {@link SplitPattern.next}. */
  start = 0;

  /** Calls `fn` with each chunk of `text`, in order. */
  forEach(text: string, fn: (chunk: string) => void): void {
    let pos = 0;
    for (;;) {
      const end = this.next(text, pos);
      if (end < 0) return;
      fn(text.slice(this.start, end));
      pos = end;
    }
  }
}

function codePointLength(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

/**
 * Splits `text` into chunks like Python's `re.findall(pattern, text)`: the
 * matches in order; characters no alternative matches are dropped (the GPT
 * patterns above match every character, so they drop nothing). With
 * `pattern === null` the whole text is one chunk.
 */
export function splitText(text: string, pattern: SplitPattern | null): string[] {
  if (pattern === null) return text.length > 0 ? [text] : [];
  const chunks: string[] = [];
  pattern.forEach(text, (c) => chunks.push(c));
  return chunks;
}
