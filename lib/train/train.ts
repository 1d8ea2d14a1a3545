/**
 * The training loop. One step, top to bottom:
 *   1. for each of `accumulationSteps` micro-batches: forward, loss, backward, sum gradients;
 *   2. average the gradients, clip them to a global norm;
 *   3. AdamW update at the scheduled learning rate;
 *   4. report metrics, evaluate now and then, yield to the event loop, and stop
 *      at this step boundary if the abort signal fired.
 */
import * as tf from "@tensorflow/tfjs";
import { host } from "../host";
import type { GPT } from "../model/gpt";
import { estimateLoss } from "../eval";
import { AdamW } from "./adamw";
import { clipByGlobalNorm, globalNorm } from "./clip";
import { Batch, BatchSampler } from "./data";
import { cosineSchedule } from "./schedule";
import { progress as progressBar } from "../viz/progress";

/** What {@link train} reports after every step. */
export interface StepMetrics {
  /** 1-based number of the step just finished (counting from the optimizer's previous steps). */
  step: number;
  /** Mean training loss of the step's micro-batches. */
  loss: number;
  /** Learning rate used. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Tokens processed per second in this step. */
  tokensPerSec: number;
  /** Seconds since training started. */
  elapsed: number;
  /** Tokens processed since training started. */
  tokens: number;
}

/** What {@link train} reports after each evaluation. */
export interface EvalMetrics {
  step: number;
  /** Estimated loss on the training tokens (when training tokens were given). */
  trainLoss?: number;
  /** Estimated loss on the validation tokens (when given). */
  valLoss?: number;
  elapsed: number;
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** The model to train (its variables are updated in place). */
  model: GPT;
  /** Steps (optimizer updates) to run. */
  steps: number;
  /** Training tokens; batches are random windows of them. Give this or `batches`. */
  data?: ArrayLike<number>;
  /** Validation tokens, for periodic evaluation. */
  valData?: ArrayLike<number>;
  /** Instead of `data`: a function returning the next batch (train disposes it). */
  batches?: () => Batch;
  /** Sequences per micro-batch (default 16). */
  batchSize?: number;
  /** Tokens per sequence (default the model's contextLength). */
  contextLength?: number;
  /** Micro-batches per step whose gradients are averaged (default 1). */
  accumulationSteps?: number;
  /** Peak learning rate (default 1e-3). */
  lr?: number;
  /** Final learning rate of the cosine decay (default lr / 10). */
  minLr?: number;
  /** Linear warmup steps (default 0). */
  warmupSteps?: number;
  /** Step where the cosine decay ends (default `steps`). */
  decaySteps?: number;
  /** A custom schedule: 0-based step → learning rate (overrides lr/minLr/warmup/decay). */
  schedule?: (step: number) => number;
  /** AdamW β1 (default 0.9). */
  beta1?: number;
  /** AdamW β2 (default 0.99, nanoGPT's for small models). */
  beta2?: number;
  /** AdamW ε (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay of matrices and embeddings (default 0.1). */
  weightDecay?: number;
  /** Clip gradients to this global norm (default 1; 0 or Infinity: no clipping). */
  gradClip?: number;
  /** Evaluate every this many steps and after the last (default 0: never). */
  evalEvery?: number;
  /** Batches per evaluation (default 20). */
  evalBatches?: number;
  /** Seed of batch order and dropout (default 1337). */
  seed?: number;
  /** Continue with this optimizer (its moments and step count) instead of a new one. */
  optimizer?: AdamW;
  /** Stop cleanly at the next step boundary when this fires (default: the host's — the cell's interrupt). */
  signal?: AbortSignal;
  /**
   * Show a progress bar with loss and learning rate (a string sets its label).
   * Default: in a notebook yes, in scripts no.
   */
  progress?: boolean | string;
  /** Called after every step. */
  onStep?: (metrics: StepMetrics) => void | Promise<void>;
  /** Called after every evaluation. */
  onEval?: (metrics: EvalMetrics) => void | Promise<void>;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Steps completed in this call. */
  steps: number;
  /** "done" after all steps, "aborted" if the signal stopped it early. */
  stoppedBy: "done" | "aborted";
  /** Metrics of every step. */
  history: StepMetrics[];
  /** Every evaluation. */
  evals: EvalMetrics[];
  /** The optimizer (pass it back as `options.optimizer` to continue; dispose it when done). */
  optimizer: AdamW;
  /** Seconds spent. */
  elapsed: number;
}

