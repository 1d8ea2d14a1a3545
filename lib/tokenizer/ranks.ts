/**
 * OpenAI's pretrained vocabularies (GPT-2 / r50k_base, GPT-4 / cl100k_base,
 * GPT-4o / o200k_base), read offline from the rank files shipped inside the
 * `js-tiktoken` npm package. Only the data is taken from there: splitting and
 * merging are ours (see `patterns.ts` and `core.ts`).
 */

import { BpeCore } from "./core";
import { GPT2_SPLIT_PATTERN, GPT4O_SPLIT_PATTERN, GPT4_SPLIT_PATTERN } from "./patterns";

/** Names of the pretrained encodings. `gpt2` and `r50k_base` are the same vocabulary. */
export const ENCODING_NAMES = ["gpt2", "r50k_base", "cl100k_base", "o200k_base"] as const;

/** One of {@link ENCODING_NAMES}. */
export type EncodingName = (typeof ENCODING_NAMES)[number];

/** A loaded pretrained encoding: token tables, split pattern and special tokens. */
export interface EncodingData {
  readonly name: EncodingName;
  readonly core: BpeCore;
  readonly pattern: string;
  readonly specialTokens: Readonly<Record<string, number>>;
}

/** Each encoding's rank file in js-tiktoken, split pattern and special tokens. */
const DEFINITIONS: Record<EncodingName, { file: string; pattern: string; specialTokens: Record<string, number> }> = {
  gpt2: { file: "r50k_base", pattern: GPT2_SPLIT_PATTERN, specialTokens: { "<|endoftext|>": 50256 } },
  r50k_base: { file: "r50k_base", pattern: GPT2_SPLIT_PATTERN, specialTokens: { "<|endoftext|>": 50256 } },
  cl100k_base: {
    file: "cl100k_base",
    pattern: GPT4_SPLIT_PATTERN,
    specialTokens: {
      "<|endoftext|>": 100257,
      "<|fim_prefix|>": 100258,
      "<|fim_middle|>": 100259,
      "<|fim_suffix|>": 100260,
      "<|endofprompt|>": 100276,
    },
  },
  o200k_base: {
    file: "o200k_base",
    pattern: GPT4O_SPLIT_PATTERN,
    specialTokens: { "<|endoftext|>": 199999, "<|endofprompt|>": 200018 },
  },
};

/** Parsed rank files, shared by every tokenizer object of the same vocabulary. */
const cores = new Map<string, BpeCore>();

/** True if `name` is one of {@link ENCODING_NAMES}. */
export function isEncodingName(name: unknown): name is EncodingName {
  return typeof name === "string" && (ENCODING_NAMES as readonly string[]).includes(name);
}

/**
 * Reads js-tiktoken's compact rank format: lines of
 * `<anything> <first rank> <base64 token> <base64 token> …`, ranks consecutive.
 * Returns token bytes as binary strings indexed by rank (= token id).
 */
function parseRanks(data: string, file: string): string[] {
  const tokens: string[] = [];
  for (const line of data.split("\n")) {
    if (line.length === 0) continue;
    const fields = line.split(" ");
    const first = Number.parseInt(fields[1], 10);
    if (!Number.isInteger(first)) throw new Error(`Malformed rank file ${file}: bad offset ${JSON.stringify(fields[1])}`);
    for (let i = 2; i < fields.length; i++) {
      tokens[first + i - 2] = Buffer.from(fields[i], "base64").toString("latin1");
    }
  }
  for (let id = 0; id < tokens.length; id++) {
    if (tokens[id] === undefined) throw new Error(`Malformed rank file ${file}: no token with rank ${id}`);
  }
  return tokens;
}

/** Loads (once) and returns a pretrained encoding. Throws a clear error for an unknown name. */
export function loadEncodingData(name: string): EncodingData {
  if (!isEncodingName(name)) {
    throw new Error(`Unknown encoding ${JSON.stringify(name)}; known encodings: ${ENCODING_NAMES.join(", ")}`);
  }
  const def = DEFINITIONS[name];
  let core = cores.get(def.file);
  if (core === undefined) {
    let data: { bpe_ranks?: unknown };
    try {
      data = require(`js-tiktoken/ranks/${def.file}`);
    } catch (e) {
      throw new Error(`Cannot load the ${name} vocabulary from the js-tiktoken package: ${(e as Error).message}`);
    }
    if (typeof data?.bpe_ranks !== "string") throw new Error(`js-tiktoken/ranks/${def.file} has no bpe_ranks`);
    core = BpeCore.fromRanks(parseRanks(data.bpe_ranks, def.file));
    cores.set(def.file, core);
  }
  return { name, core, pattern: def.pattern, specialTokens: def.specialTokens };
}
