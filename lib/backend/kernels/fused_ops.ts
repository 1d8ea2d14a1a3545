// Typed entry points to the fused kernels, for lib/backend/fused.ts. Each
// returns null when the fused kernel cannot run here (another backend, no
// native addon, unusual dtypes), and the caller then uses plain tf ops.
import * as tf from "@tensorflow/tfjs";
import { FUSED } from "./fused_kernels";
import { nativeAddon } from "./native";

let registeredOnWasm = false;

/** Called by registerFastKernels once the fused kernels are registered on wasm. */
export function markFusedRegistered(): void {
  registeredOnWasm = true;
}

/** True when the active backend runs the fused kernels (wasm with the native addon). */
export function fusedAvailable(): boolean {
  return registeredOnWasm && tf.getBackend() === "wasm" && nativeAddon() != null;
}

const f32 = (...ts: (tf.Tensor | null | undefined)[]) => ts.every((t) => t == null || t.dtype === "float32");
const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel(name, inputs as never, attrs as never) as tf.Tensor | tf.Tensor[];

/** x [N, in] · w [in, out] + b [out] in one pass, or null. */
export function fastLinear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D | null {
  if (!fusedAvailable() || !f32(x, w, b)) return null;
  return run(FUSED.linear, { x, w, b }) as tf.Tensor2D;
}

/** GELU (tanh approximation), or null. */
export function fastGelu(x: tf.Tensor): tf.Tensor | null {
  if (!fusedAvailable() || !f32(x)) return null;
  return run(FUSED.gelu, { x }) as tf.Tensor;
}

/** Layer norm over the last axis, or null. */
export function fastLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor | null, eps: number): tf.Tensor | null {
  if (!fusedAvailable() || !f32(x, gamma, beta) || x.rank < 1) return null;
  const inputs: Record<string, tf.Tensor> = beta ? { x, gamma, beta } : { x, gamma };
  const [y, mean, rstd] = run(FUSED.layerNorm, inputs, { eps, hasBeta: beta != null }) as tf.Tensor[];
  tf.dispose([mean, rstd]); // the tape keeps its own references for the backward pass
  return y;
}

/** RMS norm over the last axis, or null. */
export function fastRmsNorm(x: tf.Tensor, gamma: tf.Tensor, eps: number): tf.Tensor | null {
  if (!fusedAvailable() || !f32(x, gamma) || x.rank < 1) return null;
  const [y, rstd] = run(FUSED.rmsNorm, { x, gamma }, { eps }) as tf.Tensor[];
  rstd.dispose();
  return y;
}

/**
 * Causal attention without dropout: the output, and the weights when asked
 * for (otherwise the kernel keeps only each row's log-sum-exp), or null.
 */
export function fastCausalAttention(
  q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, withWeights: boolean,
): { output: tf.Tensor4D; weights?: tf.Tensor4D } | null {
  if (!fusedAvailable() || !f32(q, k, v)) return null;
  if (withWeights) {
    const [output, weights] = run(FUSED.attention, { q, k, v }, { scale }) as tf.Tensor4D[];
    return { output, weights };
  }
  const [output, lse] = run(FUSED.attentionLse, { q, k, v }, { scale }) as tf.Tensor[];
  lse.dispose();
  return { output: output as tf.Tensor4D };
}

/**
 * Causal self-attention (no dropout) from the fused projection qkv [B·T, 3d]
 * with `nHead` heads: the merged output [B·T, d], or null.
 */
export function fastCausalSelfAttention(qkv: tf.Tensor2D, batch: number, nHead: number, scale: number): tf.Tensor2D | null {
  if (!fusedAvailable() || !f32(qkv)) return null;
  const [output, lse] = run(FUSED.selfAttention, { qkv }, { batch, nHead, scale }) as tf.Tensor[];
  lse.dispose();
  return output as tf.Tensor2D;
}

/** Mean cross-entropy of logits [N, V] against int32 targets [N], or null. */
export function fastCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, ignoreIndex: number): tf.Scalar | null {
  if (!fusedAvailable() || !f32(logits) || targets.dtype !== "int32" || !Number.isInteger(ignoreIndex)) return null;
  const [loss, lse] = run(FUSED.crossEntropy, { logits, targets }, { ignoreIndex }) as tf.Tensor[];
  lse.dispose();
  return loss as tf.Scalar;
}

/** New values of param, m and v after one AdamW step, or null. */
export function fastAdamW(
  param: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor,
  hp: { lr: number; beta1: number; beta2: number; eps: number; step: number }, weightDecay: number,
): [tf.Tensor, tf.Tensor, tf.Tensor] | null {
  if (!fusedAvailable() || !f32(param, grad, m, v)) return null;
  const { lr, beta1, beta2, eps, step } = hp;
  return run(FUSED.adamw, { param, grad, m, v }, { lr, beta1, beta2, eps, step, weightDecay }) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/** New [param, m, v] of every slot after one AdamW step (one kernel call), or null. */
export function fastAdamWAll(
  slots: { param: tf.Tensor; grad: tf.Tensor; m: tf.Tensor; v: tf.Tensor; weightDecay: number }[],
  hp: { lr: number; beta1: number; beta2: number; eps: number; step: number },
): [tf.Tensor, tf.Tensor, tf.Tensor][] | null {
  if (!fusedAvailable() || slots.length === 0 || !slots.every((s) => f32(s.param, s.grad, s.m, s.v))) return null;
  const inputs: Record<string, tf.Tensor> = {};
  slots.forEach((s, i) => {
    inputs[`p${i}`] = s.param;
    inputs[`g${i}`] = s.grad;
    inputs[`m${i}`] = s.m;
    inputs[`v${i}`] = s.v;
  });
  const { lr, beta1, beta2, eps, step } = hp;
  const outs = run(FUSED.adamwAll, inputs, { lr, beta1, beta2, eps, step, weightDecays: slots.map((s) => s.weightDecay) }) as tf.Tensor[];
  return slots.map((_, i) => [outs[3 * i], outs[3 * i + 1], outs[3 * i + 2]]);
}
