// The wasm backend's custom kernels (lib/backend/kernels) must give the cpu
// backend's results, gradients included, on awkward shapes — with the native
// addon and without it (the pure-wasm path every machine has).
import { test } from "node:test";
import { execFileSync } from "node:child_process";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerFastKernels, fastKernelInfo, setNativeEnabled } from "../lib/backend/kernels";
import { nativeAddon } from "../lib/backend/kernels/native";
import { assertClose, materialise, runOn, type Spec } from "./backend-compare";

/** wasm (with our kernels) against cpu on the same inputs. */
async function compare(what: string, specs: Spec[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], tol = 2e-5, seed = 1) {
  const s = materialise(specs, seed);
  const { out: want } = await runOn("cpu", s, fn);
  const { out: got } = await runOn("wasm", s, fn);
  assertClose(got, want, tol, what);
}

const modes: { name: string; native: boolean; builtinGemm?: boolean }[] = [
  { name: "pure wasm", native: false },
  { name: "native", native: true },
  { name: "native, builtin sgemm", native: true, builtinGemm: true },
];

test.before(async () => {
  await tf.setBackend("wasm");
  registerFastKernels("wasm");
});

test("registerFastKernels is idempotent and names what it registered", () => {
  const first = registerFastKernels("wasm");
  assert.ok(first.includes("UnsortedSegmentSum"));
  assert.ok(first.includes("BatchMatMul"));
  assert.deepEqual(registerFastKernels("wasm"), first);
  assert.deepEqual(registerFastKernels("cpu"), []);
  const kernels = tf.getKernelsForBackend("wasm").filter((k) => k.kernelName === "BatchMatMul");
  assert.equal(kernels.length, 1);
});

test("fastKernelInfo reports the path in use", () => {
  setNativeEnabled(false);
  assert.deepEqual(fastKernelInfo(), { native: false, blas: null, threads: 1, reason: fastKernelInfo().reason });
  assert.match(fastKernelInfo().reason, /disabled/);
  setNativeEnabled(true);
  const info = fastKernelInfo();
  assert.equal(info.native, nativeAddon() != null);
  if (info.native) {
    assert.ok(info.blas === "openblas" || info.blas === "builtin");
    assert.ok(info.threads >= 1);
  }
});

test("LLMLAB_NATIVE=0 turns the native path off", () => {
  const script = `const k = require(${JSON.stringify(require.resolve("../lib/backend/kernels"))}); console.log(JSON.stringify(k.fastKernelInfo()));`;
  const out = execFileSync(process.execPath, ["-e", script], { env: { ...process.env, LLMLAB_NATIVE: "0" }, encoding: "utf8" });
  const info = JSON.parse(out.trim().split("\n").pop()!);
  assert.equal(info.native, false);
  assert.match(info.reason, /LLMLAB_NATIVE=0/);
});

test("the addon refuses tensors outside the heap and bad arguments", (t) => {
  const addon = nativeAddon();
  if (!addon) return t.skip("native addon not built here");
  const heap = new ArrayBuffer(64);
  assert.throws(() => addon.sgemmBatched(heap, 1, false, false, 5, 5, 5, 0, 0, 0, 0, 0, 0), /outside the wasm heap/);
  assert.throws(() => addon.sgemmBatched(heap, 1, false, false, 2, 2, 2, 2, 0, 0, 0, 16, 0), /bad tensor offset/);
  assert.throws(() => addon.sgemmBatched(heap, 1, false, false, -1, 2, 2, 0, 0, 0, 0, 16, 0), /non-negative integer/);
  assert.throws(() => (addon.sgemmBatched as (...a: unknown[]) => void)(heap, 1), /too few arguments/);
  // In bounds: 2x2 · 2x2.
  const f = new Float32Array(heap);
  f.set([1, 2, 3, 4, 5, 6, 7, 8]);
  addon.sgemmBatched(heap, 1, false, false, 2, 2, 2, 0, 0, 16, 0, 32, 0);
  assert.deepEqual(Array.from(f.subarray(8, 12)), [19, 22, 43, 50]);
});

