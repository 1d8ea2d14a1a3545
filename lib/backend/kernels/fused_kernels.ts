// Fused kernels for the wasm backend, computed by the native addon in place
// on the wasm heap: GELU, layer/RMS norm, causal attention, cross-entropy
// (each with a gradient kernel) and the AdamW update. lib/backend/fused.ts
// calls them through runFused() when available and otherwise runs the same
// math as plain tf ops. Each kernel's math is documented in native/fused.c.
import * as tf from "@tensorflow/tfjs";
import type { GradConfig, KernelConfig, KernelFunc, NamedAttrMap, Tensor, TensorInfo } from "@tensorflow/tfjs";
import { WasmBackend, offsetOf, sizeOf } from "./wasm_heap";
import { nativeAddon } from "./native";

/** Names of the fused kernels, as registered with tfjs. */
export const FUSED = {
  gelu: "LlmlabGelu",
  geluGrad: "LlmlabGeluGrad",
  layerNorm: "LlmlabLayerNorm",
  rmsNorm: "LlmlabRmsNorm",
  normGrad: "LlmlabNormGrad",
  attention: "LlmlabCausalAttention",
  attentionLse: "LlmlabCausalAttentionLse",
  linear: "LlmlabLinear",
  selfAttention: "LlmlabSelfAttentionQkv",
  selfAttentionGrad: "LlmlabSelfAttentionQkvGrad",
  attentionGrad: "LlmlabCausalAttentionGrad",
  crossEntropy: "LlmlabCrossEntropy",
  crossEntropyGrad: "LlmlabCrossEntropyGrad",
  adamw: "LlmlabAdamW",
  adamwAll: "LlmlabAdamWAll",
} as const;

type Fn = (...args: unknown[]) => void;
type Args = { inputs: Record<string, TensorInfo | undefined>; backend: WasmBackend; attrs: NamedAttrMap };

function addon(): Record<string, Fn> {
  const a = nativeAddon();
  if (!a) throw new Error("llmlab fused kernel called without the native addon (LLMLAB_NATIVE=0?)");
  return a as unknown as Record<string, Fn>;
}

function need(args: Args, name: string, kernel: string): TensorInfo {
  const t = args.inputs[name];
  if (t == null) throw new Error(`${kernel}: missing input ${name}`);
  if (t.dtype !== "float32" && name !== "targets") throw new Error(`${kernel}: ${name} must be float32, got ${t.dtype}`);
  return t;
}

/** Offset of a tensor, or -1 for an absent optional one. */
const off = (b: WasmBackend, t: TensorInfo | undefined | null): number => (t == null ? -1 : offsetOf(b, t));
/** The heap, read after every allocation (growing memory replaces the buffer). */
const heap = (b: WasmBackend): ArrayBuffer => b.wasm.HEAPU8.buffer as ArrayBuffer;

function kernel(name: string, fn: (args: Args) => TensorInfo | TensorInfo[]): KernelConfig {
  return { kernelName: name, backendName: "wasm", kernelFunc: fn as unknown as KernelFunc };
}

// ---- GELU (tanh approximation)
const gelu = kernel(FUSED.gelu, (args) => {
  const x = need(args, "x", FUSED.gelu);
  const b = args.backend;
  const y = b.makeOutput(x.shape, "float32");
  addon().geluFwd(heap(b), sizeOf(x.shape), off(b, x), off(b, y));
  return y;
});
const geluGrad = kernel(FUSED.geluGrad, (args) => {
  const x = need(args, "x", FUSED.geluGrad);
  const dy = need(args, "dy", FUSED.geluGrad);
  const b = args.backend;
  const dx = b.makeOutput(x.shape, "float32");
  addon().geluBwd(heap(b), sizeOf(x.shape), off(b, x), off(b, dy), off(b, dx));
  return dx;
});

// ---- layer norm / RMS norm over the last axis
function rowsOf(x: TensorInfo, gamma: TensorInfo, kernelName: string): { rows: number; d: number } {
  const d = x.shape[x.shape.length - 1];
  if (x.shape.length < 1 || gamma.shape.length !== 1 || gamma.shape[0] !== d) {
    throw new Error(`${kernelName}: gamma shape [${gamma.shape}] must be [${d}] (x is [${x.shape}])`);
  }
  return { rows: sizeOf(x.shape) / Math.max(d, 1), d };
}

