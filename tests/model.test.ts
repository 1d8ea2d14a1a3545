import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { GPT, gptConfig, GPTConfig, generate, chooseToken, Rng, logSoftmaxAt } from "../lib/model";
import { forEachBackend } from "./backend-each";

const TINY: Partial<GPTConfig> = { vocabSize: 13, contextLength: 10, dModel: 16, nLayer: 2, nHead: 2 };

// Architectural variants that every structural test covers.
const VARIANTS: Partial<GPTConfig>[] = [
  { ...TINY },
  { ...TINY, positional: "rope", norm: "rmsnorm", activation: "swiglu", bias: false, tiedEmbeddings: false },
  { ...TINY, positional: "sinusoidal", activation: "relu" },
  { ...TINY, positional: "none", norm: "rmsnorm", nHead: 4, activation: "gelu_exact" },
];

function describe(c: Partial<GPTConfig>): string {
  return `${c.positional ?? "learned"}/${c.norm ?? "layernorm"}/${c.activation ?? "gelu"}`;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Random ids [b][t] in [0, vocab). */
function randomIds(rng: Rng, b: number, t: number, vocab: number): number[][] {
  return Array.from({ length: b }, () => Array.from({ length: t }, () => rng.int(vocab)));
}

test("gptConfig fills defaults and rejects bad values with the field's name", () => {
  const c = gptConfig({ dModel: 64, nHead: 4 });
  assert.equal(c.dFF, 256);
  assert.equal(c.positional, "learned");
  assert.equal(c.tiedEmbeddings, true);
  assert.throws(() => gptConfig({ dModel: 30, nHead: 4 }), /nHead \(4\) must divide dModel \(30\)/);
  assert.throws(() => gptConfig({ positional: "alibi" as any }), /positional must be one of/);
  assert.throws(() => gptConfig({ nLayer: 0 }), /nLayer must be a positive integer/);
  assert.throws(() => gptConfig({ dropout: 1.5 }), /dropout/);
  assert.throws(() => gptConfig({ nheads: 4 } as any), /no field 'nheads'/);
  assert.throws(() => gptConfig({ dModel: 12, nHead: 4, positional: "rope" }), /even head size/);
});

test("forward gives logits, attention weights and hidden states of the right shapes", async (t) => {
  await forEachBackend(t, () => {
    const model = new GPT(TINY);
    const before = tf.memory().numTensors;
    const out = model.forward([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]], { returnAttentions: true, returnHiddenStates: true });
    assert.deepEqual(out.logits.shape, [2, 5, 13]);
    assert.equal(out.attentions!.length, 2);
    assert.deepEqual(out.attentions![0].shape, [2, 2, 5, 5]);
    assert.equal(out.hiddenStates!.length, 3);
    assert.deepEqual(out.hiddenStates![2].shape, [2, 5, 16]);
    // Attention rows are distributions over the past only.
    const w = out.attentions![1].arraySync() as number[][][][];
    for (const row of w[0][1].map((r, i) => ({ r, i }))) {
      const sum = row.r.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `row ${row.i} sums to ${sum}`);
      for (let j = row.i + 1; j < 5; j++) assert.equal(row.r[j], 0);
    }
    tf.dispose([out.logits, ...out.attentions!, ...out.hiddenStates!]);
    assert.equal(tf.memory().numTensors, before, "forward leaks no tensors");
    assert.throws(() => model.forward([[1, 2, 99]]), /token id 99/);
    assert.throws(() => model.forward([Array(11).fill(1)]), /exceed contextLength 10/);
    model.dispose();
  });
});

test("causality: changing token t+1 never changes the logits at positions ≤ t", async (t) => {
  await forEachBackend(t, () => {
    const rng = new Rng(3);
    for (const cfg of VARIANTS) {
      const model = new GPT(cfg, { seed: 5 });
      const ids = randomIds(rng, 1, 10, 13)[0];
      const base = model.logits([ids]);
      const baseValues = base.arraySync()[0];
      for (const pos of [1, 4, 9]) {
        const changed = ids.slice();
        changed[pos] = (changed[pos] + 1 + rng.int(11)) % 13;
        const other = model.logits([changed]);
        const values = other.arraySync()[0];
        for (let p = 0; p < pos; p++) {
          assert.ok(maxAbsDiff(values[p], baseValues[p]) <= 1e-6, `${describe(cfg)}: position ${p} changed when token ${pos} did`);
        }
        assert.ok(maxAbsDiff(values[pos], baseValues[pos]) > 1e-4, `${describe(cfg)}: position ${pos} should see its own token`);
        other.dispose();
      }
      base.dispose();
      model.dispose();
    }
  });
});

