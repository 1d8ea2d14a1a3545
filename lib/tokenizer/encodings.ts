/**
 * `encodingFor(name)`: OpenAI's tokenizers, by encoding or model name.
 */

import { BPETokenizer } from "./bpe";
import { ENCODING_NAMES, isEncodingName, type EncodingName } from "./ranks";

export { ENCODING_NAMES, type EncodingName } from "./ranks";

/** Model names accepted as aliases of their encoding. */
const MODEL_ALIASES: Record<string, EncodingName> = {
  "gpt-2": "gpt2",
  "gpt-3": "r50k_base",
  "gpt-3.5-turbo": "cl100k_base",
  "gpt-4": "cl100k_base",
  "gpt-4-turbo": "cl100k_base",
  "gpt-4o": "o200k_base",
  "gpt-4o-mini": "o200k_base",
};

/**
 * A tokenizer for one of OpenAI's encodings — `"gpt2"` / `"r50k_base"`
 * (GPT-2, GPT-3), `"cl100k_base"` (GPT-3.5/GPT-4) or `"o200k_base"` (GPT-4o)
 * — or a model name such as `"gpt-4o"`. The vocabulary is read offline from
 * the js-tiktoken package once and shared; each call returns a new tokenizer
 * object (so registering extra special tokens on one does not affect others).
 * Its ids equal tiktoken's.
 */
export function encodingFor(name: string): BPETokenizer {
  if (typeof name !== "string") throw new TypeError(`encodingFor() expects an encoding name, got ${typeof name}`);
  const key = name.trim().toLowerCase();
  const encoding = isEncodingName(key) ? key : MODEL_ALIASES[key];
  if (encoding === undefined) {
    throw new Error(
      `Unknown encoding ${JSON.stringify(name)}; known encodings: ${ENCODING_NAMES.join(", ")} ` +
      `(or a model name: ${Object.keys(MODEL_ALIASES).join(", ")})`,
    );
  }
  return BPETokenizer.fromEncoding(encoding);
}

/** tiktoken's name for {@link encodingFor}. */
export const getEncoding = encodingFor;
