/**
 * Tokenizers: characters, byte-level BPE you can train and inspect (minbpe
 * style), and OpenAI's GPT-2 / GPT-4 / GPT-4o vocabularies with ids equal to
 * tiktoken's.
 *
 * ```ts
 * const chars = llm.CharTokenizer.fromText(text);
 * const bpe = await llm.BPETokenizer.train(text, 512, { live: true });
 * const gpt4 = llm.encodingFor("cl100k_base");
 * gpt4.visualize("Hello, world!");
 * ```
 */

export { CharTokenizer } from "./char";
export {
  BPETokenizer,
  type BPETokenizerOptions,
  type Merge,
  type MergeInfo,
  type TrainOptions,
} from "./bpe";
export { encodingFor, getEncoding, ENCODING_NAMES, type EncodingName } from "./encodings";
export { loadTokenizer } from "./load";
export { DisallowedSpecialTokenError, FORMAT_VERSION, TOKENIZER_FILE, type EncodeOptions, type Tokenizer } from "./common";
export { GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, GPT4O_SPLIT_PATTERN } from "./patterns";
export { MergeProgress, TokenView, type VisualizeOptions } from "./display";
export { utf8Decode, utf8Encode, printableBytes } from "./utf8";

import { SplitPattern, splitText } from "./patterns";
import { GPT4_SPLIT_PATTERN } from "./patterns";

/**
 * The chunks a split pattern cuts `text` into (default: GPT-4's pattern) —
 * what BPE sees before merging.
 */
export function chunks(text: string, pattern: string | null = GPT4_SPLIT_PATTERN): string[] {
  return splitText(text, pattern === null ? null : new SplitPattern(pattern));
}