test("finite-difference gradient check on a tiny model", async (t) => {
  await forEachBackend(t, async () => {
    for (const cfg of [VARIANTS[0], VARIANTS[1], VARIANTS[3]]) {
      // Larger initial weights than GPT-2's make the gradients large against float32 noise.
      const model = new GPT({ ...cfg, vocabSize: 7, dModel: 8, nHead: 2, nLayer: 1, contextLength: 6 }, { seed: 11 });
      for (const v of model.variables()) tf.tidy(() => v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 0.3, "float32", 4), 1))));
      const ids = [[1, 5, 2, 6, 0, 3], [4, 4, 1, 2, 6, 5]];
      const targets = [[5, 2, 6, 0, 3, 1], [4, 1, 2, 6, 5, 0]];
      const lossOf = () => tf.tidy(() => model.loss(ids, targets).dataSync()[0]);
      const { grads } = tf.variableGrads(() => model.loss(ids, targets));
      const rng = new Rng(1);
      const eps = 1e-2;
      let checked = 0;
      for (const [name, v] of model.params) {
        const g = grads[v.name].dataSync();
        // The entry with the largest gradient and a random one.
        let big = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[big])) big = i;
        for (const idx of [big, rng.int(g.length)]) {
          const orig = v.dataSync().slice();
          const nudge = (delta: number) => {
            const copy = orig.slice();
            copy[idx] += delta;
            tf.tidy(() => v.assign(tf.tensor(copy, v.shape)));
          };
          nudge(eps);
          const up = lossOf();
          nudge(-eps);
          const down = lossOf();
          tf.tidy(() => v.assign(tf.tensor(orig, v.shape)));
          const numeric = (up - down) / (2 * eps);
          const err = Math.abs(numeric - g[idx]);
          assert.ok(err <= 2e-4 + 0.01 * Math.abs(g[idx]), `${describe(cfg)} ${name}[${idx}]: analytic ${g[idx]}, numeric ${numeric}`);
          checked++;
        }
      }
      assert.ok(checked >= 2 * model.params.size);
      tf.dispose(Object.values(grads));
      model.dispose();
    }
  });
});

test("dropout is applied only in training and reproduces with a seed", async (t) => {
  await forEachBackend(t, () => {
    const model = new GPT({ ...TINY, dropout: 0.3 }, { seed: 2 });
    const ids = [[1, 2, 3, 4, 5, 6]];
    const evalA = model.logits(ids).dataSync();
    const evalB = model.logits(ids).dataSync();
    assert.equal(maxAbsDiff(evalA, evalB), 0);
    model.seedDropout(9);
    const trainA = model.forward(ids, { training: true }).logits.dataSync();
    model.seedDropout(9);
    const trainB = model.forward(ids, { training: true }).logits.dataSync();
    assert.equal(maxAbsDiff(trainA, trainB), 0, "same dropout seed, same result");
    assert.ok(maxAbsDiff(trainA, evalA) > 1e-4, "dropout changes the training forward");
    model.dispose();
  });
});

test("paramCount and flopsPerToken follow the formulas", () => {
  const c = gptConfig({ vocabSize: 65, contextLength: 64, dModel: 128, nLayer: 4, nHead: 4 });
  const model = new GPT(c);
  const d = c.dModel;
  const perLayer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d);
  const expected = c.vocabSize * d + c.contextLength * d + c.nLayer * perLayer + 2 * d;
  assert.equal(model.paramCount(), expected);
  assert.equal(model.paramCount({ nonEmbedding: true }), expected - c.contextLength * d);
  assert.equal(model.flopsPerToken(), 6 * (expected - c.contextLength * d) + 12 * 4 * 64 * 128);
  const untied = new GPT({ ...c, tiedEmbeddings: false, bias: false, norm: "rmsnorm", activation: "swiglu", positional: "rope" });
  const perLayer2 = d + 3 * d * d + d * d + d + 3 * d * 4 * d;
  assert.equal(untied.paramCount(), 2 * c.vocabSize * d + c.nLayer * perLayer2 + d);
  model.dispose();
  untied.dispose();
});

test("generation with the KV cache equals full recomputation", async (t) => {
  await forEachBackend(t, async () => {
    for (const cfg of VARIANTS) {
      const model = new GPT(cfg, { seed: 21 });
      // Step-by-step logits through the cache match one full forward.
      const ids = [3, 1, 4, 1, 5, 9, 2, 6];
      const full = model.logits([ids]).arraySync()[0];
      const cache = model.newCache();
      const pieces = [[3, 1, 4], [1], [5, 9], [2], [6]];
      let pos = 0;
      for (const piece of pieces) {
        const step = model.forward([piece], { cache });
        const values = step.logits.arraySync()[0];
        for (let i = 0; i < piece.length; i++) {
          assert.ok(maxAbsDiff(values[i], full[pos + i]) < 1e-4, `${describe(cfg)}: cached logits differ at ${pos + i}`);
        }
        pos += piece.length;
        step.logits.dispose();
      }
      assert.equal(cache.length, ids.length);
      cache.dispose();
      // Whole generations, past the context length, greedy and sampled.
      for (const options of [{ temperature: 0 }, { temperature: 0.9, topK: 8, topP: 0.9, seed: 4 }]) {
        const before = tf.memory().numTensors;
        const cached = await generate(model, [2, 7], { ...options, maxNewTokens: 14 });
        const uncached = await generate(model, [2, 7], { ...options, maxNewTokens: 14, useCache: false });
        assert.deepEqual(cached.ids, uncached.ids, `${describe(cfg)}: tokens differ`);
        assert.ok(maxAbsDiff(cached.logprobs, uncached.logprobs) < 1e-4);
        assert.equal(tf.memory().numTensors, before, "generation leaks no tensors");
      }
      model.dispose();
    }
  });
});

