/**
 * A decoder-only GPT (nanoGPT-style), written against tf ops so it runs on every
 * backend. Parameters are `tf.Variable`s in a Map keyed by stable names — the
 * names of Hugging Face's GPT-2 checkpoints (`transformer.h.0.attn.c_attn.weight`
 * ...) — with linear weights stored [in, out] like GPT-2's Conv1D, so a
 * projection is a plain `x · W`.
 */
import * as tf from "@tensorflow/tfjs";
import { layerNorm, rmsNorm, gelu, geluExact, causalAttention, causalSelfAttention, crossEntropy, embedding, linear } from "../backend/fused";
import { DISPLAY_SYMBOL, MimeBundle } from "../host";
import { GPTConfig, gptConfig } from "./config";
import { Rng } from "./rng";
import { generate as generateTokens, GenerateOptions, GenerateResult } from "./generate";

/** Token ids: a tensor ([B, T] or [T]), or plain arrays. */
export type TokenIds = tf.Tensor | number[] | number[][] | Int32Array;

/**
 * Keys and values of past positions, per layer, for fast generation. Made by
 * {@link GPT.newCache}; each forward call with it appends the new positions.
 * Call `dispose()` when done.
 */
export class KVCache {
  /** Per layer: keys [B, H, length, hd] (null before the first call). */
  readonly keys: (tf.Tensor4D | null)[];
  /** Per layer: values [B, H, length, hd]. */
  readonly values: (tf.Tensor4D | null)[];
  /** Number of positions cached. */
  length = 0;

  constructor(nLayer: number) {
    this.keys = new Array(nLayer).fill(null);
    this.values = new Array(nLayer).fill(null);
  }

  /** Replace layer `i`'s entries (keeps the new tensors, frees the old). */
  set(i: number, k: tf.Tensor4D, v: tf.Tensor4D): void {
    this.keys[i]?.dispose();
    this.values[i]?.dispose();
    this.keys[i] = tf.keep(k);
    this.values[i] = tf.keep(v);
  }

  /** Free every cached tensor and reset to empty. */
  dispose(): void {
    for (let i = 0; i < this.keys.length; i++) {
      this.keys[i]?.dispose();
      this.values[i]?.dispose();
      this.keys[i] = null;
      this.values[i] = null;
    }
    this.length = 0;
  }
}

/** Options of {@link GPT.forward}. */
export interface ForwardOptions {
  /** Training mode: dropout is applied (when config.dropout > 0). Default false. */
  training?: boolean;
  /** Also return every layer's attention weights [B, H, T, Tk]. */
  returnAttentions?: boolean;
  /** Also return the residual stream: after the embeddings, then after each block. */
  returnHiddenStates?: boolean;
  /** Past keys/values: the ids are the positions after `cache.length`; the cache is extended. */
  cache?: KVCache;
}

/** Result of {@link GPT.forward}. All tensors belong to the caller (dispose them). */
export interface ForwardResult {
  /** Next-token logits [B, T, vocabSize]. */
  logits: tf.Tensor3D;
  /** One [B, H, T, Tk] tensor per layer, when asked for. */
  attentions?: tf.Tensor4D[];
  /** nLayer + 1 tensors [B, T, dModel]: embeddings output, then each block's output (before the final norm). */
  hiddenStates?: tf.Tensor3D[];
}

/** Options of the {@link GPT} constructor. */
export interface GPTOptions {
  /** Seed of weight initialisation and of dropout (default 1337, as nanoGPT). */
  seed?: number;
  /** Skip random initialisation (weights zero) — for loading a checkpoint right after. */
  skipInit?: boolean;
}

