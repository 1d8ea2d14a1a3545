// The fused kernels behind lib/backend/fused.ts (wasm + native addon) must
// give the plain tf compositions' results and gradients (the cpu backend
// runs the compositions), on odd shapes; the fast path must really be taken.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import * as fused from "../lib/backend/fused";
import { registerFastKernels, fusedAvailable, setNativeEnabled } from "../lib/backend/kernels";
import { nativeAddon } from "../lib/backend/kernels/native";
import { assertClose, materialise, rng, runOn, type Spec } from "./backend-compare";

/** How the fused path and the plain composition are named in failures. */
const SIDES: [string, string] = ["fused", "plain"];

/** The fused path on wasm against the plain composition on cpu; `kernel` must have run. */
async function compare(what: string, kernel: string, specs: Spec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], tol = 3e-5, seed = 5) {
  const s = materialise(specs, seed);
  const want = await runOn("cpu", s, fn);
  setNativeEnabled(true);
  const got = await runOn("wasm", s, fn);
  assert.ok(got.kernels.has(kernel), `${what}: fused kernel ${kernel} did not run (ran: ${[...got.kernels].join(", ")})`);
  assert.ok(!want.kernels.has(kernel));
  assertClose(got.out, want.out, tol, what, SIDES);
  // And the composition on wasm (native off) agrees too.
  setNativeEnabled(false);
  const plain = await runOn("wasm", s, fn);
  assert.ok(!plain.kernels.has(kernel), `${what}: ${kernel} ran with the native path off`);
  assertClose(plain.out, want.out, tol, `${what} (pure wasm)`, SIDES);
  setNativeEnabled(true);
}

/** Value and gradients of sum(f(xs) · w) for a fixed random w. */
function withGrads(n: number, f: (...xs: tf.Tensor[]) => tf.Tensor, seed = 9) {
  return (...xs: tf.Tensor[]) => {
    const inputs = xs.slice(0, n);
    const rest = xs.slice(n);
    const value = f(...inputs, ...rest);
    const r = rng(seed);
    const w = tf.tensor(Array.from({ length: value.size }, () => r() * 2 - 1), value.shape);
    const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(...ys, ...rest), w)))(inputs);
    return [value, ...grads];
  };
}

const haveNative = () => nativeAddon() != null;

test.before(async () => {
  await tf.setBackend("wasm");
  registerFastKernels("wasm");
});

test("fused kernels are available on wasm with the addon, never on cpu", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  await tf.setBackend("wasm");
  setNativeEnabled(true);
  assert.equal(fusedAvailable(), true);
  setNativeEnabled(false);
  assert.equal(fusedAvailable(), false);
  setNativeEnabled(true);
  await tf.setBackend("cpu");
  assert.equal(fusedAvailable(), false);
  await tf.setBackend("wasm");
});

test("linear (x·W + b) and its gradients", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  await compare("linear", "LlmlabLinear", [{ shape: [37, 19] }, { shape: [19, 23] }, { shape: [23] }],
    withGrads(3, (x, w, b) => fused.linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D)));
});

test("gelu and its gradient", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  await compare("gelu", "LlmlabGelu", [{ shape: [3, 67], scale: 6 }], withGrads(1, (x) => fused.gelu(x)));
  await compare("gelu extremes", "LlmlabGelu", [{ shape: [8], data: [-30, -9, -1e-4, 0, 1e-4, 2, 9, 30] }], withGrads(1, (x) => fused.gelu(x)));
});

