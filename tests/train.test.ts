import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { GPT, GPTConfig, Rng } from "../lib/model";
import { AdamW, cosineSchedule, clipByGlobalNorm, splitTrainVal, BatchSampler, train, Batch } from "../lib/train";
import { estimateLoss, perplexity } from "../lib/eval";
import { setHost, consoleHost } from "../lib/host";
import { forEachBackend } from "./backend-each";

const TINY: Partial<GPTConfig> = { vocabSize: 8, contextLength: 16, dModel: 32, nLayer: 1, nHead: 2 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test("AdamW matches PyTorch's update rule, decaying only ≥2-D parameters", async (t) => {
  await forEachBackend(t, () => {
    const w0 = [0.5, -1.0, 2.0, 0.25];
    const b0 = [0.1, -0.2];
    const params = new Map<string, tf.Variable>([
      ["w", tf.variable(tf.tensor2d(w0, [2, 2]))],
      ["b", tf.variable(tf.tensor1d(b0))],
    ]);
    const opt = new AdamW(params, { lr: 0.1, beta1: 0.8, beta2: 0.9, eps: 1e-6, weightDecay: 0.5 });
    const gw = [[0.3, -0.6, 0.9, 0.0], [-0.1, 0.2, 0.4, 1.0]];
    const gb = [[1.0, -2.0], [0.5, 0.5]];
    // Reference: torch.optim.AdamW, written out in double precision.
    const ref = (p0: number[], gs: number[][], wd: number) => {
      const p = p0.slice();
      const m = p.map(() => 0);
      const v = p.map(() => 0);
      gs.forEach((g, k) => {
        const step = k + 1;
        for (let i = 0; i < p.length; i++) {
          p[i] *= 1 - 0.1 * wd;
          m[i] = 0.8 * m[i] + 0.2 * g[i];
          v[i] = 0.9 * v[i] + 0.1 * g[i] * g[i];
          const mh = m[i] / (1 - 0.8 ** step);
          const vh = v[i] / (1 - 0.9 ** step);
          p[i] -= (0.1 * mh) / (Math.sqrt(vh) + 1e-6);
        }
      });
      return p;
    };
    for (let k = 0; k < 2; k++) {
      const grads = new Map<string, tf.Tensor>([["w", tf.tensor2d(gw[k], [2, 2])], ["b", tf.tensor1d(gb[k])]]);
      opt.step(grads);
      tf.dispose([...grads.values()]);
    }
    assert.ok(maxAbsDiff(params.get("w")!.dataSync(), ref(w0, gw, 0.5)) < 1e-5);
    assert.ok(maxAbsDiff(params.get("b")!.dataSync(), ref(b0, gb, 0)) < 1e-5, "biases do not decay");
    assert.equal(opt.stepCount, 2);
    assert.throws(() => opt.step(new Map()), /no gradient for parameter 'w'/);
    opt.dispose();
    params.forEach((p) => p.dispose());
  });
});

test("cosine schedule: linear warmup, cosine decay, floor", () => {
  const lr = cosineSchedule({ lr: 1, warmupSteps: 4, decaySteps: 14, minLr: 0.1 });
  assert.equal(lr(0), 1 / 5);
  assert.equal(lr(3), 4 / 5);
  assert.equal(lr(4), 1);
  assert.ok(Math.abs(lr(9) - (0.1 + 0.5 * 0.9)) < 1e-12);
  assert.ok(Math.abs(lr(14) - 0.1) < 1e-12);
  assert.equal(lr(100), 0.1);
  assert.throws(() => cosineSchedule({ lr: 1, decaySteps: 10, minLr: 2 }), /minLr/);
});

test("clipByGlobalNorm scales all gradients together and reports the norm before", () => {
  const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d([3, 0])], ["b", tf.tensor1d([0, 4])]]);
  const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
  assert.ok(Math.abs(norm.dataSync()[0] - 5) < 1e-6);
  assert.ok(maxAbsDiff(clipped.get("a")!.dataSync(), [0.6, 0]) < 1e-6);
  assert.ok(maxAbsDiff(clipped.get("b")!.dataSync(), [0, 0.8]) < 1e-6);
  const loose = clipByGlobalNorm(grads, 10);
  assert.ok(maxAbsDiff(loose.grads.get("b")!.dataSync(), [0, 4]) < 1e-6, "below the limit: unchanged");
  tf.dispose([...grads.values(), ...clipped.values(), norm, ...loose.grads.values(), loose.norm]);
});