const layerNorm = kernel(FUSED.layerNorm, (args) => {
  const x = need(args, "x", FUSED.layerNorm);
  const gamma = need(args, "gamma", FUSED.layerNorm);
  const beta = args.inputs.beta;
  const { rows, d } = rowsOf(x, gamma, FUSED.layerNorm);
  if (beta && (beta.shape.length !== 1 || beta.shape[0] !== d)) throw new Error(`${FUSED.layerNorm}: beta must be [${d}]`);
  const b = args.backend;
  const y = b.makeOutput(x.shape, "float32");
  const mean = b.makeOutput([rows], "float32");
  const rstd = b.makeOutput([rows], "float32");
  addon().layerNormFwd(heap(b), rows, d, args.attrs.eps as number, off(b, x), off(b, gamma), off(b, beta), off(b, y), off(b, mean), off(b, rstd));
  return [y, mean, rstd];
});

const rmsNorm = kernel(FUSED.rmsNorm, (args) => {
  const x = need(args, "x", FUSED.rmsNorm);
  const gamma = need(args, "gamma", FUSED.rmsNorm);
  const { rows, d } = rowsOf(x, gamma, FUSED.rmsNorm);
  const b = args.backend;
  const y = b.makeOutput(x.shape, "float32");
  const rstd = b.makeOutput([rows], "float32");
  addon().rmsNormFwd(heap(b), rows, d, args.attrs.eps as number, off(b, x), off(b, gamma), off(b, y), off(b, rstd));
  return [y, rstd];
});

const normGrad = kernel(FUSED.normGrad, (args) => {
  const x = need(args, "x", FUSED.normGrad);
  const gamma = need(args, "gamma", FUSED.normGrad);
  const rstd = need(args, "rstd", FUSED.normGrad);
  const dy = need(args, "dy", FUSED.normGrad);
  const mean = args.inputs.mean;
  const { rows, d } = rowsOf(x, gamma, FUSED.normGrad);
  const b = args.backend;
  const dx = b.makeOutput(x.shape, "float32");
  const dgamma = b.makeOutput([d], "float32");
  const dbeta = args.attrs.hasBeta ? b.makeOutput([d], "float32") : null;
  addon().normBwd(heap(b), rows, d, off(b, x), off(b, gamma), off(b, mean), off(b, rstd), off(b, dy), off(b, dx), off(b, dgamma), off(b, dbeta));
  return dbeta ? [dx, dgamma, dbeta] : [dx, dgamma];
});

