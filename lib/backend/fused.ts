/**
 * The hot operations of the Transformer and its optimizer, in one place.
 *
 * This file is a contract. The model (`lib/model`) and the optimizer
 * (`lib/train`) call ONLY these functions for these operations, and each
 * function's TSDoc states its exact math. Here they are plain compositions of
 * tf ops, so they run (and differentiate) on every backend; backend-specific
 * fast versions (fused kernels with hand-written gradients, `./kernels`) are
 * tried first and must give the same results within float tolerance.
 *
 * Shapes: B batch, T time (tokens), H heads, hd head size, d model width,
 * V vocabulary size.
 */
import * as tf from "@tensorflow/tfjs";
import {
  fastAdamW, fastAdamWAll, fastCausalAttention, fastCausalSelfAttention, fastCrossEntropy, fastGelu, fastLayerNorm, fastLinear,
  fastRmsNorm,
} from "./kernels";

/**
 * A linear layer on rows: `y = x · W + b` (no `b`: `y = x · W`).
 *
 * @param x [N, in].
 * @param w [in, out] (GPT-2's Conv1D layout).
 * @param b [out], or null for a bias-free layer.
 */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | null): tf.Tensor2D {
  const fast = b ? fastLinear(x, w, b) : null;
  if (fast) return fast;
  return tf.tidy(() => {
    const y = tf.matMul(x, w);
    return (b ? tf.add(y, b) : y) as tf.Tensor2D;
  });
}

/**
 * Layer normalisation over the last axis:
 * `y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta`, where `var` is the
 * biased variance (divide by d), as in `torch.nn.LayerNorm`.
 *
 * @param x input, any rank, last axis d.
 * @param gamma scale, shape [d].
 * @param beta shift, shape [d], or null for no shift (a bias-free model).
 * @param eps added to the variance (GPT-2: 1e-5).
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor | null, eps: number): tf.Tensor {
  const fast = fastLayerNorm(x, gamma, beta, eps);
  if (fast) return fast;
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const { mean, variance } = tf.moments(x, axis, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    const scaled = tf.mul(normed, gamma);
    return beta ? tf.add(scaled, beta) : scaled;
  });
}

/**
 * RMS normalisation over the last axis: `y = x / sqrt(mean(x²) + eps) * gamma`
 * (as in LLaMA; no mean subtraction, no shift).
 *
 * @param x input, any rank, last axis d.
 * @param gamma scale, shape [d].
 * @param eps added to the mean square.
 */
export function rmsNorm(x: tf.Tensor, gamma: tf.Tensor, eps: number): tf.Tensor {
  const fast = fastRmsNorm(x, gamma, eps);
  if (fast) return fast;
  return tf.tidy(() => {
    const meanSquare = tf.mean(tf.square(x), x.rank - 1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), gamma);
  });
}

/**
 * GELU, tanh approximation (GPT-2's `gelu_new`, PyTorch's `gelu(approximate="tanh")`):
 * `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const fast = fastGelu(x);
  if (fast) return fast;
  return tf.tidy(() => {
    const c = Math.sqrt(2 / Math.PI);
    // x·x·x, not tf.pow(x, 3): pow's gradient also differentiates the exponent (log x), ~10x the work.
    const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), c);
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/**
 * GELU, exact form (PyTorch's default `gelu`, Hugging Face's "gelu"):
 * `0.5 · x · (1 + erf(x / √2))`. Differs from the tanh form by up to ~5e-4.
 * A plain tf composition on every backend (no fused kernel: GPT-2 models use the tanh form).
 */