for (const mode of modes) {
  const native = (t: { skip: (m: string) => void }) => {
    setNativeEnabled(mode.native);
    if (mode.native && nativeAddon() == null) {
      t.skip("native addon not built here");
      return false;
    }
    nativeAddon()?.useBuiltinGemm(!!mode.builtinGemm);
    return true;
  };

  test(`${mode.name}: UnsortedSegmentSum matches cpu (1-D and 2-D ids, dropped ids, int32)`, async (t) => {
    if (!native(t)) return;
    const ids = { shape: [7], dtype: "int32" as const, data: [0, 4, 2, 4, -1, 9, 0] };
    await compare("1-D ids", [{ shape: [7, 3, 2] }, ids], (x, s) => tf.unsortedSegmentSum(x, s as tf.Tensor1D, 5));
    await compare("int32 values", [{ shape: [4], dtype: "int32", data: [5, -2, 7, 1] }, { shape: [4], dtype: "int32", data: [1, 1, 0, 1] }],
      (x, s) => tf.unsortedSegmentSum(x, s as tf.Tensor1D, 2));
    // 2-D ids: TF semantics, output [numSegments, ...x.shape.slice(2)] (compared with a one-hot reference on cpu).
    setNativeEnabled(mode.native);
    await tf.setBackend("wasm");
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]);
    const s = tf.tensor2d([[0, 2, 0], [1, 2, 5]], [2, 3], "int32");
    const y = tf.unsortedSegmentSum(x, s as unknown as tf.Tensor1D, 3);
    assert.deepEqual(y.shape, [3, 2]);
    assert.deepEqual(Array.from(await y.data()), [1 + 5, 2 + 6, 7, 8, 3 + 9, 4 + 10]);
    const none = tf.unsortedSegmentSum(tf.ones([3]), tf.tensor1d([0, 1, 2], "int32"), 0);
    assert.deepEqual(none.shape, [0]);
    tf.dispose([x, s, y, none]);
  });

  test(`${mode.name}: gather gradient (embedding lookup) matches cpu`, async (t) => {
    if (!native(t)) return;
    const ids = { shape: [4, 5], dtype: "int32" as const, data: [1, 2, 1, 0, 6, 6, 6, 3, 2, 1, 0, 0, 5, 5, 4, 1, 2, 3, 4, 5] };
    await compare("gather axis 0", [{ shape: [7, 9] }, ids, { shape: [4, 5, 9] }], (e, i, w) =>
      tf.grad((emb: tf.Tensor) => tf.sum(tf.mul(tf.gather(emb, i), w)))(e));
    await compare("gather axis 1", [{ shape: [3, 7] }, { shape: [4], dtype: "int32", data: [6, 0, 6, 2] }], (e, i) =>
      tf.grad((emb: tf.Tensor) => tf.sum(tf.square(tf.gather(emb, i, 1))))(e));
    await compare("gather forward", [{ shape: [2, 5, 3] }, { shape: [2, 2], dtype: "int32", data: [4, 0, 0, 3] }], (e, i) =>
      [tf.gather(e, i, 1), tf.gather(e, tf.tensor1d([1, 0, 1], "int32"), 0), tf.gather(e, tf.tensor1d([2, 2, 1], "int32"), 2)]);
    await compare("gather int32 table", [{ shape: [3, 2], dtype: "int32", data: [1, 2, 3, 4, 5, 6] }, { shape: [3], dtype: "int32", data: [2, 0, 2] }],
      (e, i) => tf.gather(e, i));
    await tf.setBackend("wasm");
    assert.throws(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([0, 3], "int32")), /index value 3 is not in \[0, 2\]/);
  });

  const matmulCases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
    { a: [3, 5], b: [5, 4], ta: false, tb: false },
    { a: [5, 3], b: [5, 4], ta: true, tb: false },
    { a: [3, 5], b: [4, 5], ta: false, tb: true },
    { a: [5, 3], b: [4, 5], ta: true, tb: true },
    { a: [2, 3, 17, 9], b: [2, 3, 9, 13], ta: false, tb: false },
    { a: [2, 3, 9, 17], b: [2, 3, 13, 9], ta: true, tb: true },
    { a: [6, 33, 65], b: [65, 7], ta: false, tb: false }, // batch x plain matrix
    { a: [33, 65], b: [4, 7, 65], ta: false, tb: true }, // plain matrix x batch
    { a: [1, 64, 130], b: [1, 130, 1], ta: false, tb: false },
    { a: [4, 1, 8], b: [4, 8, 1], ta: false, tb: false },
  ];
  test(`${mode.name}: BatchMatMul and its gradients match cpu (transposes, batch broadcast, odd sizes)`, async (t) => {
    if (!native(t)) return;
    for (const c of matmulCases) {
      const what = `matMul ${JSON.stringify(c)}`;
      await compare(what, [{ shape: c.a }, { shape: c.b }], (a, b) => tf.matMul(a, b, c.ta, c.tb), 2e-5);
      await compare(`${what} grads`, [{ shape: c.a }, { shape: c.b }], (a, b) =>
        tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.sin(tf.matMul(x, y, c.ta, c.tb))))([a, b]), 2e-5);
    }
  });

  test(`${mode.name}: BatchMatMul broadcasts batch dims both ways ([2,1] x [1,3])`, async (t) => {
    if (!native(t)) return;
    // The cpu backend gets this case wrong, so the reference broadcasts explicitly first.
    const specs = materialise([{ shape: [2, 1, 3, 5] }, { shape: [1, 3, 5, 4] }], 7);
    const { out: want } = await runOn("cpu", specs, (a, b) => tf.matMul(tf.broadcastTo(a, [2, 3, 3, 5]), tf.broadcastTo(b, [2, 3, 5, 4])));
    setNativeEnabled(mode.native);
    const { out: got } = await runOn("wasm", specs, (a, b) => tf.matMul(a, b));
    assertClose(got, want, 2e-5, "partial broadcast");
    await tf.setBackend("wasm");
    assert.throws(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([3, 4, 5])), /batch dimensions|broadcast/i);
    assert.throws(() => tf.matMul(tf.ones([3, 4]), tf.ones([5, 6])), /inner|match/i);
  });

  test(`${mode.name}: matMul gradients sum over broadcast batch dims (x[B,T,C] · W[C,D])`, async (t) => {
    if (!native(t)) return;
    const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean; batch: number[] }[] = [
      { a: [2, 3, 5, 7], b: [7, 4], ta: false, tb: false, batch: [2, 3] },
      { a: [2, 5, 7], b: [4, 7], ta: false, tb: true, batch: [2] },
      { a: [5, 7], b: [3, 4, 7], ta: false, tb: true, batch: [3] },
      { a: [7, 5], b: [3, 7, 4], ta: true, tb: false, batch: [3] },
      { a: [2, 1, 5, 7], b: [1, 3, 7, 4], ta: false, tb: false, batch: [2, 3] },
    ];
    for (const c of cases) {
      const specs = materialise([{ shape: c.a }, { shape: c.b }], 11);
      const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.sin(tf.matMul(x, y, c.ta, c.tb)));
      // Reference: broadcast explicitly first (tf.broadcastTo's gradient sums back), on cpu.
      const expand = (x: tf.Tensor) => tf.broadcastTo(x, [...c.batch, ...x.shape.slice(-2)]);
      const { out: want } = await runOn("cpu", specs, (a, b) =>
        tf.grads((x: tf.Tensor, y: tf.Tensor) => loss(expand(x), expand(y)))([a, b]));
      setNativeEnabled(mode.native);
      const { out: got } = await runOn("wasm", specs, (a, b) => tf.grads(loss)([a, b]));
      assertClose(got, want, 2e-5, `broadcast grads ${JSON.stringify(c)}`);
    }
  });

  test(`${mode.name}: empty products are zero-sized or zero`, async (t) => {
    if (!native(t)) return;
    await compare("k = 0", [{ shape: [3, 0] }, { shape: [0, 4] }], (a, b) => tf.matMul(a, b));
    await compare("m = 0", [{ shape: [0, 5] }, { shape: [5, 4] }], (a, b) => tf.matMul(a, b));
    await compare("batch 0", [{ shape: [0, 2, 5] }, { shape: [0, 5, 4] }], (a, b) => tf.matMul(a, b, false, false));
  });

  test(`${mode.name}: fused matMul (bias + activation) and its gradients match cpu`, async (t) => {
    if (!native(t)) return;
    for (const activation of ["linear", "relu", "elu", "sigmoid"] as const) {
      await compare(`fused ${activation}`, [{ shape: [2, 9, 5] }, { shape: [2, 4, 5] }, { shape: [4] }], (a, b, bias) =>
        tf.fused.matMul({ a, b, bias, transposeB: true, activation }));
    }
    await compare("fused grads", [{ shape: [9, 5] }, { shape: [5, 4] }, { shape: [4] }], (a, b, bias) =>
      tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        tf.sum(tf.square(tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, bias: z, activation: "relu" }))))([a, b, bias]));
  });

  test(`${mode.name}: Slice, split and concat match cpu (odd boxes, int32, gradients)`, async (t) => {
    if (!native(t)) return;
    await compare("slices", [{ shape: [3, 5, 7, 2] }], (x) => [
      tf.slice(x, [1, 0, 2, 0], [2, 5, 3, 2]),
      tf.slice(x, [0, 2, 0, 0], [3, 2, 7, 2]),
      tf.slice(x, [2, 4, 6, 1], [1, 1, 1, 1]),
      tf.slice(x, [0, 0, 0, 0], [3, 5, 7, 2]),
      tf.slice(x, [1, 1, 0, 0], [0, 2, 7, 2]),
    ]);
    await compare("int32 slice", [{ shape: [4, 6], dtype: "int32", data: Array.from({ length: 24 }, (_, i) => i * 3 - 7) }], (x) => tf.slice(x, [1, 2], [3, 3]));
    await compare("split", [{ shape: [6, 9] }], (x) => [...tf.split(x, 3, 1), ...tf.split(x, [1, -1, 2], 0)]);
    await compare("concat", [{ shape: [2, 3, 4] }, { shape: [2, 1, 4] }, { shape: [2, 0, 4] }], (a, b, c) => [tf.concat([a, b, c], 1), tf.concat([a, a], 2), tf.concat([b, b], 0)]);
    await compare("split/concat grads", [{ shape: [5, 12] }], (x) =>
      tf.grad((y: tf.Tensor) => {
        const [p, q, r] = tf.split(y, 3, 1);
        return tf.sum(tf.mul(tf.concat([tf.square(r), p, tf.sin(q)], 0), tf.linspace(-1, 1, 4)));
      })(x));
  });

  test(`${mode.name}: Sum over leading or other axes matches cpu; Identity shares safely`, async (t) => {
    if (!native(t)) return;
    await compare("sums", [{ shape: [4, 3, 5] }], (x) => [
      tf.sum(x, 0), tf.sum(x, [0, 1]), tf.sum(x, 0, true), tf.sum(x, [1, 0], true), tf.sum(x, 2), tf.sum(x, [0, 2]), tf.sum(x), tf.sum(x, -3),
    ]);
    await compare("int32 sum", [{ shape: [3, 2], dtype: "int32", data: [1, 2, 3, 4, 5, 6] }], (x) => tf.sum(x, 0));
    await compare("bias gradient", [{ shape: [6, 4] }, { shape: [4] }], (x, b) => tf.grad((y: tf.Tensor) => tf.sum(tf.square(tf.add(x, y))))(b));
    // A clone shares data with its source; replacing a variable's value must not change the clone.
    await tf.setBackend("wasm");
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const c = v.clone();
    v.assign(tf.tensor1d([7, 8, 9]));
    v.dispose();
    assert.deepEqual(Array.from(await c.data()), [1, 2, 3]);
    c.dispose();
  });

  test(`${mode.name}: a tiny embedding -> matMul model trains on wasm like on cpu`, async (t) => {
    if (!native(t)) return;
    const ids = { shape: [12], dtype: "int32" as const, data: [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5] };
    const targets = { shape: [12], dtype: "int32" as const, data: [1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0] };
    const train = (e0: tf.Tensor, w0: tf.Tensor, x: tf.Tensor, y: tf.Tensor) => {
      const e = tf.variable(e0);
      const w = tf.variable(w0);
      const opt = tf.train.adam(0.05);
      const losses: tf.Tensor[] = [];
      for (let step = 0; step < 30; step++) {
        const loss = opt.minimize(() => {
          const logits = tf.matMul(tf.gather(e, x), w);
          return tf.losses.softmaxCrossEntropy(tf.oneHot(y, 6), logits);
        }, true)!;
        losses.push(loss);
      }
      const out = [tf.stack(losses), e.clone(), w.clone()];
      opt.dispose();
      e.dispose();
      w.dispose();
      return out;
    };
    const specs = materialise([{ shape: [6, 8] }, { shape: [8, 6] }, ids, targets], 3);
    const { out: want } = await runOn("cpu", specs, train);
    setNativeEnabled(mode.native);
    const { out: got } = await runOn("wasm", specs, train);
    assertClose(got, want, 2e-4, "training run");
    const losses = got[0].data;
    assert.ok(losses[29] < losses[0] * 0.5, `loss should fall: ${losses[0]} -> ${losses[29]}`);
  });
}