// ---- causal attention: q [B,H,Tq,hd], k/v [B,H,Tk,hd] -> o [B,H,Tq,hd], weights [B,H,Tq,Tk]
function attentionDims(q: TensorInfo, k: TensorInfo, v: TensorInfo) {
  const ok =
    q.shape.length === 4 && k.shape.length === 4 && v.shape.length === 4 &&
    k.shape.every((s, i) => s === v.shape[i]) &&
    q.shape[0] === k.shape[0] && q.shape[1] === k.shape[1] && q.shape[3] === k.shape[3] && k.shape[2] >= q.shape[2];
  if (!ok) throw new Error(`${FUSED.attention}: incompatible q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
  const [bs, h, tq, hd] = q.shape;
  return { heads: bs * h, tq, tk: k.shape[2], hd };
}

// With the weights as an output (when the caller wants them): [o, p].
const attention = kernel(FUSED.attention, (args) => {
  const q = need(args, "q", FUSED.attention);
  const k = need(args, "k", FUSED.attention);
  const v = need(args, "v", FUSED.attention);
  const { heads, tq, tk, hd } = attentionDims(q, k, v);
  const b = args.backend;
  const o = b.makeOutput(q.shape, "float32");
  const p = b.makeOutput([q.shape[0], q.shape[1], tq, tk], "float32");
  addon().attentionFwd(heap(b), heads, tq, tk, hd, args.attrs.scale as number, off(b, q), off(b, k), off(b, v), off(b, o), off(b, p), -1);
  return [o, p];
});

// Training without the weights: [o, lse], lse [B, H, Tq] the row log-sum-exp
// the backward pass rebuilds the weights from (no [B, H, Tq, Tk] tensor kept).
const attentionLse = kernel(FUSED.attentionLse, (args) => {
  const q = need(args, "q", FUSED.attentionLse);
  const k = need(args, "k", FUSED.attentionLse);
  const v = need(args, "v", FUSED.attentionLse);
  const { heads, tq, tk, hd } = attentionDims(q, k, v);
  const b = args.backend;
  const o = b.makeOutput(q.shape, "float32");
  const lse = b.makeOutput([q.shape[0], q.shape[1], tq], "float32");
  addon().attentionFwd(heap(b), heads, tq, tk, hd, args.attrs.scale as number, off(b, q), off(b, k), off(b, v), off(b, o), -1, off(b, lse));
  return [o, lse];
});

const attentionGrad = kernel(FUSED.attentionGrad, (args) => {
  const [q, k, v, dout] = ["q", "k", "v", "dout"].map((n) => need(args, n, FUSED.attentionGrad));
  const { p, lse, dp } = args.inputs;
  if (p == null && lse == null) throw new Error(`${FUSED.attentionGrad}: needs the weights p or their lse`);
  const { heads, tq, tk, hd } = attentionDims(q, k, v);
  const b = args.backend;
  const dq = b.makeOutput(q.shape, "float32");
  const dk = b.makeOutput(k.shape, "float32");
  const dv = b.makeOutput(v.shape, "float32");
  addon().attentionBwd(heap(b), heads, tq, tk, hd, args.attrs.scale as number,
    off(b, q), off(b, k), off(b, v), off(b, p), off(b, lse), off(b, dout), off(b, dp), off(b, dq), off(b, dk), off(b, dv));
  return [dq, dk, dv];
});

// ---- linear layer with bias: x [N, in] · w [in, out] + b [out]
const linear = kernel(FUSED.linear, (args) => {
  const [x, w, bias] = ["x", "w", "b"].map((n) => need(args, n, FUSED.linear));
  const ok = x.shape.length === 2 && w.shape.length === 2 && bias.shape.length === 1 && x.shape[1] === w.shape[0] && w.shape[1] === bias.shape[0];
  if (!ok) throw new Error(`${FUSED.linear}: needs x [N, in], w [in, out], b [out], got [${x.shape}], [${w.shape}], [${bias.shape}]`);
  const [n, inDim] = x.shape;
  const outDim = w.shape[1];
  const b = args.backend;
  const y = b.makeOutput([n, outDim], "float32");
  addon().linearFwd(heap(b), n, inDim, outDim, off(b, x), off(b, w), off(b, bias), off(b, y));
  return y;
});

// ---- causal self-attention from the fused qkv projection [B·T, 3d] (or [B, T, 3d]) -> [B·T, d], lse [B, H, T]
function qkvDims(qkv: TensorInfo, attrs: NamedAttrMap, kernelName: string) {
  const batch = attrs.batch as number;
  const heads = attrs.nHead as number;
  const width = qkv.shape[qkv.shape.length - 1];
  const rows = sizeOf(qkv.shape) / Math.max(width, 1);
  const d = width / 3;
  const ok = Number.isInteger(batch) && batch > 0 && Number.isInteger(heads) && heads > 0 &&
    Number.isInteger(d) && d % heads === 0 && rows % batch === 0;
  if (!ok) throw new Error(`${kernelName}: qkv [${qkv.shape}] does not split into batch ${batch} and ${heads} heads`);
  return { batch, t: rows / batch, heads, hd: d / heads, d };
}

const selfAttention = kernel(FUSED.selfAttention, (args) => {
  const qkv = need(args, "qkv", FUSED.selfAttention);
  const { batch, t, heads, hd, d } = qkvDims(qkv, args.attrs, FUSED.selfAttention);
  const b = args.backend;
  const o = b.makeOutput([...qkv.shape.slice(0, -1), d], "float32");
  const lse = b.makeOutput([batch, heads, t], "float32");
  addon().attentionQkvFwd(heap(b), batch, t, heads, hd, args.attrs.scale as number, off(b, qkv), off(b, o), off(b, lse));
  return [o, lse];
});

const selfAttentionGrad = kernel(FUSED.selfAttentionGrad, (args) => {
  const [qkv, lse, dout] = ["qkv", "lse", "dout"].map((n) => need(args, n, FUSED.selfAttentionGrad));
  const { batch, t, heads, hd } = qkvDims(qkv, args.attrs, FUSED.selfAttentionGrad);
  const b = args.backend;
  const dqkv = b.makeOutput(qkv.shape, "float32");
  addon().attentionQkvBwd(heap(b), batch, t, heads, hd, args.attrs.scale as number, off(b, qkv), off(b, lse), off(b, dout), off(b, dqkv));
  return dqkv;
});

// ---- cross-entropy: logits [N, V], int32 targets [N] -> mean loss (scalar), lse [N]
function xentDims(logits: TensorInfo, targets: TensorInfo, kernelName: string) {
  if (logits.shape.length !== 2 || targets.dtype !== "int32" || targets.shape.length !== 1 || targets.shape[0] !== logits.shape[0]) {
    throw new Error(`${kernelName}: needs logits [N, V] and int32 targets [N], got [${logits.shape}] and ${targets.dtype} [${targets.shape}]`);
  }
  return { n: logits.shape[0], v: logits.shape[1] };
}

const crossEntropy = kernel(FUSED.crossEntropy, (args) => {
  const logits = need(args, "logits", FUSED.crossEntropy);
  const targets = need(args, "targets", FUSED.crossEntropy);
  const { n, v } = xentDims(logits, targets, FUSED.crossEntropy);
  const b = args.backend;
  const loss = b.makeOutput([], "float32");
  const lse = b.makeOutput([n], "float32");
  addon().xentFwd(heap(b), n, v, args.attrs.ignoreIndex as number, off(b, logits), off(b, targets), off(b, lse), off(b, loss));
  return [loss, lse];
});

const crossEntropyGrad = kernel(FUSED.crossEntropyGrad, (args) => {
  const logits = need(args, "logits", FUSED.crossEntropyGrad);
  const targets = need(args, "targets", FUSED.crossEntropyGrad);
  const lse = need(args, "lse", FUSED.crossEntropyGrad);
  const dy = need(args, "dy", FUSED.crossEntropyGrad);
  const { n, v } = xentDims(logits, targets, FUSED.crossEntropyGrad);
  const b = args.backend;
  const dx = b.makeOutput(logits.shape, "float32");
  addon().xentBwd(heap(b), n, v, args.attrs.ignoreIndex as number, off(b, dy), off(b, logits), off(b, targets), off(b, lse), off(b, dx));
  return dx;
});

// ---- AdamW: new param, m, v from param, grad, m, v
const adamw = kernel(FUSED.adamw, (args) => {
  const [p, g, m, v] = ["param", "grad", "m", "v"].map((n) => need(args, n, FUSED.adamw));
  for (const t of [g, m, v]) {
    if (t.shape.length !== p.shape.length || !t.shape.every((s, i) => s === p.shape[i])) {
      throw new Error(`${FUSED.adamw}: grad/m/v shapes must equal the parameter's [${p.shape}], got [${t.shape}]`);
    }
  }
  const a = args.attrs as Record<string, number>;
  const b = args.backend;
  const p2 = b.makeOutput(p.shape, "float32");
  const m2 = b.makeOutput(p.shape, "float32");
  const v2 = b.makeOutput(p.shape, "float32");
  const bc1 = 1 - Math.pow(a.beta1, a.step);
  const bc2 = 1 - Math.pow(a.beta2, a.step);
  addon().adamw(heap(b), sizeOf(p.shape), a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, bc1, bc2,
    off(b, p), off(b, g), off(b, m), off(b, v), off(b, p2), off(b, m2), off(b, v2));
  return [p2, m2, v2];
});

