/**
 * The configuration of a decoder-only GPT: its sizes and its architectural
 * choices. {@link gptConfig} fills defaults and validates.
 */

/** How token positions are encoded. */
export type Positional = "learned" | "sinusoidal" | "rope" | "none";
/** Normalisation layer. */
export type NormKind = "layernorm" | "rmsnorm";
/** MLP non-linearity (`gelu` is the tanh approximation, as GPT-2; `gelu_exact` the erf form, Hugging Face's "gelu"). */
export type Activation = "gelu" | "gelu_exact" | "relu" | "swiglu";

/** A complete GPT configuration (every field set). */
export interface GPTConfig {
  /** Number of distinct token ids. */
  vocabSize: number;
  /** Longest sequence the model reads (positions 0..contextLength-1). */
  contextLength: number;
  /** Width of the residual stream (embedding size). */
  dModel: number;
  /** Number of Transformer blocks. */
  nLayer: number;
  /** Attention heads per block; must divide dModel. */
  nHead: number;
  /** Hidden width of the MLP (default 4·dModel). */
  dFF: number;
  /** Dropout rate on embeddings, attention weights and residual branches while training. */
  dropout: number;
  /** Position encoding: learned table (GPT-2), fixed sinusoids, rotary (on q and k), or none. */
  positional: Positional;
  /** LayerNorm (GPT-2) or RMSNorm (LLaMA). */
  norm: NormKind;
  /** MLP activation: gelu (tanh approx.), gelu_exact (erf), relu, or swiglu (gated; uses two input projections). */
  activation: Activation;
  /** Biases in linear layers and layer norms. */
  bias: boolean;
  /** Output head shares the token embedding matrix. */
  tiedEmbeddings: boolean;
  /** Epsilon of the normalisation layers (GPT-2: 1e-5). */
  normEps: number;
  /** Rotary base frequency (only for positional "rope"). */
  ropeBase: number;
}

/** The defaults: a small GPT-2-style character model. */
export const DEFAULT_CONFIG: Readonly<GPTConfig> = Object.freeze({
  vocabSize: 65,
  contextLength: 64,
  dModel: 128,
  nLayer: 4,
  nHead: 4,
  dFF: 512,
  dropout: 0,
  positional: "learned",
  norm: "layernorm",
  activation: "gelu",
  bias: true,
  tiedEmbeddings: true,
  normEps: 1e-5,
  ropeBase: 10000,
} as GPTConfig);

const POSITIONALS: readonly Positional[] = ["learned", "sinusoidal", "rope", "none"];
const NORMS: readonly NormKind[] = ["layernorm", "rmsnorm"];
const ACTIVATIONS: readonly Activation[] = ["gelu", "gelu_exact", "relu", "swiglu"];

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new Error(`GPTConfig.${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw new Error(`GPTConfig.${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw new Error(`GPTConfig.${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * A full, validated config from a partial one. Missing fields take
 * {@link DEFAULT_CONFIG}'s values, except `dFF`, which defaults to 4·dModel.
 * Throws an error naming the field on any bad value or unknown field.
 *
 * @example gptConfig({ vocabSize: 65, dModel: 64, nLayer: 2, nHead: 4 })
 */
export function gptConfig(partial: Partial<GPTConfig> = {}): GPTConfig {
  if (partial === null || typeof partial !== "object") throw new Error("GPTConfig must be an object");
  for (const key of Object.keys(partial)) {
    if (!(key in DEFAULT_CONFIG)) {
      throw new Error(`GPTConfig has no field '${key}'; known fields: ${Object.keys(DEFAULT_CONFIG).join(", ")}`);
    }
  }
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG, ...partial };
  for (const key of Object.keys(partial)) if ((partial as any)[key] === undefined) merged[key] = (DEFAULT_CONFIG as any)[key];
  if (partial.dFF === undefined) merged.dFF = 4 * (merged.dModel as number);
  const c: GPTConfig = {
    vocabSize: positiveInt("vocabSize", merged.vocabSize),
    contextLength: positiveInt("contextLength", merged.contextLength),
    dModel: positiveInt("dModel", merged.dModel),
    nLayer: positiveInt("nLayer", merged.nLayer),
    nHead: positiveInt("nHead", merged.nHead),
    dFF: positiveInt("dFF", merged.dFF),
    dropout: merged.dropout as number,
    positional: oneOf("positional", merged.positional, POSITIONALS),
    norm: oneOf("norm", merged.norm, NORMS),
    activation: oneOf("activation", merged.activation, ACTIVATIONS),
    bias: bool("bias", merged.bias),
    tiedEmbeddings: bool("tiedEmbeddings", merged.tiedEmbeddings),
    normEps: merged.normEps as number,
    ropeBase: merged.ropeBase as number,
  };
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) {
    throw new Error(`GPTConfig.dropout must be a number in [0, 1), got ${JSON.stringify(c.dropout)}`);
  }
  if (typeof c.normEps !== "number" || !(c.normEps > 0)) {
    throw new Error(`GPTConfig.normEps must be a positive number, got ${JSON.stringify(c.normEps)}`);
  }
  if (typeof c.ropeBase !== "number" || !(c.ropeBase > 1)) {
    throw new Error(`GPTConfig.ropeBase must be a number > 1, got ${JSON.stringify(c.ropeBase)}`);
  }
  if (c.dModel % c.nHead !== 0) {
    throw new Error(`GPTConfig.nHead (${c.nHead}) must divide dModel (${c.dModel})`);
  }
  const headSize = c.dModel / c.nHead;
  if (c.positional === "rope" && headSize % 2 !== 0) {
    throw new Error(`GPTConfig: rotary positions need an even head size, got dModel/nHead = ${headSize}`);
  }
  if (c.positional === "sinusoidal" && c.dModel % 2 !== 0) {
    throw new Error(`GPTConfig: sinusoidal positions need an even dModel, got ${c.dModel}`);
  }
  return c;
}