/** Convert token ids to an int32 tensor [B, T] (a 1-D input becomes B = 1). */
export function toIdTensor(ids: TokenIds, vocabSize?: number): tf.Tensor2D {
  if (ids instanceof tf.Tensor) {
    if (ids.rank === 1) return tf.tidy(() => tf.cast(tf.expandDims(ids, 0), "int32")) as tf.Tensor2D;
    if (ids.rank !== 2) throw new Error(`token ids must be a [B, T] or [T] tensor, got shape [${ids.shape}]`);
    return (ids.dtype === "int32" ? tf.clone(ids) : tf.cast(ids, "int32")) as tf.Tensor2D;
  }
  const rows: ArrayLike<number>[] =
    ids instanceof Int32Array ? [ids] : Array.isArray(ids) && ids.length > 0 && Array.isArray(ids[0]) ? (ids as number[][]) : [ids as number[]];
  const t = rows[0].length;
  for (const row of rows) {
    if (row.length !== t) throw new Error("token ids: every row must have the same length");
    for (let i = 0; i < row.length; i++) {
      const id = row[i];
      if (!Number.isInteger(id) || id < 0 || (vocabSize !== undefined && id >= vocabSize)) {
        throw new Error(`token id ${id} is not an integer in [0, ${vocabSize ?? "vocabSize"})`);
      }
    }
  }
  const flat = new Int32Array(rows.length * t);
  rows.forEach((row, r) => flat.set(Array.from(row), r * t));
  return tf.tensor2d(flat, [rows.length, t], "int32");
}

/**
 * Sinusoidal position table [n, d] ("Attention Is All You Need"):
 * `PE[p, 2i] = sin(p / 10000^(2i/d))`, `PE[p, 2i+1] = cos(p / 10000^(2i/d))`.
 */
export function sinusoidalTable(n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < d / 2; i++) {
      const angle = p / Math.pow(10000, (2 * i) / d);
      out[p * d + 2 * i] = Math.sin(angle);
      out[p * d + 2 * i + 1] = Math.cos(angle);
    }
  }
  return out;
}

/**
 * Rotary tables for positions [start, start + t): cos and sin, each [t, hd],
 * with frequencies `base^(-2i/hd)` for i < hd/2, repeated for both halves
 * (the "rotate half" convention of GPT-NeoX / LLaMA).
 */
function ropeTables(start: number, t: number, hd: number, base: number): { cos: Float32Array; sin: Float32Array } {
  const half = hd / 2;
  const cos = new Float32Array(t * hd);
  const sin = new Float32Array(t * hd);
  for (let p = 0; p < t; p++) {
    for (let i = 0; i < half; i++) {
      const angle = (start + p) * Math.pow(base, (-2 * i) / hd);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * hd + i] = c;
      cos[p * hd + i + half] = c;
      sin[p * hd + i] = s;
      sin[p * hd + i + half] = s;
    }
  }
  return { cos, sin };
}

/** Rotate [B, H, T, hd] by position: `x·cos + rotate_half(x)·sin`, rotate_half([a, b]) = [-b, a]. */
function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const half = x.shape[3] / 2;
  const [a, b] = tf.split(x, [half, half], 3);
  const rotated = tf.concat([tf.neg(b), a], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
}

/**
 * A decoder-only Transformer language model.
 *
 * @example
 * const model = new GPT({ vocabSize: 65, contextLength: 64, dModel: 128, nLayer: 4, nHead: 4 });
 * const { logits } = model.forward([[1, 2, 3]]);   // [1, 3, 65]
 */
export class GPT {
  /** The validated configuration. */
  readonly config: GPTConfig;
  /** Every parameter by its stable (GPT-2 checkpoint) name. */
  readonly params: Map<string, tf.Variable>;
  private dropoutRng: Rng;
  private sinusoids?: Float32Array;
  private disposed = false;

  constructor(config: Partial<GPTConfig> = {}, options: GPTOptions = {}) {
    this.config = gptConfig(config);
    const seed = options.seed ?? 1337;
    this.dropoutRng = new Rng(seed ^ 0x5eed);
    this.params = new Map();
    const rng = new Rng(seed);
    for (const [name, shape, init] of this.paramSpecs()) {
      const size = shape.reduce((a, b) => a * b, 1);
      let values: Float32Array;
      if (options.skipInit || init === "zeros") values = new Float32Array(size);
      else if (init === "ones") values = new Float32Array(size).fill(1);
      else values = rng.normalArray(size, init);
      this.params.set(name, tf.tidy(() => tf.variable(tf.tensor(values, shape, "float32"), true)));
    }
    if (this.config.positional === "sinusoidal") {
      this.sinusoids = sinusoidalTable(this.config.contextLength, this.config.dModel);
    }
  }