test("batches are random next-token windows, reproducible from a seed; the split is 90/10", () => {
  const tokens = Array.from({ length: 100 }, (_, i) => i);
  const a = new BatchSampler(tokens, { batchSize: 4, contextLength: 8, seed: 3 });
  const b = new BatchSampler(tokens, { batchSize: 4, contextLength: 8, seed: 3 });
  const ba = a.next();
  const bb = b.next();
  const x = ba.x.arraySync();
  const y = ba.y.arraySync();
  for (let r = 0; r < 4; r++) {
    for (let i = 0; i < 8; i++) assert.equal(y[r][i], x[r][i] + 1);
    assert.ok(x[r][0] >= 0 && x[r][7] + 1 <= 99);
  }
  assert.deepEqual(bb.x.arraySync(), x);
  tf.dispose([ba.x, ba.y, bb.x, bb.y]);
  const { train: tr, val } = splitTrainVal(tokens);
  assert.equal(tr.length, 90);
  assert.equal(val.length, 10);
  assert.equal(val[0], 90);
  assert.throws(() => new BatchSampler([1, 2, 3], { batchSize: 1, contextLength: 8 }), /at least contextLength \+ 1/);
});

/**
 * A short random pattern repeated: a shuffled cycle of the 8 token ids, so each
 * token has one successor and a model that learns it by heart reaches zero loss.
 */
function repeatedSequence(): number[] {
  const rng = new Rng(42);
  const pattern = [0, 1, 2, 3, 4, 5, 6, 7];
  for (let i = pattern.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [pattern[i], pattern[j]] = [pattern[j], pattern[i]];
  }
  const seq: number[] = [];
  for (let i = 0; i < 60; i++) seq.push(...pattern);
  return seq;
}

test("a tiny model memorises a short repeated sequence", async (t) => {
  await forEachBackend(t, async () => {
    const model = new GPT(TINY, { seed: 1 });
    const seq = repeatedSequence();
    const result = await train({ model, data: seq, steps: 150, batchSize: 4, lr: 1e-2, warmupSteps: 10, weightDecay: 0 });
    const final = await estimateLoss(model, seq, { batches: 4, batchSize: 8 });
    assert.equal(result.steps, 150);
    assert.equal(result.stoppedBy, "done");
    assert.ok(result.history[0].loss > 1.5, `starts near ln 8, got ${result.history[0].loss}`);
    assert.ok(final < 0.05, `final loss ${final}`);
    assert.ok(perplexity(final) < 1.06);
    result.optimizer.dispose();
    model.dispose();
  });
});

test("no tensor leak over 50 steps (with accumulation, clipping and evaluation)", async (t) => {
  await forEachBackend(t, async () => {
    const model = new GPT({ ...TINY, dropout: 0.1 }, { seed: 1 });
    const seq = repeatedSequence();
    const start = tf.memory().numTensors;
    const counts: number[] = [];
    const result = await train({
      model, data: seq.slice(0, 400), valData: seq.slice(400), steps: 50, batchSize: 2, accumulationSteps: 2,
      evalEvery: 10, evalBatches: 2, onStep: () => { counts.push(tf.memory().numTensors); },
    });
    assert.equal(counts.length, 50);
    assert.deepEqual(new Set(counts), new Set([counts[0]]), `tensor counts vary: ${[...new Set(counts)]}`);
    assert.equal(result.evals.length, 5);
    assert.ok(result.evals.every((e) => Number.isFinite(e.valLoss!) && Number.isFinite(e.trainLoss!)));
    result.optimizer.dispose();
    assert.equal(tf.memory().numTensors, start, "nothing left after disposing the optimizer");
    model.dispose();
  });
});

