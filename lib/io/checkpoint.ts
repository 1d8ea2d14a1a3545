/**
 * Model checkpoints on disk, in the Hugging Face GPT-2 layout:
 *
 * ```
 * DIR/config.json          model_type "gpt2", n_embd, n_layer, n_head, n_positions, vocab_size, ...
 *                          plus an "llmlab" field: our full config, tokenizer file, metadata
 * DIR/model.safetensors    transformer.wte.weight, transformer.wpe.weight,
 *                          transformer.h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}.{weight,bias},
 *                          transformer.ln_f.{weight,bias}   (Conv1D weights [in, out]; lm_head tied, not stored)
 * DIR/tokenizer.json       the tokenizer, when one was given
 * DIR/optimizer.safetensors  AdamW moments, when an optimizer was given (to resume training)
 * ```
 *
 * A model with a GPT-2-compatible config (learned positions, layernorm, GELU or
 * ReLU, biases, tied embeddings) saved here loads in PyTorch `transformers`
 * (`GPT2LMHeadModel.from_pretrained(DIR)`), and a GPT-2 checkpoint from there
 * (e.g. the real GPT-2 weights) loads here with the same logits. Other configs
 * use the same files with `model_type` "llmlab-gpt" and extra tensor names
 * (`mlp.c_gate` for SwiGLU, `lm_head.weight` when untied).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { GPT } from "../model/gpt";
import { GPTConfig, gptConfig } from "../model/config";
import type { AdamW } from "../train/adamw";
import type { Tokenizer } from "../tokenizer";
import { RawTensor, fromFloat32, readSafetensors, toFloat32, writeSafetensors } from "./safetensors";

/** The model's configuration inside a checkpoint folder (Hugging Face `config.json`). */
export const CONFIG_FILE = "config.json";
/** The weights inside a checkpoint folder (one safetensors file). */
export const WEIGHTS_FILE = "model.safetensors";
/** The index of sharded weights (Hugging Face's `model.safetensors.index.json`), read when present. */
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";
/** The tokenizer saved with a model. */
export const TOKENIZER_FILE = "tokenizer.json";
/** The optimizer state saved with a model (for resuming training). */
export const OPTIMIZER_FILE = "optimizer.safetensors";

/** Options of {@link saveModel}. */
export interface SaveOptions {
  /**
   * The tokenizer, written to `tokenizer.json`: an object with `save(path)`, or
   * with `toJSON()`, or any JSON-serialisable value.
   */
  tokenizer?: unknown;
  /** Character vocabulary (id → character) for char models without a tokenizer file. */
  chars?: string[];
  /** Anything JSON-serialisable to keep with the model (steps, losses, device...). */
  metadata?: Record<string, unknown>;
  /** Also save this optimizer's state, to resume training. */
  optimizer?: AdamW;
  /** Storage dtype of the weights (default F32). */
  dtype?: "F32" | "F16" | "BF16";
  /** Token ids for the HF config's bos/eos fields (default null). */
  bosTokenId?: number | null;
  eosTokenId?: number | null;
}

/** What {@link loadCheckpoint} returns. */
export interface Checkpoint {
  model: GPT;
  /** The tokenizer from `tokenizer.json` (read by lib/tokenizer's `loadTokenizer`), if present. */
  tokenizer?: Tokenizer;
  /** Character vocabulary stored in config.json, if any. */
  chars?: string[];
  /** The metadata saved with the model ({} if none). */
  metadata: Record<string, unknown>;
  /** The raw config.json. */
  hfConfig: Record<string, unknown>;
  /** Step count of the saved optimizer state, if `optimizer.safetensors` exists. */
  optimizerStep?: number;
}

/** True when `config` is expressible as a Hugging Face GPT-2 model. */
export function isGpt2Compatible(config: GPTConfig): boolean {
  return (
    config.positional === "learned" &&
    config.norm === "layernorm" &&
    (config.activation === "gelu" || config.activation === "gelu_exact" || config.activation === "relu") &&
    config.bias &&
    config.tiedEmbeddings
  );
}