export function geluExact(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** Options of {@link causalAttention}. */
export interface AttentionOptions {
  /** Multiplies the scores; default `1 / √hd`. */
  scale?: number;
  /** Dropout rate on the attention weights (0 = none, the default). */
  dropout?: number;
  /** Seed of that dropout (an integer), so runs reproduce. */
  dropoutSeed?: number;
  /** Also return the attention weights (after the softmax, before dropout). */
  returnWeights?: boolean;
}

/** Result of {@link causalAttention}. */
export interface AttentionResult {
  /** Weighted sum of values, [B, H, Tq, hd]. */
  output: tf.Tensor4D;
  /** Attention weights [B, H, Tq, Tk] (each row sums to 1), when asked for. */
  weights?: tf.Tensor4D;
}

// Additive causal masks (0 where allowed, -1e9 where not), cached by shape as
// plain arrays: cheap to rebuild as tensors and never tied to one backend.
const maskCache = new Map<string, Float32Array>();

/**
 * The additive causal mask for `tq` queries that are the LAST `tq` positions of
 * `tk` keys: query i may see key j iff `j <= i + (tk - tq)`. Entries are 0
 * (allowed) or -1e9 (masked). Shape [tq, tk].
 */
export function causalMaskValues(tq: number, tk: number): Float32Array {
  const key = `${tq}x${tk}`;
  let m = maskCache.get(key);
  if (!m) {
    m = new Float32Array(tq * tk);
    const offset = tk - tq;
    for (let i = 0; i < tq; i++) for (let j = i + offset + 1; j < tk; j++) m[i * tk + j] = -1e9;
    if (maskCache.size > 64) maskCache.clear();
    maskCache.set(key, m);
  }
  return m;
}

/**
 * Causal scaled dot-product attention.
 *
 * `weights = softmax(q·kᵀ · scale + mask)` over the key axis, where the mask
 * adds -1e9 to every key after the query's position (queries are the last Tq
 * of the Tk positions, so with a KV cache Tq < Tk works), then optional dropout
 * on the weights, then `output = weights · v`.
 *
 * @param q queries [B, H, Tq, hd].
 * @param k keys [B, H, Tk, hd], Tk ≥ Tq.
 * @param v values [B, H, Tk, hd].
 */
export function causalAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, options: AttentionOptions = {}): AttentionResult {
  const [, , tq, hd] = q.shape;
  const tk = k.shape[2];
  if (tk < tq) throw new Error(`causalAttention: ${tk} keys for ${tq} queries; keys must be at least as many`);
  const scale = options.scale ?? 1 / Math.sqrt(hd);
  const rate = options.dropout ?? 0;
  if (rate === 0) {
    const fast = fastCausalAttention(q, k, v, scale, !!options.returnWeights);
    if (fast) return fast as AttentionResult;
  }
  let weightsOut: tf.Tensor4D | undefined;
  const output = tf.tidy(() => {
    const scores = tf.mul(tf.matMul(q, k, false, true), scale);
    const mask = tf.tensor2d(causalMaskValues(tq, tk), [tq, tk]);
    const weights = tf.softmax(tf.add(scores, mask)) as tf.Tensor4D;
    if (options.returnWeights) weightsOut = tf.keep(weights);
    const dropped = rate > 0 ? tf.dropout(weights, rate, undefined, options.dropoutSeed) : weights;
    return tf.matMul(dropped, v) as tf.Tensor4D;
  });
  return weightsOut ? { output, weights: weightsOut } : { output };
}

/**
 * Causal self-attention from a fused q|k|v projection, heads merged back:
 * `qkv` [B·T, 3·d] is split on the last axis into q, k, v (d columns each);
 * each is reshaped to [B, T, H, hd] and transposed to [B, H, T, hd];
 * {@link causalAttention} runs without dropout; its output is transposed back
 * and reshaped to [B·T, d]. (One entry point, so a backend can read the heads
 * in place instead of splitting and transposing.)
 *
 * @param qkv [B·T, 3·d], rows in batch-major order.
 * @param batch B.
 * @param nHead H; d must be a multiple of it.
 * @param options.scale multiplies the scores; default `1 / √hd`.
 */
export function causalSelfAttention(qkv: tf.Tensor2D, batch: number, nHead: number, options: { scale?: number } = {}): tf.Tensor2D {
  const [rows, width] = qkv.shape;
  const d = width / 3;
  if (!Number.isInteger(d) || !Number.isInteger(d / nHead) || !Number.isInteger(rows / batch)) {
    throw new Error(`causalSelfAttention: qkv [${qkv.shape}] does not split into batch ${batch}, 3 × d and ${nHead} heads`);
  }
  const t = rows / batch;
  const hd = d / nHead;
  const scale = options.scale ?? 1 / Math.sqrt(hd);
  const fast = fastCausalSelfAttention(qkv, batch, nHead, scale);
  if (fast) return fast;
  return tf.tidy(() => {
    const toHeads = (m: tf.Tensor) => tf.transpose(tf.reshape(m, [batch, t, nHead, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    const [q, k, v] = tf.split(qkv, 3, 1);
    const { output } = causalAttention(toHeads(q), toHeads(k), toHeads(v), { scale });
    return tf.reshape(tf.transpose(output, [0, 2, 1, 3]), [rows, d]) as tf.Tensor2D;
  });
}

/**
 * Mean cross-entropy of `logits` against integer `targets`, skipping targets
 * equal to `ignoreIndex`:
 * `loss = Σ_i [t_i ≠ ignore] · (logsumexp(logits_i) − logits_i[t_i]) / max(1, #{i: t_i ≠ ignore})`.
 * (When every target is ignored the loss is 0, not NaN.)
 *
 * @param logits [..., V] (e.g. [B, T, V]).
 * @param targets int32 with the leading shape of logits (e.g. [B, T]).
 * @param ignoreIndex targets with this value do not count (PyTorch's default: -100).
 * @returns a scalar.
 */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor, ignoreIndex = -100): tf.Scalar {
  return tf.tidy(() => {
    const v = logits.shape[logits.rank - 1];
    const flatLogits = tf.reshape(logits, [-1, v]);
    const flatTargets = tf.cast(tf.reshape(targets, [-1]), "int32");
    if (flatTargets.shape[0] !== flatLogits.shape[0]) {
      throw new Error(`crossEntropy: ${flatLogits.shape[0]} rows of logits but ${flatTargets.shape[0]} targets`);
    }
    const fast = fastCrossEntropy(flatLogits as tf.Tensor2D, flatTargets as tf.Tensor1D, ignoreIndex);
    if (fast) return fast;
    const lse = tf.logSumExp(flatLogits, 1);
    // oneHot gives an all-zero row for out-of-range ids (the ignored ones).
    const picked = tf.sum(tf.mul(flatLogits, tf.oneHot(flatTargets, v)), 1);
    const keep = tf.cast(tf.notEqual(flatTargets, ignoreIndex), "float32");
    const count = tf.maximum(tf.sum(keep), 1);
    return tf.div(tf.sum(tf.mul(tf.sub(lse, picked), keep)), count) as tf.Scalar;
  });
}

/**
 * Embedding lookup: row `ids[...]` of `table` → shape [...ids.shape, d].
 * Its gradient with respect to the table scatters-adds the output gradient into
 * the looked-up rows. Uses `tf.gather` where the backend has the kernel its
 * gradient needs (UnsortedSegmentSum), else the equivalent one-hot matmul.
 *
 * @param table [V, d].
 * @param ids int32 token ids, any shape.
 */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const intIds = ids.dtype === "int32" ? ids : tf.cast(ids, "int32");
    if (tf.getKernel("UnsortedSegmentSum", tf.getBackend())) return tf.gather(table, intIds);
    const [vocab, d] = table.shape;
    const gatherWithOneHotGrad = tf.customGrad(((tbl: tf.Tensor, save: tf.GradSaveFunc) => {
      const flat = tf.reshape(intIds, [-1]);
      save([flat]);
      const value = tf.reshape(tf.gather(tbl, flat), [...intIds.shape, d]);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const oneHot = tf.oneHot(saved[0] as tf.Tensor1D, vocab); // [N, V]
        return tf.matMul(oneHot, tf.reshape(dy, [-1, d]), true, false);
      };
      return { value, gradFunc };
    }) as any);
    return gatherWithOneHotGrad(table);
  });
}

