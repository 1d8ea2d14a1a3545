/**
 * Autoregressive generation with a key/value cache: greedy, temperature, top-k
 * and top-p sampling with our own seeded RNG (so a seed reproduces a sample on
 * every backend), stop tokens, a per-token callback for streaming, and an
 * abort signal checked between tokens.
 */
import * as tf from "@tensorflow/tfjs";
import { host } from "../host";
import type { GPT, KVCache } from "./gpt";
import { Rng } from "./rng";

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** How many tokens to generate at most (default 100). */
  maxNewTokens?: number;
  /** Softmax temperature (default 1). 0 means greedy (argmax). */
  temperature?: number;
  /** Sample only among the k most likely tokens. */
  topK?: number;
  /** Sample only among the most likely tokens whose probabilities sum to at least p (nucleus). */
  topP?: number;
  /** Seed of the sampler; the same seed, model and prompt give the same tokens. Default: random (reported in the result). */
  seed?: number;
  /** Stop after generating any of these ids (the stop token is included in the result). */
  stopTokens?: number[];
  /**
   * Called with each new token as soon as it is chosen (for streaming). Return
   * `false` (or a promise of it) to stop generating.
   */
  onToken?: (id: number, info: { index: number; logprob: number }) => void | boolean | Promise<void | boolean>;
  /** Stops generation between tokens when it fires (default: the host's, i.e. the cell's interrupt). */
  signal?: AbortSignal;
  /** Use the KV cache (default true); false recomputes the whole window each token. */
  useCache?: boolean;
}

/** Why generation ended. */
export type StopReason = "maxNewTokens" | "stopToken" | "callback" | "aborted";

/** What {@link generate} returns. */
export interface GenerateResult {
  /** The prompt, as given. */
  promptIds: number[];
  /** The generated ids only (not the prompt). */
  ids: number[];
  /** For each generated id: log-softmax of the raw logits (temperature 1) at that id. */
  logprobs: number[];
  /** The seed the sampler used (pass it back to reproduce). */
  seed: number;
  /** Why it stopped. */
  stoppedBy: StopReason;
}

/** The options a token choice needs. */
export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
}

/** Throws a clear error on bad sampling options. */
export function checkSamplingOptions(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(typeof o.temperature === "number" && o.temperature >= 0 && Number.isFinite(o.temperature))) {
    throw new Error(`temperature must be a number ≥ 0, got ${o.temperature}`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) {
    throw new Error(`topK must be a positive integer, got ${o.topK}`);
  }
  if (o.topP !== undefined && !(typeof o.topP === "number" && o.topP > 0 && o.topP <= 1)) {
    throw new Error(`topP must be a number in (0, 1], got ${o.topP}`);
  }
}

/** Log-softmax of `logits` at `index`, computed in double precision. */
export function logSoftmaxAt(logits: ArrayLike<number>, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[index] - max - Math.log(sum);
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Choose the next token from raw logits: greedy when temperature is 0, else
 * divide by the temperature, keep the top-k, keep the top-p nucleus (the
 * smallest set of most likely tokens whose probability reaches p), renormalise
 * and draw with `rng`.
 */
export function chooseToken(logits: ArrayLike<number>, options: SamplingOptions, rng: Rng): number {
  const temperature = options.temperature ?? 1;
  if (temperature === 0) return argmax(logits);
  // Candidates sorted by logit, descending (index breaks ties, so it is deterministic).
  let order = Array.from({ length: logits.length }, (_, i) => i);
  order.sort((a, b) => logits[b] - logits[a] || a - b);
  if (options.topK !== undefined && options.topK < order.length) order = order.slice(0, options.topK);
  const max = logits[order[0]];
  let probs = order.map((i) => Math.exp((logits[i] - max) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / total);
  if (options.topP !== undefined && options.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probs.length) {
      cumulative += probs[keep];
      keep++;
      if (cumulative >= options.topP) break;
    }
    order = order.slice(0, keep);
    probs = probs.slice(0, keep);
    total = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / total);
  }
  const u = rng.next();
  let acc = 0;
  for (let i = 0; i < probs.length; i++) {
    acc += probs[i];
    if (u < acc) return order[i];
  }
  return order[order.length - 1];
}