test("greedy generation picks the argmax of a full forward, with log-softmax logprobs", async (t) => {
  await forEachBackend(t, async () => {
    const model = new GPT(TINY, { seed: 8 });
    const prompt = [1, 2, 3];
    const out = await generate(model, prompt, { temperature: 0, maxNewTokens: 5 });
    const seq = prompt.slice();
    for (let i = 0; i < 5; i++) {
      const logits = model.logits([seq]).arraySync()[0][seq.length - 1];
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
      assert.equal(out.ids[i], best);
      const lse = Math.log(logits.reduce((a, x) => a + Math.exp(x), 0));
      assert.ok(Math.abs(out.logprobs[i] - (logits[best] - lse)) < 1e-4);
      seq.push(best);
    }
    assert.deepEqual(out.promptIds, prompt);
    assert.equal(out.stoppedBy, "maxNewTokens");
    // topK 1 is greedy whatever the temperature.
    const k1 = await generate(model, prompt, { temperature: 5, topK: 1, maxNewTokens: 5, seed: 3 });
    assert.deepEqual(k1.ids, out.ids);
    model.dispose();
  });
});

test("sampling reproduces with a seed; stop tokens, callbacks and abort end generation", async (t) => {
  await forEachBackend(t, async () => {
    const model = new GPT(TINY, { seed: 8 });
    const a = await generate(model, [1], { maxNewTokens: 12, seed: 99, temperature: 1.5 });
    const b = await generate(model, [1], { maxNewTokens: 12, seed: 99, temperature: 1.5 });
    assert.deepEqual(a.ids, b.ids);
    assert.equal(a.seed, 99);
    const stopAt = a.ids[3];
    const stopped = await generate(model, [1], { maxNewTokens: 12, seed: 99, temperature: 1.5, stopTokens: [stopAt] });
    assert.equal(stopped.stoppedBy, "stopToken");
    assert.deepEqual(stopped.ids, a.ids.slice(0, a.ids.indexOf(stopAt) + 1));
    const streamed: number[] = [];
    const cb = await generate(model, [1], {
      maxNewTokens: 12, seed: 99, temperature: 1.5,
      onToken: (id, info) => { streamed.push(id); assert.equal(info.index, streamed.length - 1); return streamed.length < 4 ? undefined : false; },
    });
    assert.equal(cb.stoppedBy, "callback");
    assert.deepEqual(cb.ids, streamed);
    assert.deepEqual(streamed, a.ids.slice(0, 4));
    const controller = new AbortController();
    const aborted = await generate(model, [1], {
      maxNewTokens: 12, signal: controller.signal,
      onToken: (_id, info) => { if (info.index === 1) controller.abort(); },
    });
    assert.equal(aborted.stoppedBy, "aborted");
    assert.equal(aborted.ids.length, 2);
    await assert.rejects(generate(model, [], {}), /at least one token/);
    await assert.rejects(generate(model, [1], { topP: 0 }), /topP/);
    await assert.rejects(generate(model, [1], { temperature: -1 }), /temperature/);
    model.dispose();
  });
});

test("chooseToken: top-k and top-p keep only the allowed tokens", () => {
  const logits = [2.0, 1.0, 0.5, 3.0, -1.0]; // probabilities ranked: 3, 0, 1, 2, 4
  const rng = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 400; i++) seen.add(chooseToken(logits, { topK: 2 }, rng));
  assert.deepEqual([...seen].sort(), [0, 3]);
  // softmax: p3 ≈ 0.61, p0 ≈ 0.22: the 0.7 nucleus is {3, 0}.
  seen.clear();
  for (let i = 0; i < 400; i++) seen.add(chooseToken(logits, { topP: 0.7 }, rng));
  assert.deepEqual([...seen].sort(), [0, 3]);
  seen.clear();
  for (let i = 0; i < 400; i++) seen.add(chooseToken(logits, { topP: 0.5 }, rng));
  assert.deepEqual([...seen], [3]);
  // Frequencies follow the softmax at temperature 1.
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 20000; i++) counts[chooseToken(logits, {}, rng)]++;
  for (let j = 0; j < 5; j++) {
    const p = Math.exp(logSoftmaxAt(logits, j));
    assert.ok(Math.abs(counts[j] / 20000 - p) < 0.015, `token ${j}: ${counts[j] / 20000} vs ${p}`);
  }
});