/** The config.json for a model (GPT-2 fields plus our own under "llmlab"). */
export function hfConfigFor(config: GPTConfig, extra: { tokenizer?: string | null; chars?: string[]; metadata?: Record<string, unknown>; bosTokenId?: number | null; eosTokenId?: number | null } = {}): Record<string, unknown> {
  const llmlab: Record<string, unknown> = { config };
  if (extra.tokenizer) llmlab.tokenizer = extra.tokenizer;
  if (extra.chars) llmlab.chars = extra.chars;
  if (extra.metadata) llmlab.metadata = extra.metadata;
  const gpt2 = isGpt2Compatible(config);
  const out: Record<string, unknown> = gpt2 ? { architectures: ["GPT2LMHeadModel"], model_type: "gpt2" } : { model_type: "llmlab-gpt" };
  Object.assign(out, {
    vocab_size: config.vocabSize,
    n_positions: config.contextLength,
    n_ctx: config.contextLength,
    n_embd: config.dModel,
    n_layer: config.nLayer,
    n_head: config.nHead,
    n_inner: config.dFF,
    activation_function: config.activation === "gelu" ? "gelu_new" : config.activation === "gelu_exact" ? "gelu" : config.activation,
    resid_pdrop: config.dropout,
    embd_pdrop: config.dropout,
    attn_pdrop: config.dropout,
    layer_norm_epsilon: config.normEps,
    initializer_range: 0.02,
    scale_attn_weights: true,
    use_cache: true,
    tie_word_embeddings: config.tiedEmbeddings,
    bos_token_id: extra.bosTokenId ?? null,
    eos_token_id: extra.eosTokenId ?? null,
    torch_dtype: "float32",
    llmlab,
  });
  return out;
}

