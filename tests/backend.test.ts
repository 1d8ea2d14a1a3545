import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend, useBackend, device, DeviceInfo, BACKEND_ORDER } from "../lib/backend";
import { layerNorm, rmsNorm, gelu, causalAttention, crossEntropy, embedding, adamwUpdate } from "../lib/backend/fused";
import { richBundle } from "../lib/host";
import { Rng } from "../lib/model/rng";
import { backendsPresent, forEachBackend } from "./backend-each";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function randn(rng: Rng, n: number, std = 1): number[] {
  return Array.from({ length: n }, () => rng.normal() * std);
}

test("the wasm and cpu backends are always present; the default is the first in preference order", async () => {
  const present = await backendsPresent();
  assert.ok(present.includes("wasm") && present.includes("cpu"), `present: ${present}`);
  const saved = process.env.LLMLAB_BACKEND;
  delete process.env.LLMLAB_BACKEND;
  try {
    const info = await initBackend();
    assert.equal(info.backend, present[0]);
    assert.equal(tf.getBackend(), present[0]);
  } finally {
    if (saved !== undefined) process.env.LLMLAB_BACKEND = saved;
  }
});

test("LLMLAB_BACKEND forces a backend and fails clearly when it is unavailable or unknown", async () => {
  const present = await backendsPresent();
  const saved = process.env.LLMLAB_BACKEND;
  try {
    process.env.LLMLAB_BACKEND = "cpu";
    assert.equal((await initBackend()).backend, "cpu");
    process.env.LLMLAB_BACKEND = "wasm";
    assert.equal((await initBackend()).backend, "wasm");
    process.env.LLMLAB_BACKEND = "cuda";
    await assert.rejects(initBackend(), /LLMLAB_BACKEND: unknown backend 'cuda'; expected one of tensorflow, webgpu, wasm, cpu/);
    for (const missing of BACKEND_ORDER.filter((b) => !present.includes(b))) {
      process.env.LLMLAB_BACKEND = missing;
      await assert.rejects(initBackend(), new RegExp(`backend '${missing}' is not available: .*install`));
    }
  } finally {
    if (saved === undefined) delete process.env.LLMLAB_BACKEND;
    else process.env.LLMLAB_BACKEND = saved;
  }
});

test("device() reports backend, device, SIMD, threads and memory, and displays richly", async (t) => {
  await forEachBackend(t, (backend) => {
    const x = tf.ones([256]);
    const info = device();
    assert.ok(info instanceof DeviceInfo);
    assert.equal(info.backend, backend);
    assert.ok(info.deviceName.length > 0);
    assert.equal(typeof info.simd, "boolean");
    assert.ok(Number.isInteger(info.threads) && info.threads >= 1);
    assert.ok(info.memory.numTensors >= 1 && info.memory.numBytes >= 1024);
    const bundle = richBundle(info)!;
    assert.match(bundle["text/plain"] as string, new RegExp(`^${backend}`));
    assert.match(bundle["text/html"] as string, /<table/);
    x.dispose();
  });
  await useBackend("wasm");
  assert.equal(device().simd, true, "wasm in Node 20 has SIMD");
});

test("fused layerNorm, rmsNorm and gelu compute their documented formulas", async (t) => {
  await forEachBackend(t, () => {
    const rng = new Rng(2);
    const d = 6;
    const xs = randn(rng, 3 * d, 2);
    const gamma = randn(rng, d);
    const beta = randn(rng, d);
    const ln = layerNorm(tf.tensor2d(xs, [3, d]), tf.tensor1d(gamma), tf.tensor1d(beta), 1e-5).dataSync();
    const rms = rmsNorm(tf.tensor2d(xs, [3, d]), tf.tensor1d(gamma), 1e-6).dataSync();
    for (let r = 0; r < 3; r++) {
      const row = xs.slice(r * d, (r + 1) * d);
      const mean = row.reduce((a, b) => a + b, 0) / d;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
      const ms = row.reduce((a, b) => a + b * b, 0) / d;
      for (let i = 0; i < d; i++) {
        assert.ok(Math.abs(ln[r * d + i] - ((row[i] - mean) / Math.sqrt(variance + 1e-5) * gamma[i] + beta[i])) < 1e-4);
        assert.ok(Math.abs(rms[r * d + i] - (row[i] / Math.sqrt(ms + 1e-6)) * gamma[i]) < 1e-4);
      }
    }
    const gx = [-3, -1, -0.5, 0, 0.5, 1, 3];
    const g = gelu(tf.tensor1d(gx)).dataSync();
    gx.forEach((x, i) => {
      const ref = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
      assert.ok(Math.abs(g[i] - ref) < 1e-6);
    });
  });
});