/** Hyper-parameters of one AdamW step (plain numbers). */
export interface AdamWHyper {
  /** Learning rate of this step. */
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step number (for bias correction). */
  step: number;
}

/**
 * One AdamW update of one parameter, in place (PyTorch's `torch.optim.AdamW`):
 * ```
 * p ← p − lr · weightDecay · p                      (decoupled decay)
 * m ← β1 · m + (1 − β1) · g
 * v ← β2 · v + (1 − β2) · g²
 * p ← p − lr · (m / (1 − β1^step)) / (√(v / (1 − β2^step)) + eps)
 * ```
 * @param param the variable to update.
 * @param grad its gradient (same shape).
 * @param m first-moment variable (same shape), updated in place.
 * @param v second-moment variable (same shape), updated in place.
 * @param weightDecay decoupled decay for this parameter (0 for biases and norms).
 */
export function adamwUpdate(
  param: tf.Variable,
  grad: tf.Tensor,
  m: tf.Variable,
  v: tf.Variable,
  hp: AdamWHyper,
  weightDecay: number,
): void {
  const { lr, beta1, beta2, eps, step } = hp;
  const fast = tf.tidy(() => {
    const updated = fastAdamW(param, grad, m, v, hp, weightDecay);
    if (!updated) return false;
    param.assign(updated[0]);
    m.assign(updated[1]);
    v.assign(updated[2]);
    return true;
  });
  if (fast) return;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  tf.tidy(() => {
    const newM = tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1));
    const newV = tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2));
    const denom = tf.add(tf.sqrt(tf.div(newV, bc2)), eps);
    const update = tf.div(tf.div(newM, bc1), denom);
    const decayed = weightDecay !== 0 ? tf.mul(param, 1 - lr * weightDecay) : param;
    param.assign(tf.sub(decayed, tf.mul(update, lr)));
    m.assign(newM);
    v.assign(newV);
  });
}

/** One parameter's slot in {@link adamwUpdateAll}. */
export interface AdamWSlot {
  param: tf.Variable;
  grad: tf.Tensor;
  m: tf.Variable;
  v: tf.Variable;
  weightDecay: number;
}

/**
 * The AdamW update of every parameter: {@link adamwUpdate} on each slot, same
 * math. (One entry point so a backend can update all parameters at once.)
 */
export function adamwUpdateAll(slots: AdamWSlot[], hp: AdamWHyper): void {
  const fast = tf.tidy(() => {
    const updated = fastAdamWAll(slots, hp);
    if (!updated) return false;
    slots.forEach((s, i) => {
      s.param.assign(updated[i][0]);
      s.m.assign(updated[i][1]);
      s.v.assign(updated[i][2]);
    });
    return true;
  });
  if (fast) return;
  for (const s of slots) adamwUpdate(s.param, s.grad, s.m, s.v, hp, s.weightDecay);
}