  /**
   * The parameters this config has: name, shape and initialisation — N(0, std)
   * as a number (0.02; residual output projections 0.02/√(2·nLayer), as GPT-2),
   * or "zeros" (biases) / "ones" (norm scales).
   */
  paramSpecs(): [string, number[], number | "zeros" | "ones"][] {
    const c = this.config;
    const specs: [string, number[], number | "zeros" | "ones"][] = [];
    const std = 0.02;
    const residualStd = 0.02 / Math.sqrt(2 * c.nLayer);
    const norm = (prefix: string) => {
      specs.push([`${prefix}.weight`, [c.dModel], "ones"]);
      if (c.norm === "layernorm" && c.bias) specs.push([`${prefix}.bias`, [c.dModel], "zeros"]);
    };
    const linear = (prefix: string, inDim: number, outDim: number, s: number) => {
      specs.push([`${prefix}.weight`, [inDim, outDim], s]);
      if (c.bias) specs.push([`${prefix}.bias`, [outDim], "zeros"]);
    };
    specs.push(["transformer.wte.weight", [c.vocabSize, c.dModel], std]);
    if (c.positional === "learned") specs.push(["transformer.wpe.weight", [c.contextLength, c.dModel], std]);
    for (let i = 0; i < c.nLayer; i++) {
      const p = `transformer.h.${i}`;
      norm(`${p}.ln_1`);
      linear(`${p}.attn.c_attn`, c.dModel, 3 * c.dModel, std);
      linear(`${p}.attn.c_proj`, c.dModel, c.dModel, residualStd);
      norm(`${p}.ln_2`);
      linear(`${p}.mlp.c_fc`, c.dModel, c.dFF, std);
      if (c.activation === "swiglu") linear(`${p}.mlp.c_gate`, c.dModel, c.dFF, std);
      linear(`${p}.mlp.c_proj`, c.dFF, c.dModel, residualStd);
    }
    norm("transformer.ln_f");
    if (!c.tiedEmbeddings) specs.push(["lm_head.weight", [c.vocabSize, c.dModel], std]);
    return specs;
  }