// ---- AdamW over many parameters in one kernel call (inputs p0, g0, m0, v0, p1, ...;
// outputs p0', m0', v0', p1', ...), saving the per-kernel overhead of ~50 calls.
const adamwAll = kernel(FUSED.adamwAll, (args) => {
  const a = args.attrs as unknown as { lr: number; beta1: number; beta2: number; eps: number; step: number; weightDecays: number[] };
  const outs: TensorInfo[] = [];
  for (let i = 0; i < a.weightDecays.length; i++) {
    const one = { ...args, inputs: { param: args.inputs[`p${i}`], grad: args.inputs[`g${i}`], m: args.inputs[`m${i}`], v: args.inputs[`v${i}`] } };
    one.attrs = { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps, step: a.step, weightDecay: a.weightDecays[i] };
    outs.push(...(adamw.kernelFunc(one as never) as TensorInfo[]));
  }
  return outs;
});

export const fusedKernelConfigs: KernelConfig[] = [
  linear, gelu, geluGrad, layerNorm, rmsNorm, normGrad, attention, attentionLse, attentionGrad, selfAttention, selfAttentionGrad,
  crossEntropy, crossEntropyGrad,
  adamw, adamwAll,
];

const run = (name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap = {}) =>
  tf.engine().runKernel(name, inputs as never, attrs) as Tensor | Tensor[];