function positiveInt(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`train: ${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Train `model` for `steps` AdamW steps on random windows of `data` (or on
 * `batches`), awaiting every step so interrupts land; stops cleanly at a step
 * boundary when the abort signal fires. Leaks no tensors.
 *
 * @example
 * const { train, val } = llm.train.splitTrainVal(tokens);
 * await llm.train.train({ model, data: train, valData: val, steps: 500, evalEvery: 100,
 *   onStep: (m) => { if (m.step % 50 === 0) console.log(m.step, m.loss.toFixed(3)); } });
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const model = options.model;
  if (!model || !(model.params instanceof Map)) throw new Error("train: options.model must be a GPT");
  const steps = options.steps;
  if (!(Number.isInteger(steps) && steps >= 0)) throw new Error(`train: steps must be an integer ≥ 0, got ${steps}`);
  const batchSize = positiveInt("batchSize", options.batchSize ?? 16);
  const contextLength = positiveInt("contextLength", options.contextLength ?? model.config.contextLength);
  if (contextLength > model.config.contextLength) {
    throw new Error(`train: contextLength ${contextLength} exceeds the model's ${model.config.contextLength}`);
  }
  const accumulation = positiveInt("accumulationSteps", options.accumulationSteps ?? 1);
  const evalEvery = options.evalEvery ?? 0;
  const gradClip = options.gradClip ?? 1;
  const seed = options.seed ?? 1337;
  const lr = options.lr ?? 1e-3;
  const schedule =
    options.schedule ??
    cosineSchedule({ lr, minLr: options.minLr, warmupSteps: options.warmupSteps ?? 0, decaySteps: options.decaySteps ?? steps });
  if (!options.data && !options.batches) throw new Error("train: give `data` (token ids) or `batches` (a function returning batches)");
  const sampler = options.data ? new BatchSampler(options.data, { batchSize, contextLength, seed }) : undefined;
  const nextBatch = sampler ? () => sampler.next() : options.batches!;
  const signal = options.signal ?? host().abortSignal();
  const optimizer =
    options.optimizer ??
    new AdamW(model.params, {
      lr,
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.99,
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 0.1,
    });
  model.seedDropout(seed + optimizer.stepCount);

  const names = [...model.params.keys()];
  const variables = names.map((n) => model.params.get(n)!);
  const history: StepMetrics[] = [];
  const evals: EvalMetrics[] = [];
  const start = performance.now();
  let tokens = 0;
  let done = 0;
  let stoppedBy: "done" | "aborted" = "done";

  const showBar = options.progress ?? host().interactive;
  const bar = showBar ? progressBar(steps, { label: typeof options.progress === "string" ? options.progress : "train", unit: "step" }) : undefined;

  /** Returns false when the signal stopped the evaluation. */
  const evaluate = async (step: number): Promise<boolean> => {
    const common = { batches: options.evalBatches ?? 20, batchSize, contextLength, signal };
    const e: EvalMetrics = { step, elapsed: 0 };
    try {
      if (options.data) e.trainLoss = await estimateLoss(model, options.data, common);
      if (options.valData) e.valLoss = await estimateLoss(model, options.valData, common);
    } catch (err) {
      if (signal?.aborted && (err as Error)?.name === "AbortError") return false;
      throw err;
    }
    e.elapsed = (performance.now() - start) / 1000;
    evals.push(e);
    await options.onEval?.(e);
    return true;
  };

  try {
    for (let i = 0; i < steps; i++) {
      if (signal?.aborted) {
        stoppedBy = "aborted";
        break;
      }
      const stepStart = performance.now();
      const stepIndex = optimizer.stepCount; // 0-based step for the schedule
      const stepLr = schedule(stepIndex);

      // 1. Forward and backward over the micro-batches, summing gradients.
      let gradSum: Map<string, tf.Tensor> | undefined;
      let lossSum: tf.Scalar | undefined;
      let stepTokens = 0;
      for (let micro = 0; micro < accumulation; micro++) {
        const batch = nextBatch();
        stepTokens += batch.x.size;
        const { value, grads } = tf.variableGrads(() => model.loss(batch.x, batch.y, { training: true }), variables);
        tf.dispose([batch.x, batch.y]);
        if (!gradSum || !lossSum) {
          gradSum = new Map(names.map((n, k) => [n, grads[variables[k].name]]));
          lossSum = value;
        } else {
          for (let k = 0; k < names.length; k++) {
            const g = grads[variables[k].name];
            const prev = gradSum.get(names[k])!;
            gradSum.set(names[k], tf.add(prev, g));
            tf.dispose([prev, g]);
          }
          const prevLoss = lossSum;
          lossSum = tf.add(prevLoss, value) as tf.Scalar;
          tf.dispose([prevLoss, value]);
        }
      }

      // 2. Average and clip.
      let grads = gradSum!;
      if (accumulation > 1) {
        const averaged = new Map<string, tf.Tensor>();
        for (const [n, g] of grads) averaged.set(n, tf.div(g, accumulation));
        tf.dispose([...grads.values()]);
        grads = averaged;
      }
      let norm: tf.Scalar;
      if (gradClip > 0 && Number.isFinite(gradClip)) {
        const clipped = clipByGlobalNorm(grads, gradClip);
        tf.dispose([...grads.values()]);
        grads = clipped.grads;
        norm = clipped.norm;
      } else {
        norm = globalNorm(grads.values());
      }

      // 3. Update.
      optimizer.step(grads, stepLr);
      tf.dispose([...grads.values()]);

      // 4. Report.
      const [lossValue, normValue] = await Promise.all([lossSum!.data(), norm.data()]);
      tf.dispose([lossSum!, norm]);
      tokens += stepTokens;
      done++;
      const now = performance.now();
      const metrics: StepMetrics = {
        step: optimizer.stepCount,
        loss: lossValue[0] / accumulation,
        lr: stepLr,
        gradNorm: normValue[0],
        tokensPerSec: stepTokens / ((now - stepStart) / 1000),
        elapsed: (now - start) / 1000,
        tokens,
      };
      history.push(metrics);
      bar?.update(done, { loss: metrics.loss, lr: metrics.lr, ...(evals.length ? { val: evals[evals.length - 1].valLoss } : {}) });
      await options.onStep?.(metrics);
      if (evalEvery > 0 && (done % evalEvery === 0 || done === steps) && !(await evaluate(metrics.step))) {
        stoppedBy = "aborted";
        break;
      }
      // Let the kernel's interrupt (and any output) through before the next step.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    bar?.close(stoppedBy === "aborted" ? { stopped: "interrupted" } : undefined);
  }
  return { steps: done, stoppedBy, history, evals, optimizer, elapsed: (performance.now() - start) / 1000 };
}