  /** The parameter called `name` (throws a clear error if this model has none). */
  param(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`GPT has no parameter '${name}'`);
    return p;
  }

  /** All parameters, in a stable order (for optimizers and gradients). */
  variables(): tf.Variable[] {
    return [...this.params.values()];
  }

  /** Re-seed the dropout stream (training with a seed reproduces exactly). */
  seedDropout(seed: number): void {
    this.dropoutRng = new Rng(seed ^ 0x5eed);
  }

  /** A fresh, empty key/value cache for generation. */
  newCache(): KVCache {
    return new KVCache(this.config.nLayer);
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error("this GPT was disposed");
  }

  private norm(x: tf.Tensor, prefix: string): tf.Tensor {
    const c = this.config;
    const gamma = this.param(`${prefix}.weight`);
    if (c.norm === "rmsnorm") return rmsNorm(x, gamma, c.normEps);
    return layerNorm(x, gamma, c.bias ? this.param(`${prefix}.bias`) : null, c.normEps);
  }

  /** `x · W (+ b)` for x [N, in]. */
  private linear(x: tf.Tensor2D, prefix: string): tf.Tensor2D {
    const bias = this.config.bias ? (this.param(`${prefix}.bias`) as tf.Tensor1D) : null;
    return linear(x, this.param(`${prefix}.weight`) as tf.Tensor2D, bias);
  }

  private dropout(x: tf.Tensor, training: boolean): tf.Tensor {
    const rate = this.config.dropout;
    if (!training || rate === 0) return x;
    return tf.dropout(x, rate, undefined, this.dropoutRng.nextUint32());
  }

  /**
   * Run the model on token ids [B, T] (or [T]): logits for the next token at
   * every position, and on request attention weights and hidden states.
   * With `options.cache`, the ids continue the cached sequence.
   */
  forward(ids: TokenIds, options: ForwardOptions = {}): ForwardResult {
    this.checkAlive();
    const c = this.config;
    const training = options.training ?? false;
    const cache = options.cache;
    const past = cache?.length ?? 0;
    const result = tf.tidy(() => {
      const idx = toIdTensor(ids, c.vocabSize);
      const [b, t] = idx.shape;
      if (t === 0) throw new Error("forward: no tokens given");
      if (past + t > c.contextLength) {
        throw new Error(`forward: ${past + t} positions exceed contextLength ${c.contextLength}`);
      }
      const d = c.dModel;
      const nh = c.nHead;
      const hd = d / nh;

      let x = embedding(this.param("transformer.wte.weight") as tf.Tensor2D, idx) as tf.Tensor3D;
      if (c.positional === "learned") {
        x = tf.add(x, tf.slice(this.param("transformer.wpe.weight"), [past, 0], [t, d]));
      } else if (c.positional === "sinusoidal") {
        x = tf.add(x, tf.tensor2d(this.sinusoids!.subarray(past * d, (past + t) * d), [t, d]));
      }
      x = this.dropout(x, training) as tf.Tensor3D;

      let rope: { cos: tf.Tensor2D; sin: tf.Tensor2D } | undefined;
      if (c.positional === "rope") {
        const tables = ropeTables(past, t, hd, c.ropeBase);
        rope = { cos: tf.tensor2d(tables.cos, [t, hd]), sin: tf.tensor2d(tables.sin, [t, hd]) };
      }

      const attentions: tf.Tensor4D[] = [];
      const hiddenStates: tf.Tensor3D[] = [x];
      const toHeads = (m: tf.Tensor) => tf.transpose(tf.reshape(m, [b, t, nh, hd]), [0, 2, 1, 3]) as tf.Tensor4D;

      for (let i = 0; i < c.nLayer; i++) {
        const p = `transformer.h.${i}`;
        // Attention: one fused qkv projection, split on the last axis, 4-D transposes only.
        const h = tf.reshape(this.norm(x, `${p}.ln_1`), [b * t, d]) as tf.Tensor2D;
        const qkv = this.linear(h, `${p}.attn.c_attn`);
        // Plain causal self-attention (no cache, RoPE, dropout or weights asked for) is one
        // fused call, so a fast backend skips the per-head splits and transposes.
        const plain = !rope && !cache && !options.returnAttentions && !(training && c.dropout > 0);
        let merged: tf.Tensor2D;
        if (plain) {
          merged = causalSelfAttention(qkv, b, nh);
        } else {
          const [q2, k2, v2] = tf.split(qkv, 3, 1);
          let q = toHeads(q2);
          let k = toHeads(k2);
          let v = toHeads(v2);
          if (rope) {
            q = applyRope(q, rope.cos, rope.sin);
            k = applyRope(k, rope.cos, rope.sin);
          }
          if (cache) {
            const pk = cache.keys[i];
            const pv = cache.values[i];
            if (pk && pv) {
              k = tf.concat([pk, k], 2);
              v = tf.concat([pv, v], 2);
            }
            cache.set(i, k, v);
          }
          const attn = causalAttention(q, k, v, {
            dropout: training ? c.dropout : 0,
            dropoutSeed: training && c.dropout > 0 ? this.dropoutRng.nextUint32() : undefined,
            returnWeights: options.returnAttentions,
          });
          if (attn.weights) attentions.push(attn.weights);
          merged = tf.reshape(tf.transpose(attn.output, [0, 2, 1, 3]), [b * t, d]) as tf.Tensor2D;
        }
        const attnOut = this.linear(merged, `${p}.attn.c_proj`);
        x = tf.add(x, this.dropout(tf.reshape(attnOut, [b, t, d]), training)) as tf.Tensor3D;

        // MLP.
        const h2 = tf.reshape(this.norm(x, `${p}.ln_2`), [b * t, d]) as tf.Tensor2D;
        let hidden: tf.Tensor2D;
        if (c.activation === "swiglu") {
          const gate = this.linear(h2, `${p}.mlp.c_gate`);
          hidden = tf.mul(tf.mul(gate, tf.sigmoid(gate)), this.linear(h2, `${p}.mlp.c_fc`));
        } else {
          const pre = this.linear(h2, `${p}.mlp.c_fc`);
          hidden = (c.activation === "gelu" ? gelu(pre) : c.activation === "gelu_exact" ? geluExact(pre) : tf.relu(pre)) as tf.Tensor2D;
        }
        const mlpOut = this.linear(hidden, `${p}.mlp.c_proj`);
        x = tf.add(x, this.dropout(tf.reshape(mlpOut, [b, t, d]), training)) as tf.Tensor3D;
        hiddenStates.push(x);
      }

      const final = tf.reshape(this.norm(x, "transformer.ln_f"), [b * t, d]) as tf.Tensor2D;
      const head = this.param(c.tiedEmbeddings ? "transformer.wte.weight" : "lm_head.weight");
      const logits = tf.reshape(tf.matMul(final, head, false, true), [b, t, c.vocabSize]) as tf.Tensor3D;

      const out: { logits: tf.Tensor3D; attentions?: tf.Tensor4D[]; hiddenStates?: tf.Tensor3D[] } = { logits };
      if (options.returnAttentions) out.attentions = attentions;
      if (options.returnHiddenStates) out.hiddenStates = hiddenStates;
      return out;
    });
    if (cache) cache.length = past + result.logits.shape[1];
    return result;
  }

  /** Just the logits [B, T, vocabSize] (inference mode). */
  logits(ids: TokenIds): tf.Tensor3D {
    return this.forward(ids).logits;
  }

  /**
   * Mean next-token cross-entropy of the model on `ids` against `targets`
   * (same shape; targets equal to `ignoreIndex`, default -100, do not count).
   */
  loss(ids: TokenIds, targets: TokenIds, options: { training?: boolean; ignoreIndex?: number } = {}): tf.Scalar {
    return tf.tidy(() => {
      const { logits } = this.forward(ids, { training: options.training });
      const tgt = targets instanceof tf.Tensor ? targets : toIdTensorAllowNegative(targets);
      return crossEntropy(logits, tgt, options.ignoreIndex ?? -100);
    });
  }

  /**
   * Number of parameters (a tied head counts once). With `nonEmbedding`, the
   * learned position table is left out (nanoGPT's convention for FLOP counts).
   */
  paramCount(options: { nonEmbedding?: boolean } = {}): number {
    let n = 0;
    for (const [name, v] of this.params) {
      if (options.nonEmbedding && name === "transformer.wpe.weight") continue;
      n += v.size;
    }
    return n;
  }

  /**
   * Training FLOPs per token, forward + backward: `6·N + 12·L·T·d` with N the
   * non-embedding parameter count and T the sequence length (default
   * contextLength), as in nanoGPT / the PaLM appendix.
   */
  flopsPerToken(seqLen: number = this.config.contextLength): number {
    const c = this.config;
    return 6 * this.paramCount({ nonEmbedding: true }) + 12 * c.nLayer * seqLen * c.dModel;
  }

  /**
   * Generate tokens after `prompt` (see {@link generate} in `./generate` for the options).
   */
  async generate(prompt: number[], options: GenerateOptions = {}): Promise<GenerateResult> {
    return generateTokens(this, prompt, options);
  }

  /** Free every parameter. The model cannot be used afterwards. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.disposed = true;
  }

  /** One line: architecture and size. */
  toString(): string {
    const c = this.config;
    return (
      `GPT(${(this.paramCount() / 1e6).toFixed(3)}M params: vocab ${c.vocabSize}, context ${c.contextLength}, ` +
      `d ${c.dModel}, ${c.nLayer} layers × ${c.nHead} heads, dFF ${c.dFF}, ${c.positional} positions, ` +
      `${c.norm}, ${c.activation}${c.bias ? "" : ", no bias"}${c.tiedEmbeddings ? ", tied" : ", untied"}` +
      `${c.dropout ? `, dropout ${c.dropout}` : ""})`
    );
  }

  /** Rich display: a parameter table per tensor in notebooks. */
  [DISPLAY_SYMBOL](): MimeBundle {
    const rows = [...this.params.entries()]
      .map(([name, v]) => `<tr><td style="text-align:left"><code>${name}</code></td><td>[${v.shape.join(", ")}]</td><td>${v.size.toLocaleString("en")}</td></tr>`)
      .join("");
    const html =
      `<details><summary>${this.toString()}</summary>` +
      `<table><tr><th>parameter</th><th>shape</th><th>size</th></tr>${rows}</table></details>`;
    return { "text/plain": this.toString(), "text/html": html };
  }
}

/** Targets may hold the ignore index (negative), so they skip the id range check. */
function toIdTensorAllowNegative(ids: TokenIds): tf.Tensor2D {
  if (ids instanceof tf.Tensor) return toIdTensor(ids);
  const rows: ArrayLike<number>[] =
    ids instanceof Int32Array ? [ids] : Array.isArray(ids) && ids.length > 0 && Array.isArray(ids[0]) ? (ids as number[][]) : [ids as number[]];
  const t = rows[0].length;
  const flat = new Int32Array(rows.length * t);
  rows.forEach((row, r) => {
    if (row.length !== t) throw new Error("targets: every row must have the same length");
    flat.set(Array.from(row), r * t);
  });
  return tf.tensor2d(flat, [rows.length, t], "int32");
}
