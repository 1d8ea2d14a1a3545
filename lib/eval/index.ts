/**
 * Evaluation: the mean loss of a model on held-out tokens, perplexity, and
 * scaling-law fits (`fitPowerLaw`).
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT } from "../model/gpt";
import { BatchSampler } from "../train/data";
import { host, throwIfAborted } from "../host";
import { progress as progressBar } from "../viz/progress";

export { fitPowerLaw, type PowerLawFit, type PowerLawOptions } from "./scaling";

/** Options of {@link estimateLoss}. */
export interface EstimateLossOptions {
  /** Number of random batches to average (default 20). */
  batches?: number;
  /** Sequences per batch (default 16). */
  batchSize?: number;
  /** Tokens per sequence (default the model's contextLength). */
  contextLength?: number;
  /** Seed of the window positions (default 1234), fixed so estimates are comparable. */
  seed?: number;
  /** Stops between batches with an `AbortError` when it fires (default: the kernel's interrupt signal). */
  signal?: AbortSignal;
  /** Show a progress bar (a string sets its label); default off. */
  progress?: boolean | string;
}

/**
 * Mean next-token cross-entropy (nats per token) of `model` on random windows
 * of `tokens`, in inference mode (no dropout), like nanoGPT's `estimate_loss`.
 * Awaits every batch; an interrupt stops it between batches (AbortError).
 */
export async function estimateLoss(model: GPT, tokens: ArrayLike<number>, options: EstimateLossOptions = {}): Promise<number> {
  const batches = options.batches ?? 20;
  if (!(Number.isInteger(batches) && batches >= 1)) throw new Error(`estimateLoss: batches must be a positive integer, got ${batches}`);
  const sampler = new BatchSampler(tokens, {
    batchSize: options.batchSize ?? 16,
    contextLength: Math.min(options.contextLength ?? model.config.contextLength, model.config.contextLength),
    seed: options.seed ?? 1234,
  });
  const signal = options.signal ?? host().abortSignal();
  const bar = options.progress ? progressBar(batches, { label: typeof options.progress === "string" ? options.progress : "eval", unit: "batch" }) : undefined;
  let total = 0;
  try {
    for (let i = 0; i < batches; i++) {
      throwIfAborted(signal);
      const { x, y } = sampler.next();
      const loss = model.loss(x, y);
      total += (await loss.data())[0];
      tf.dispose([x, y, loss]);
      bar?.update(i + 1, { loss: total / (i + 1) });
    }
  } finally {
    bar?.close(signal?.aborted ? { stopped: "interrupted" } : undefined);
  }
  return total / batches;
}

/** Perplexity from a mean loss in nats: `exp(loss)`. */
export function perplexity(meanLoss: number): number {
  return Math.exp(meanLoss);
}
