/**
 * Token data for language-model training: a train/validation split and
 * batches of random windows (x = tokens[i, i+T), y = tokens[i+1, i+T+1)).
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../model/rng";

/** One batch: inputs and next-token targets, int32 [B, T] each. */
export interface Batch {
  x: tf.Tensor2D;
  y: tf.Tensor2D;
}

/** Convert token ids to an Int32Array, checking they are non-negative integers. */
export function toTokenArray(tokens: ArrayLike<number>, what = "tokens"): Int32Array {
  if (tokens instanceof Int32Array) return tokens;
  const out = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0) throw new Error(`${what}[${i}] = ${t} is not a token id (an integer ≥ 0)`);
    out[i] = t;
  }
  return out;
}

/**
 * Split tokens into a first part for training and the rest for validation
 * (default 90/10, nanoGPT's split: no shuffling, so no leak between them).
 */
export function splitTrainVal(tokens: ArrayLike<number>, trainFraction = 0.9): { train: Int32Array; val: Int32Array } {
  if (!(trainFraction > 0 && trainFraction < 1)) throw new Error(`splitTrainVal: trainFraction must be in (0, 1), got ${trainFraction}`);
  const all = toTokenArray(tokens);
  const n = Math.floor(all.length * trainFraction);
  return { train: all.slice(0, n), val: all.slice(n) };
}

/** Options of {@link BatchSampler}. */
export interface BatchOptions {
  /** Sequences per batch. */
  batchSize: number;
  /** Tokens per sequence (T). */
  contextLength: number;
  /** Seed of the window positions (default 1337). */
  seed?: number;
}

/** Draws batches of random windows from a token array, reproducibly. */
export class BatchSampler {
  /** The token ids windows are drawn from. */
  readonly tokens: Int32Array;
  /** Windows per batch. */
  readonly batchSize: number;
  /** Tokens per window (targets are the same window shifted by one). */
  readonly contextLength: number;
  private rng: Rng;

  constructor(tokens: ArrayLike<number>, options: BatchOptions) {
    this.tokens = toTokenArray(tokens);
    this.batchSize = options.batchSize;
    this.contextLength = options.contextLength;
    if (!(Number.isInteger(this.batchSize) && this.batchSize >= 1)) throw new Error(`batchSize must be a positive integer, got ${this.batchSize}`);
    if (!(Number.isInteger(this.contextLength) && this.contextLength >= 1)) {
      throw new Error(`contextLength must be a positive integer, got ${this.contextLength}`);
    }
    if (this.tokens.length < this.contextLength + 1) {
      throw new Error(`need at least contextLength + 1 = ${this.contextLength + 1} tokens to make a batch, got ${this.tokens.length}`);
    }
    this.rng = new Rng(options.seed ?? 1337);
  }

  /** Start positions of the next batch's windows (advances the RNG). */
  nextStarts(): number[] {
    const span = this.tokens.length - this.contextLength;
    return Array.from({ length: this.batchSize }, () => this.rng.int(span));
  }

  /** The next batch; the caller disposes its tensors. */
  next(): Batch {
    const t = this.contextLength;
    const x = new Int32Array(this.batchSize * t);
    const y = new Int32Array(this.batchSize * t);
    this.nextStarts().forEach((start, b) => {
      x.set(this.tokens.subarray(start, start + t), b * t);
      y.set(this.tokens.subarray(start + 1, start + t + 1), b * t);
    });
    return {
      x: tf.tensor2d(x, [this.batchSize, t], "int32"),
      y: tf.tensor2d(y, [this.batchSize, t], "int32"),
    };
  }
}

/** Shorthand: a {@link BatchSampler} over `tokens`. */
export function randomBatches(tokens: ArrayLike<number>, options: BatchOptions): BatchSampler {
  return new BatchSampler(tokens, options);
}