test("layerNorm (with and without shift) and its gradients", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  await compare("layerNorm", "LlmlabLayerNorm", [{ shape: [2, 5, 37], scale: 3 }, { shape: [37] }, { shape: [37] }],
    withGrads(3, (x, g, b) => fused.layerNorm(x, g, b, 1e-5)));
  await compare("layerNorm no beta", "LlmlabLayerNorm", [{ shape: [7, 16] }, { shape: [16] }],
    withGrads(2, (x, g) => fused.layerNorm(x, g, null, 1e-5)));
  await compare("layerNorm of a constant row", "LlmlabLayerNorm", [{ shape: [2, 4], data: [3, 3, 3, 3, 1, 2, 3, 4] }, { shape: [4] }, { shape: [4] }],
    withGrads(3, (x, g, b) => fused.layerNorm(x, g, b, 1e-5)), 1e-4);
});

test("rmsNorm and its gradients", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  await compare("rmsNorm", "LlmlabRmsNorm", [{ shape: [3, 4, 33], scale: 2 }, { shape: [33] }],
    withGrads(2, (x, g) => fused.rmsNorm(x, g, 1e-6)));
});

test("causalAttention: output, weights and gradients (also with fewer queries than keys)", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  const attn = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => fused.causalAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D).output;
  await compare("attention", "LlmlabCausalAttentionLse", [{ shape: [2, 3, 11, 8], scale: 2 }, { shape: [2, 3, 11, 8], scale: 2 }, { shape: [2, 3, 11, 8] }],
    withGrads(3, attn));
  await compare("attention tq < tk", "LlmlabCausalAttentionLse", [{ shape: [1, 2, 3, 5] }, { shape: [1, 2, 9, 5] }, { shape: [1, 2, 9, 5] }],
    withGrads(3, attn));
  // Gradient flowing through the returned weights as well as the output.
  const both = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
    const r = fused.causalAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, { returnWeights: true, scale: 0.7 });
    return tf.add(tf.sum(tf.square(r.output)), tf.sum(tf.mul(r.weights!, tf.range(0, 6).reshape([1, 1, 1, 6]))));
  };
  await compare("attention weights", "LlmlabCausalAttention", [{ shape: [2, 2, 6, 4] }, { shape: [2, 2, 6, 4] }, { shape: [2, 2, 6, 4] }],
    withGrads(3, both));
  await compare("weights only", "LlmlabCausalAttention", [{ shape: [1, 2, 5, 4] }, { shape: [1, 2, 5, 4] }, { shape: [1, 2, 5, 4] }],
    (q, k, v) => fused.causalAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, { returnWeights: true }).weights!);
});

test("causalSelfAttention from a fused qkv projection, and its gradient", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  await compare("self-attention", "LlmlabSelfAttentionQkv", [{ shape: [2 * 7, 3 * 12], scale: 2 }],
    withGrads(1, (qkv) => fused.causalSelfAttention(qkv as tf.Tensor2D, 2, 3)));
  await compare("self-attention, one head, scale", "LlmlabSelfAttentionQkv", [{ shape: [3 * 4, 3 * 5] }],
    withGrads(1, (qkv) => fused.causalSelfAttention(qkv as tf.Tensor2D, 3, 1, { scale: 0.3 })));
  await tf.setBackend("wasm");
  assert.throws(() => fused.causalSelfAttention(tf.zeros([6, 10]) as tf.Tensor2D, 2, 2), /does not split/);
});

test("crossEntropy with ignored and out-of-range targets, and its gradient", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  const targets = { shape: [2, 5], dtype: "int32" as const, data: [0, 6, -100, 3, 3, 1, 70, 2, -100, 5] };
  await compare("crossEntropy", "LlmlabCrossEntropy", [{ shape: [2, 5, 7], scale: 4 }, targets],
    withGrads(1, (logits, tg) => fused.crossEntropy(logits, tg)));
  await compare("all ignored", "LlmlabCrossEntropy", [{ shape: [3, 4] }, { shape: [3], dtype: "int32", data: [-1, -1, -1] }],
    withGrads(1, (logits, tg) => fused.crossEntropy(logits, tg, -1)));
});