// Gradients compute every input's gradient at once (one backward kernel) and
// hand them out, so no work is repeated and nothing is created lazily inside
// the per-input scopes tfjs opens.
export const fusedGradConfigs: GradConfig[] = [
  {
    kernelName: FUSED.gelu,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const dx = run(FUSED.geluGrad, { x: saved[0], dy: dy as Tensor }) as Tensor;
      return { x: () => dx };
    },
  },
  {
    kernelName: FUSED.layerNorm,
    inputsToSave: ["x", "gamma"],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [x, gamma, mean, rstd] = saved;
      const dy = (dys as Tensor[])[0];
      const hasBeta = !!(attrs as { hasBeta?: boolean }).hasBeta;
      const [dx, dgamma, dbeta] = run(FUSED.normGrad, { x, gamma, mean, rstd, dy }, { hasBeta }) as Tensor[];
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    },
  },
  {
    kernelName: FUSED.rmsNorm,
    inputsToSave: ["x", "gamma"],
    outputsToSave: [false, true],
    gradFunc: (dys, saved) => {
      const [x, gamma, rstd] = saved;
      const dy = (dys as Tensor[])[0];
      const [dx, dgamma] = run(FUSED.normGrad, { x, gamma, rstd, dy }, { hasBeta: false }) as Tensor[];
      return { x: () => dx, gamma: () => dgamma };
    },
  },
  {
    kernelName: FUSED.attention,
    inputsToSave: ["q", "k", "v"],
    outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const [q, k, v, p] = saved;
      const [dout, dp] = dys as Tensor[];
      const [dq, dk, dv] = run(FUSED.attentionGrad, { q, k, v, p, dout, dp }, { scale: attrs.scale }) as Tensor[];
      return { q: () => dq, k: () => dk, v: () => dv };
    },
  },
  {
    kernelName: FUSED.attentionLse,
    inputsToSave: ["q", "k", "v"],
    outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const [q, k, v, lse] = saved;
      const dout = (dys as Tensor[])[0];
      const [dq, dk, dv] = run(FUSED.attentionGrad, { q, k, v, lse, dout }, { scale: attrs.scale }) as Tensor[];
      return { q: () => dq, k: () => dk, v: () => dv };
    },
  },
  {
    kernelName: FUSED.linear,
    inputsToSave: ["x", "w"],
    gradFunc: (dy, saved) => {
      const [x, w] = saved;
      const g = dy as Tensor;
      const dx = tf.matMul(g, w, false, true);
      const dw = tf.matMul(x, g, true, false);
      const db = tf.sum(g, 0);
      return { x: () => dx, w: () => dw, b: () => db };
    },
  },
  {
    kernelName: FUSED.selfAttention,
    inputsToSave: ["qkv"],
    outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const [qkv, lse] = saved;
      const dout = (dys as Tensor[])[0];
      const dqkv = run(FUSED.selfAttentionGrad, { qkv, lse, dout }, { batch: attrs.batch, nHead: attrs.nHead, scale: attrs.scale }) as Tensor;
      return { qkv: () => dqkv };
    },
  },
  {
    kernelName: FUSED.crossEntropy,
    inputsToSave: ["logits", "targets"],
    outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const [logits, targets, lse] = saved;
      const dy = (dys as Tensor[])[0];
      const dx = run(FUSED.crossEntropyGrad, { logits, targets, lse, dy }, { ignoreIndex: attrs.ignoreIndex }) as Tensor;
      return { logits: () => dx, targets: () => tf.zerosLike(targets) };
    },
  },
];