/** Our config from a config.json: our own "llmlab.config" if present, else the GPT-2 fields. */
export function configFromHf(hf: Record<string, unknown>): GPTConfig {
  const own = (hf.llmlab as any)?.config;
  if (own && typeof own === "object") return gptConfig(own);
  if (hf.model_type !== "gpt2") {
    throw new Error(`config.json: model_type ${JSON.stringify(hf.model_type)} is not supported (expected "gpt2", or an llmlab checkpoint)`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = hf[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new Error(`config.json: missing '${key}'`);
    }
    if (typeof v !== "number") throw new Error(`config.json: '${key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const act = (hf.activation_function as string | undefined) ?? "gelu_new";
  let activation: "gelu" | "gelu_exact" | "relu";
  if (["gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate"].includes(act)) activation = "gelu";
  else if (act === "gelu" || act === "gelu_python") activation = "gelu_exact";
  else if (act === "relu") activation = "relu";
  else {
    throw new Error(
      `config.json: activation_function ${JSON.stringify(act)} is not supported (llmlab implements "gelu_new" / "gelu_pytorch_tanh" (tanh GELU), "gelu" (erf GELU) and "relu")`,
    );
  }
  if (hf.scale_attn_weights === false) throw new Error("config.json: scale_attn_weights=false is not supported");
  if (hf.scale_attn_by_inverse_layer_idx === true) throw new Error("config.json: scale_attn_by_inverse_layer_idx=true is not supported");
  if (hf.add_cross_attention === true) throw new Error("config.json: add_cross_attention=true is not supported (decoder-only models only)");
  const dModel = num("n_embd");
  return gptConfig({
    vocabSize: num("vocab_size"),
    contextLength: num("n_positions", hf.n_ctx as number | undefined),
    dModel,
    nLayer: num("n_layer"),
    nHead: num("n_head"),
    dFF: num("n_inner", 4 * dModel),
    dropout: num("resid_pdrop", 0),
    positional: "learned",
    norm: "layernorm",
    activation,
    bias: true,
    tiedEmbeddings: hf.tie_word_embeddings === undefined ? true : Boolean(hf.tie_word_embeddings),
    normEps: num("layer_norm_epsilon", 1e-5),
  });
}

/** The weights of a model as raw safetensors entries (tied head not stored). */
export async function modelTensors(model: GPT, dtype: "F32" | "F16" | "BF16" = "F32"): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [name, v] of model.params) {
    const values = (await v.data()) as Float32Array;
    out.set(name, fromFloat32(values, v.shape.slice(), dtype));
  }
  return out;
}

function writeTokenizer(file: string, tokenizer: unknown): void {
  const t = tokenizer as any;
  if (t && typeof t.save === "function") {
    t.save(file);
    return;
  }
  const json = typeof tokenizer === "string" ? tokenizer : JSON.stringify(tokenizer);
  if (json === undefined) throw new Error("saveModel: the tokenizer is not JSON-serialisable");
  fs.writeFileSync(file, json);
}

/**
 * Save a model (and optionally its tokenizer, metadata and optimizer state) to
 * a folder in the Hugging Face GPT-2 layout. Creates the folder.
 */
export async function saveModel(model: GPT, dir: string, options: SaveOptions = {}): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = await modelTensors(model, options.dtype);
  writeSafetensors(path.join(dir, WEIGHTS_FILE), tensors, { format: "pt" });
  let tokenizerFile: string | null = null;
  if (options.tokenizer !== undefined) {
    writeTokenizer(path.join(dir, TOKENIZER_FILE), options.tokenizer);
    tokenizerFile = TOKENIZER_FILE;
  }
  const hf = hfConfigFor(model.config, {
    tokenizer: tokenizerFile,
    chars: options.chars,
    metadata: options.metadata,
    bosTokenId: options.bosTokenId,
    eosTokenId: options.eosTokenId,
  });
  fs.writeFileSync(path.join(dir, CONFIG_FILE), JSON.stringify(hf, null, 2) + "\n");
  if (options.optimizer) {
    const state = new Map<string, RawTensor>();
    for (const [name, t] of options.optimizer.stateTensors()) state.set(name, fromFloat32((await t.data()) as Float32Array, t.shape.slice()));
    writeSafetensors(path.join(dir, OPTIMIZER_FILE), state, { step: String(options.optimizer.stepCount) });
  }
}

/** Read the weights of a folder: model.safetensors, or the shards listed in model.safetensors.index.json. */
function readWeights(dir: string): Map<string, RawTensor> {
  const single = path.join(dir, WEIGHTS_FILE);
  if (fs.existsSync(single)) return readSafetensors(single).tensors;
  const index = path.join(dir, WEIGHTS_INDEX_FILE);
  if (fs.existsSync(index)) {
    const map = JSON.parse(fs.readFileSync(index, "utf8")).weight_map as Record<string, string>;
    const out = new Map<string, RawTensor>();
    for (const shard of new Set(Object.values(map))) {
      for (const [k, v] of readSafetensors(path.join(dir, shard)).tensors) out.set(k, v);
    }
    return out;
  }
  const hint = fs.existsSync(path.join(dir, "pytorch_model.bin"))
    ? " (pytorch_model.bin is a pickle llmlab cannot read; convert it with `model.save_pretrained(dir, safe_serialization=True)`)"
    : "";
  throw new Error(`no ${WEIGHTS_FILE} in ${dir}${hint}`);
}

/** Map a checkpoint tensor name to ours; null for buffers we rebuild (the causal mask). */
function canonicalName(name: string): string | null {
  let n = name;
  if (/^(h\.\d+\.|wte\.|wpe\.|ln_f\.)/.test(n)) n = `transformer.${n}`;
  if (/\.attn\.(bias|masked_bias)$/.test(n)) return null; // GPT-2's causal-mask buffers
  return n;
}

/**
 * Copy checkpoint tensors into a model's variables, checking names and shapes.
 * Accepts GPT-2 names with or without the `transformer.` prefix, ignores the
 * attention-mask buffers, and accepts a stored `lm_head.weight` of a tied model.
 */
export function assignWeights(model: GPT, tensors: Map<string, RawTensor>): void {
  const seen = new Set<string>();
  const unexpected: string[] = [];
  for (const [rawName, raw] of tensors) {
    const name = canonicalName(rawName);
    if (name === null) continue;
    const target = model.params.get(name);
    if (!target) {
      if (name === "lm_head.weight" && model.config.tiedEmbeddings) continue; // tied: same as wte
      unexpected.push(rawName);
      continue;
    }
    if (raw.shape.join(",") !== target.shape.join(",")) {
      throw new Error(`checkpoint tensor '${rawName}' has shape [${raw.shape}], the model expects [${target.shape}]`);
    }
    tf.tidy(() => target.assign(tf.tensor(toFloat32(raw), target.shape, "float32")));
    seen.add(name);
  }
  const missing = [...model.params.keys()].filter((n) => !seen.has(n));
  if (missing.length) throw new Error(`checkpoint is missing ${missing.length} tensor(s): ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}`);
  if (unexpected.length) {
    throw new Error(`checkpoint has tensor(s) this config does not use: ${unexpected.slice(0, 8).join(", ")}${unexpected.length > 8 ? ", ..." : ""}`);
  }
}

function readTokenizer(file: string): Tokenizer {
  // lib/tokenizer owns the format (loaded lazily: most uses of lib/io never need it).
  const { loadTokenizer } = require("../tokenizer") as typeof import("../tokenizer");
  try {
    return loadTokenizer(file);
  } catch (e) {
    throw new Error(`cannot read the tokenizer ${file}: ${(e as Error).message}`);
  }
}

/**
 * Load a checkpoint folder: the model with its weights, plus tokenizer,
 * character vocabulary and metadata when present.
 */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const configPath = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(configPath)) throw new Error(`no ${CONFIG_FILE} in ${dir} — not a model folder`);
  let hf: Record<string, unknown>;
  try {
    hf = JSON.parse(fs.readFileSync(configPath, "utf8"));
  } catch (e) {
    throw new Error(`${configPath} is not valid JSON: ${(e as Error).message}`);
  }
  const config = configFromHf(hf);
  const tensors = readWeights(dir);
  const model = new GPT(config, { skipInit: true });
  try {
    assignWeights(model, tensors);
  } catch (e) {
    model.dispose();
    throw new Error(`loading ${dir}: ${(e as Error).message}`);
  }
  const llmlab = (hf.llmlab ?? {}) as Record<string, any>;
  const result: Checkpoint = { model, metadata: llmlab.metadata ?? {}, hfConfig: hf };
  const tokFile = path.join(dir, typeof llmlab.tokenizer === "string" ? llmlab.tokenizer : TOKENIZER_FILE);
  if (fs.existsSync(tokFile)) result.tokenizer = readTokenizer(tokFile);
  if (Array.isArray(llmlab.chars)) result.chars = llmlab.chars;
  const optFile = path.join(dir, OPTIMIZER_FILE);
  if (fs.existsSync(optFile)) result.optimizerStep = Number(readSafetensors(optFile).metadata.step ?? 0);
  return result;
}

/** Load just the model of a checkpoint folder (see {@link loadCheckpoint}). */
export async function loadModel(dir: string): Promise<GPT> {
  return (await loadCheckpoint(dir)).model;
}

/** Restore an optimizer's moments and step count from a folder's optimizer.safetensors. */
export function loadOptimizerState(dir: string, optimizer: AdamW): void {
  const file = readSafetensors(path.join(dir, OPTIMIZER_FILE));
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const [name, raw] of file.tensors) tensors.set(name, tf.tensor(toFloat32(raw), raw.shape, "float32"));
    optimizer.loadState(tensors, Number(file.metadata.step ?? 0));
  } finally {
    tf.dispose([...tensors.values()]);
  }
}