test("adamwUpdate (with and without decay) gives the composition's new values", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  for (const weightDecay of [0, 0.1]) {
    const step = (p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => {
      const vars = [tf.variable(p), tf.variable(m), tf.variable(v)];
      for (let s = 1; s <= 3; s++) {
        fused.adamwUpdate(vars[0], tf.mul(g, s), vars[1], vars[2], { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, step: s }, weightDecay);
      }
      const out = vars.map((x) => x.clone());
      tf.dispose(vars);
      return out;
    };
    const specs: Spec[] = [{ shape: [5, 7] }, { shape: [5, 7] }, { shape: [5, 7], scale: 0.1 }, { shape: [5, 7], scale: 0.01 }];
    specs[3].data = Array.from({ length: 35 }, (_, i) => ((i * 7) % 11) * 1e-3);
    await compare(`adamw wd=${weightDecay}`, "LlmlabAdamW", specs, step, 2e-5);
  }
  // All parameters at once (what the optimizer calls): two slots with different decay.
  const stepAll = (p1: tf.Tensor, g1: tf.Tensor, p2: tf.Tensor, g2: tf.Tensor) => {
    const slots = [
      { param: tf.variable(p1), grad: g1, m: tf.variable(tf.zerosLike(p1)), v: tf.variable(tf.zerosLike(p1)), weightDecay: 0.1 },
      { param: tf.variable(p2), grad: g2, m: tf.variable(tf.zerosLike(p2)), v: tf.variable(tf.zerosLike(p2)), weightDecay: 0 },
    ];
    for (let s = 1; s <= 2; s++) fused.adamwUpdateAll(slots, { lr: 0.02, beta1: 0.8, beta2: 0.99, eps: 1e-8, step: s });
    const out = slots.flatMap((s) => [s.param.clone(), s.m.clone(), s.v.clone()]);
    tf.dispose(slots.flatMap((s) => [s.param, s.m, s.v]));
    return out;
  };
  await compare("adamwUpdateAll", "LlmlabAdamWAll", [{ shape: [4, 3] }, { shape: [4, 3] }, { shape: [5] }, { shape: [5] }], stepAll, 2e-5);
});

test("a GPT's loss and gradients are the same with and without the fused kernels", async (t) => {
  if (!haveNative()) return t.skip("native addon not built here");
  const { GPT } = await import("../lib/model");
  const ids = [[1, 5, 2, 7, 3, 3, 0, 9], [4, 4, 8, 1, 0, 2, 6, 5]];
  const tgt = [[5, 2, 7, 3, 3, 0, 9, 1], [4, 8, 1, -100, 2, 6, 5, 4]];
  const configs = [
    { vocabSize: 11, contextLength: 8, dModel: 16, nLayer: 2, nHead: 2, dFF: 24 },
    { vocabSize: 11, contextLength: 8, dModel: 16, nLayer: 1, nHead: 4, dFF: 20, norm: "rmsnorm" as const, activation: "swiglu" as const, positional: "rope" as const, bias: false, tiedEmbeddings: false },
  ];
  for (const config of configs) {
    const run = async (native: boolean) => {
      setNativeEnabled(native);
      await tf.setBackend("wasm");
      const model = new GPT(config, { seed: 3 });
      const names = [...model.params.keys()];
      const { value, grads } = tf.variableGrads(() => model.loss(ids, tgt), names.map((n) => model.params.get(n)!));
      const out = { loss: (await value.data())[0], grads: await Promise.all(names.map(async (n) => Array.from(await grads[model.params.get(n)!.name].data()))) };
      tf.dispose([value, ...Object.values(grads)]);
      model.dispose();
      return out;
    };
    const plain = await run(false);
    const fast = await run(true);
    assert.ok(Math.abs(plain.loss - fast.loss) < 1e-5, `loss ${fast.loss} vs ${plain.loss}`);
    fast.grads.forEach((g, i) => assertClose([{ shape: [g.length], data: g }], [{ shape: [g.length], data: plain.grads[i] }], 1e-4, `grad ${i}`, SIDES));
  }
});