/** Logits of the last position of a forward pass, as a JS array; frees the tensor. */
async function lastLogits(model: GPT, window: number[], cache: KVCache | undefined): Promise<Float32Array> {
  const { logits } = model.forward([window], { cache });
  const last = tf.tidy(() => {
    const [, t, v] = logits.shape;
    return tf.reshape(tf.slice(logits, [0, t - 1, 0], [1, 1, v]), [v]);
  });
  logits.dispose();
  const values = (await last.data()) as Float32Array;
  last.dispose();
  return values;
}

/**
 * Generate up to `maxNewTokens` tokens after `prompt`. The prompt is cut to the
 * last `contextLength` tokens; once the sequence outgrows the context, each
 * step re-reads the last `contextLength` tokens (as nanoGPT does), so cached and
 * uncached generation give the same tokens.
 *
 * @example
 * const out = await generate(model, [0, 5, 7], { maxNewTokens: 50, temperature: 0.8, topK: 20, seed: 1,
 *   onToken: (id) => process.stdout.write(tok.decode([id])) });
 */
export async function generate(model: GPT, prompt: number[], options: GenerateOptions = {}): Promise<GenerateResult> {
  const cfg = model.config;
  const maxNew = options.maxNewTokens ?? 100;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`maxNewTokens must be an integer ≥ 0, got ${maxNew}`);
  checkSamplingOptions(options);
  if (!Array.isArray(prompt) && !(prompt as unknown instanceof Int32Array)) throw new Error("generate: prompt must be an array of token ids");
  const promptIds = Array.from(prompt);
  if (promptIds.length === 0) throw new Error("generate: the prompt needs at least one token");
  for (const id of promptIds) {
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
      throw new Error(`generate: prompt token ${id} is not an integer in [0, ${cfg.vocabSize})`);
    }
  }
  const stop = new Set(options.stopTokens ?? []);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rng = new Rng(seed);
  const signal = options.signal ?? host().abortSignal();
  const useCache = options.useCache ?? true;
  const ctx = cfg.contextLength;

  const seq = promptIds.slice();
  const ids: number[] = [];
  const logprobs: number[] = [];
  let stoppedBy: StopReason = "maxNewTokens";
  let cache = useCache ? model.newCache() : undefined;
  try {
    if (maxNew === 0) return { promptIds, ids, logprobs, seed, stoppedBy };
    let logits = await lastLogits(model, seq.slice(-ctx), cache);
    for (let index = 0; index < maxNew; index++) {
      if (signal?.aborted) {
        stoppedBy = "aborted";
        break;
      }
      const id = chooseToken(logits, options, rng);
      const logprob = logSoftmaxAt(logits, id);
      seq.push(id);
      ids.push(id);
      logprobs.push(logprob);
      if (options.onToken) {
        const verdict = await options.onToken(id, { index, logprob });
        if (verdict === false) {
          stoppedBy = "callback";
          break;
        }
      }
      if (stop.has(id)) {
        stoppedBy = "stopToken";
        break;
      }
      if (index === maxNew - 1) break;
      // Let an interrupt (or other I/O) land between tokens.
      await new Promise((resolve) => setImmediate(resolve));
      if (cache && cache.length < ctx) {
        logits = await lastLogits(model, [id], cache);
      } else {
        if (cache) {
          cache.dispose();
          cache = model.newCache();
        }
        logits = await lastLogits(model, seq.slice(-ctx), cache);
      }
    }
  } finally {
    cache?.dispose();
  }
  return { promptIds, ids, logprobs, seed, stoppedBy };
}