test("metrics are reported every step and the abort signal stops at a step boundary", async (t) => {
  await forEachBackend(t, async () => {
    const model = new GPT(TINY, { seed: 1 });
    const seq = repeatedSequence();
    const controller = new AbortController();
    const seen: number[] = [];
    const result = await train({
      model, data: seq, steps: 20, batchSize: 2, signal: controller.signal,
      onStep: (m) => {
        seen.push(m.step);
        assert.ok(m.loss > 0 && m.lr > 0 && m.gradNorm > 0 && m.tokensPerSec > 0 && m.elapsed > 0);
        assert.equal(m.tokens, m.step * 2 * 16);
        if (m.step === 3) controller.abort();
      },
    });
    assert.equal(result.stoppedBy, "aborted");
    assert.equal(result.steps, 3);
    assert.deepEqual(seen, [1, 2, 3]);
    // Continuing with the returned optimizer resumes the step count.
    const more = await train({ model, data: seq, steps: 2, batchSize: 2, optimizer: result.optimizer });
    assert.equal(more.history.at(-1)!.step, 5);
    // The default signal is the host's (the kernel's interrupt).
    const hostController = new AbortController();
    hostController.abort();
    setHost({ ...consoleHost, abortSignal: () => hostController.signal });
    try {
      const none = await train({ model, data: seq, steps: 5, batchSize: 2, optimizer: result.optimizer });
      assert.equal(none.steps, 0);
      assert.equal(none.stoppedBy, "aborted");
    } finally {
      setHost(consoleHost);
    }
    result.optimizer.dispose();
    model.dispose();
  });
});

test("an interrupt during evaluation stops training cleanly; estimateLoss honours the signal", async (t) => {
  await forEachBackend(t, async () => {
    const model = new GPT(TINY, { seed: 2 });
    const seq = repeatedSequence();
    const controller = new AbortController();
    await estimateLoss(model, seq, { batches: 1, batchSize: 2 }); // warms shape caches (causal masks)
    const before = tf.memory().numTensors;
    const result = await train({
      model, data: seq, valData: seq, steps: 10, batchSize: 2, evalEvery: 2, evalBatches: 3, signal: controller.signal,
      // Fires while the step-2 evaluation is about to run (onStep comes before it).
      onStep: (m) => {
        if (m.step === 2) controller.abort();
      },
    });
    assert.equal(result.stoppedBy, "aborted");
    assert.equal(result.steps, 2);
    assert.equal(result.evals.length, 0, "the interrupted evaluation is not recorded");
    result.optimizer.dispose();
    assert.equal(tf.memory().numTensors, before, "no tensor left behind by the interrupted evaluation");
    await assert.rejects(estimateLoss(model, seq, { batches: 5, batchSize: 2, signal: controller.signal }), { name: "AbortError" });
    assert.ok((await estimateLoss(model, seq, { batches: 2, batchSize: 2 })) > 0);
    model.dispose();
  });
});

test("gradient accumulation over two half batches equals one full batch", async (t) => {
  await forEachBackend(t, async () => {
    const seq = repeatedSequence();
    const sampler = new BatchSampler(seq, { batchSize: 4, contextLength: 16, seed: 5 });
    const full = sampler.next();
    const halves: Batch[] = [0, 2].map((r) => ({
      x: tf.slice(full.x, [r, 0], [2, 16]) as tf.Tensor2D,
      y: tf.slice(full.y, [r, 0], [2, 16]) as tf.Tensor2D,
    }));
    const run = async (accumulationSteps: number, batches: Batch[]) => {
      const model = new GPT(TINY, { seed: 7 });
      let k = 0;
      const next = () => {
        const b = batches[k++ % batches.length];
        return { x: tf.clone(b.x), y: tf.clone(b.y) };
      };
      const r = await train({ model, batches: next, steps: 1, batchSize: 4 / accumulationSteps, accumulationSteps, lr: 1e-2 });
      const values = model.variables().map((v) => Array.from(v.dataSync()));
      r.optimizer.dispose();
      model.dispose();
      return { loss: r.history[0].loss, norm: r.history[0].gradNorm, values };
    };
    const one = await run(1, [full]);
    const two = await run(2, halves);
    assert.ok(Math.abs(one.loss - two.loss) < 1e-5);
    assert.ok(Math.abs(one.norm - two.norm) < 1e-4 * Math.max(1, one.norm));
    for (let i = 0; i < one.values.length; i++) assert.ok(maxAbsDiff(one.values[i], two.values[i]) < 1e-5);
    tf.dispose([full.x, full.y, ...halves.flatMap((h) => [h.x, h.y])]);
  });
});

test("train validates its options", async () => {
  const model = new GPT(TINY);
  await assert.rejects(train({ model, steps: 1 }), /give `data`/);
  await assert.rejects(train({ model, data: [1, 2, 3], steps: 1, contextLength: 32 }), /exceeds the model's 16/);
  await assert.rejects(train({ model, data: repeatedSequence(), steps: 1.5 }), /steps must be an integer/);
  model.dispose();
});
