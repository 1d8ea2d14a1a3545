/**
 * UTF-8 helpers shared by the tokenizers: text ↔ bytes, and readable forms of
 * byte sequences that are not (or not yet) whole characters.
 *
 * Conventions, the same everywhere in `lib/tokenizer`:
 * - Text → bytes follows `TextEncoder`: a lone surrogate (half of a UTF-16 pair
 *   without its partner) becomes the 3 bytes of U+FFFD, `EF BF BD`.
 * - Bytes → text follows Python's `bytes.decode("utf-8", errors="replace")`:
 *   each maximal invalid subsequence becomes one U+FFFD, and a leading byte
 *   order mark is kept (not stripped, unlike a default `TextDecoder`).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/**
 * The UTF-8 bytes of `text`. Lone surrogates become U+FFFD (`EF BF BD`), as
 * with `TextEncoder`, so the bytes are always valid UTF-8.
 */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes UTF-8 bytes to a string. Invalid sequences become U+FFFD (one per
 * maximal invalid subpart, like Python's `errors="replace"`); a BOM is kept.
 */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Number of UTF-8 bytes of `text` (lone surrogates count 3, as U+FFFD). */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Writes the UTF-8 bytes of `text` into `buf` (which must hold
 * `3 * text.length` bytes) and returns how many were written.
 */
export function utf8EncodeInto(text: string, buf: Uint8Array): number {
  return encoder.encodeInto(text, buf).written!;
}

/** Lower-case two-digit hex of each byte, space separated: `e4 bd a0`. */
export function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/**
 * Length of the valid UTF-8 character starting at `bytes[i]`, or 0 if the
 * bytes there are not a complete, well-formed character (truncated, overlong,
 * surrogate, or beyond U+10FFFF).
 */
export function utf8CharLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i];
  if (b0 < 0x80) return 1;
  let need: number, lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    if (b0 === 0xe0) lo = 0xa0;
    if (b0 === 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    if (b0 === 0xf0) lo = 0x90;
    if (b0 === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + need >= bytes.length) return 0;
  const b1 = bytes[i + 1];
  if (b1 < lo || b1 > hi) return 0;
  for (let k = 2; k <= need; k++) {
    const b = bytes[i + k];
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return need + 1;
}

const INVISIBLE = /[\p{C}\p{Z}]/gu;

/**
 * Makes invisible characters visible: `\n`, `\r`, `\t` as those escapes and
 * every other control, format, unassigned or separator character (categories
 * `C*` and `Z*`: zero-width spaces, RTL marks, BOM, NBSP, ideographic space…)
 * as `\u{…}`. The ordinary space U+0020 is kept.
 */
export function escapeInvisible(text: string): string {
  return text.replace(INVISIBLE, (c) => {
    if (c === " ") return c;
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return "\\u{" + c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0") + "}";
  });
}

/**
 * A readable form of a byte sequence: complete UTF-8 characters as text
 * (invisible ones escaped by {@link escapeInvisible}) and every byte that is
 * not part of a complete character as `\xNN` — so a token holding half of a
 * Chinese character shows as e.g. `\xe4\xbd`.
 */
export function printableBytes(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const n = utf8CharLength(bytes, i);
    if (n === 0) {
      out += "\\x" + bytes[i].toString(16).padStart(2, "0");
      i++;
    } else {
      out += escapeInvisible(utf8Decode(bytes.subarray(i, i + n)));
      i += n;
    }
  }
  return out;
}
