/**
 * `loadTokenizer(source)`: reads any saved tokenizer, whatever its kind.
 */

import { BPETokenizer } from "./bpe";
import { CharTokenizer } from "./char";
import { readTokenizerJSON } from "./common";

/**
 * Loads a tokenizer saved with `save()`: from a file path, a model directory
 * (its `tokenizer.json`), JSON text or a parsed object. Returns a
 * {@link CharTokenizer} or a {@link BPETokenizer} according to the saved `type`.
 * Errors say what is wrong (missing file, invalid JSON, unknown type, bad merges…).
 */
export function loadTokenizer(source: string | object): CharTokenizer | BPETokenizer {
  const o = readTokenizerJSON(source);
  if (o.type === "char") return CharTokenizer.fromJSON(o);
  if (o.type === "bpe") return BPETokenizer.fromJSON(o);
  throw new Error(`Unknown tokenizer type ${JSON.stringify(o.type)} (expected "char" or "bpe")`);
}