test("fused causalAttention: masked softmax over the past, and queries at the end of a longer key list", async (t) => {
  await forEachBackend(t, () => {
    const rng = new Rng(3);
    const [b, h, tk, hd] = [1, 2, 5, 4];
    const q = tf.tensor4d(randn(rng, b * h * tk * hd), [b, h, tk, hd]);
    const k = tf.tensor4d(randn(rng, b * h * tk * hd), [b, h, tk, hd]);
    const v = tf.tensor4d(randn(rng, b * h * tk * hd), [b, h, tk, hd]);
    const full = causalAttention(q, k, v, { returnWeights: true });
    const qa = q.arraySync()[0];
    const ka = k.arraySync()[0];
    const va = v.arraySync()[0];
    const out = full.output.arraySync()[0];
    const w = full.weights!.arraySync()[0];
    for (let head = 0; head < h; head++) {
      for (let i = 0; i < tk; i++) {
        const scores = Array.from({ length: i + 1 }, (_, j) => qa[head][i].reduce((s, x, c) => s + x * ka[head][j][c], 0) / Math.sqrt(hd));
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const sum = exps.reduce((a, c) => a + c, 0);
        for (let j = 0; j < tk; j++) assert.ok(Math.abs(w[head][i][j] - (j <= i ? exps[j] / sum : 0)) < 1e-5);
        for (let c = 0; c < hd; c++) {
          const ref = exps.reduce((s, e, j) => s + (e / sum) * va[head][j][c], 0);
          assert.ok(Math.abs(out[head][i][c] - ref) < 1e-5);
        }
      }
    }
    // The last two queries against all five keys = the last two rows of the full result.
    const tail = causalAttention(tf.slice(q, [0, 0, 3, 0], [1, h, 2, hd]) as tf.Tensor4D, k, v);
    const expectedTail = tf.slice(full.output, [0, 0, 3, 0], [1, h, 2, hd]);
    assert.ok(maxAbsDiff(tail.output.dataSync(), expectedTail.dataSync()) < 1e-6);
    tf.dispose([q, k, v, full.output, full.weights!, tail.output, expectedTail]);
  });
});

test("fused crossEntropy skips the ignore index and averages over the rest", async (t) => {
  await forEachBackend(t, () => {
    const logits = [[2, 0, -1], [0.5, 0.5, 3], [1, 1, 1], [0, -2, 4]];
    const targets = [0, 2, -100, 1];
    const loss = crossEntropy(tf.tensor2d(logits), tf.tensor1d(targets, "int32")).dataSync()[0];
    let ref = 0;
    [0, 1, 3].forEach((r) => {
      const lse = Math.log(logits[r].reduce((a, x) => a + Math.exp(x), 0));
      ref += lse - logits[r][targets[r]];
    });
    assert.ok(Math.abs(loss - ref / 3) < 1e-5);
    const custom = crossEntropy(tf.tensor3d([logits], [1, 4, 3]), tf.tensor2d([[0, 2, 7, 1]], [1, 4], "int32"), 7).dataSync()[0];
    assert.ok(Math.abs(custom - ref / 3) < 1e-5);
    const none = crossEntropy(tf.tensor2d(logits), tf.tensor1d([-100, -100, -100, -100], "int32")).dataSync()[0];
    assert.equal(none, 0);
  });
});

test("fused embedding: lookup and its scatter-add gradient", async (t) => {
  await forEachBackend(t, () => {
    const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const ids = tf.tensor2d([[2, 0], [2, 2]], [2, 2], "int32");
    const out = embedding(table, ids);
    assert.deepEqual(out.arraySync(), [[[5, 6], [1, 2]], [[5, 6], [5, 6]]]);
    const grad = tf.grad((tbl: tf.Tensor) => tf.sum(tf.mul(embedding(tbl as tf.Tensor2D, ids), tf.tensor3d([[[1, 10], [2, 20]], [[3, 30], [4, 40]]]))))(table);
    assert.deepEqual(grad.arraySync(), [[2, 20], [0, 0], [8, 80]]);
    tf.dispose([table, ids, out, grad]);
  });
});

test("fused adamwUpdate updates parameter and moments in place", async (t) => {
  await forEachBackend(t, () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const m = tf.variable(tf.tensor1d([0.1, 0.2]));
    const v = tf.variable(tf.tensor1d([0.01, 0.04]));
    adamwUpdate(p, tf.tensor1d([0.5, -1]), m, v, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3 }, 0.1);
    const g = [0.5, -1];
    const p0 = [1, -2];
    const m0 = [0.1, 0.2];
    const v0 = [0.01, 0.04];
    for (let i = 0; i < 2; i++) {
      const mi = 0.9 * m0[i] + 0.1 * g[i];
      const vi = 0.999 * v0[i] + 0.001 * g[i] ** 2;
      const pi = p0[i] * (1 - 0.01 * 0.1) - (0.01 * (mi / (1 - 0.9 ** 3))) / (Math.sqrt(vi / (1 - 0.999 ** 3)) + 1e-8);
      assert.ok(Math.abs(m.dataSync()[i] - mi) < 1e-6);
      assert.ok(Math.abs(v.dataSync()[i] - vi) < 1e-7);
      assert.ok(Math.abs(p.dataSync()[i] - pi) < 1e-6);
    }
    tf.dispose([p, m, v]);
  });
});

test("after the wasm backend starts, a stray error no longer crashes a process that handles it", () => {
  // Emscripten's runtime adds uncaughtException/unhandledRejection listeners that
  // rethrow; inside the kernel they would turn any stray error into a crash.
  const lib = JSON.stringify(require.resolve("../lib"));
  const script = `
    const tf = require("@tensorflow/tfjs");
    const llm = require(${lib});
    (async () => {
      await tf.ready();                      // tfjs may start wasm on first use, before llmlab does
      await llm.initBackend({ backend: "wasm" });
      process.on("uncaughtException", (e) => console.log("handled " + e.message));
      process.on("unhandledRejection", (e) => console.log("handled " + e.message));
      setTimeout(() => { throw new Error("thrown"); }, 1);
      Promise.reject(new Error("rejected"));
      setTimeout(() => console.log("alive"), 100);
    })();`;
  const r = require("node:child_process").spawnSync(process.execPath, ["-e", script], { encoding: "utf8", cwd: __dirname, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /handled thrown/);
  assert.match(r.stdout, /handled rejected/);
  assert.match(r.stdout, /alive/);
});
