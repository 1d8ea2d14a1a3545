/**
 * Pretrains the character-level GPT that every notebook preloads: a small
 * GPT-2-layout Transformer trained on tiny Shakespeare (nanoGPT's
 * shakespeare_char setting), saved in the Hugging Face GPT-2 layout.
 *
 *     npm run pretrain                      # train into build/pretrain/
 *     npm run pretrain -- --resume          # continue an interrupted run
 *     npm run pretrain -- --resume --publish   # copy the finished model into datasets/shakespeare-char/
 *
 * Seeded (same seed → same initial weights and the same batches), resumable
 * (checkpoint, optimizer moments, step and batch-sampler position are saved
 * every `--checkpoint-every` steps and on Ctrl-C; `--resume` continues exactly
 * where the run stopped) and measured with a deterministic evaluation: the mean
 * next-character loss over ALL non-overlapping windows of a split
 * ({@link heldOutLoss}).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as crypto from "node:crypto";
import { parseArgs as parseCliArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend, device } from "../lib/backend";
import { GPT, GPTConfig } from "../lib/model";
import { AdamW, BatchSampler, splitTrainVal, train } from "../lib/train";
import { estimateLoss } from "../lib/eval";
import { loadCheckpoint, loadOptimizerState, saveModel, CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, OPTIMIZER_FILE } from "../lib/io";
import { CharTokenizer } from "../lib/tokenizer";
import { progress } from "../lib/viz/progress";

/** The repository root (this file runs from dist/scripts/). */
export const ROOT = path.resolve(__dirname, "..", "..");
/** Where the committed, preloaded model lives. */
export const PUBLISHED_DIR = path.join(ROOT, "datasets", "shakespeare-char");
/** The run's state next to its checkpoint: step, sampler position, losses, timings. */
export const TRAINING_FILE = "training.json";

/** Everything a run is made of. Defaults: {@link DEFAULTS}. */
export interface PretrainOptions {
  /** Text file to train on (its characters make the vocabulary). */
  data: string;
  /** Folder of the run: checkpoint, optimizer state, training.json. */
  out: string;
  /** Total optimizer steps of the run. */
  steps: number;
  /** Sequences per step. */
  batchSize: number;
  /** Characters per sequence, and the model's context length. */
  context: number;
  /** Transformer blocks. */
  layers: number;
  /** Attention heads per block. */
  heads: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Dropout while training. */
  dropout: number;
  /** Peak learning rate (after warmup; cosine decay to minLr at the last step). */
  lr: number;
  /** Final learning rate. */
  minLr: number;
  /** Linear warmup steps. */
  warmup: number;
  /** AdamW decoupled weight decay of matrices and embeddings. */
  weightDecay: number;
  /** Seed of the initial weights and of the batch order. */
  seed: number;
  /** Log a line every this many steps (0: never). */
  logEvery: number;
  /** Estimate train/val loss on a few fixed batches every this many steps (0: never). */
  evalEvery: number;
  /** Save a resumable checkpoint every this many steps (0: only on interrupt and at the end). */
  checkpointEvery: number;
  /** Stop (with a checkpoint) after this step, as if interrupted (0: run to the end). */
  stopAt: number;
  /** Continue the run saved in `out`. */
  resume: boolean;
  /** Start a new run in `out` even if it holds one. */
  overwrite: boolean;
  /** When the run is complete, copy the model into `publishDir`. */
  publish: boolean;
  /** Target of `publish`. */
  publishDir: string;
  /** Publish even if the model there measured a lower validation loss. */
  force: boolean;
  /** Windows of each split for the final loss (0: all of them). */
  finalEvalWindows: number;
  /** No progress bar (log lines still print). */
  quiet: boolean;
}

/** The recipe behind the committed model (datasets/shakespeare-char). */
export const DEFAULTS: Readonly<PretrainOptions> = Object.freeze({
  data: path.join(ROOT, "datasets", "tinyshakespeare.txt"),
  out: path.join(ROOT, "build", "pretrain"),
  steps: 2000,
  batchSize: 32,
  context: 128,
  layers: 4,
  heads: 4,
  dModel: 128,
  dropout: 0,
  lr: 2e-3,
  minLr: 2e-4,
  warmup: 100,
  weightDecay: 0.1,
  seed: 1337,
  logEvery: 100,
  evalEvery: 250,
  checkpointEvery: 250,
  stopAt: 0,
  resume: false,
  overwrite: false,
  publish: false,
  publishDir: PUBLISHED_DIR,
  force: false,
  finalEvalWindows: 0,
  quiet: false,
});

/** Options that define the model and the optimisation; a resumed run must keep them. */
const RECIPE_KEYS = ["batchSize", "context", "layers", "heads", "dModel", "dropout", "lr", "minLr", "warmup", "weightDecay", "seed"] as const;

const HELP = `Pretrain llmlab's character-level GPT (the model notebooks preload).

Usage: npm run pretrain -- [options]

Run:
  --out DIR              run folder: checkpoint, optimizer state, training.json (default build/pretrain)
  --data FILE            training text; its sorted characters are the vocabulary (default datasets/tinyshakespeare.txt)
  --resume               continue the run in --out from its last checkpoint (same batches as an uninterrupted run)
  --overwrite            start afresh in --out even if it holds a run
  --stop-at N            stop after step N with a checkpoint, as if interrupted (resume later with --resume)
  --publish              when the run is complete, copy the model into --publish-dir
  --publish-dir DIR      default datasets/shakespeare-char
  --force                publish even if the model there measured a lower validation loss
Recipe (defaults reproduce the committed model):
  --steps N              total optimizer steps (default ${DEFAULTS.steps}); may be changed on --resume
  --batch-size B         sequences per step (default ${DEFAULTS.batchSize})
  --context T            characters per sequence = model context (default ${DEFAULTS.context})
  --layers L --heads H --d-model D   model size (default ${DEFAULTS.layers}, ${DEFAULTS.heads}, ${DEFAULTS.dModel})
  --dropout P            (default ${DEFAULTS.dropout})
  --lr LR --min-lr LR    peak and final learning rate of the cosine schedule (default ${DEFAULTS.lr}, ${DEFAULTS.minLr})
  --warmup N             linear warmup steps (default ${DEFAULTS.warmup})
  --weight-decay W       AdamW weight decay (default ${DEFAULTS.weightDecay})
  --seed S               seed of the initial weights and the batch order (default ${DEFAULTS.seed})
Reporting:
  --log-every N          a log line every N steps (default ${DEFAULTS.logEvery})
  --eval-every N         estimate train/val loss every N steps (default ${DEFAULTS.evalEvery})
  --checkpoint-every N   save a resumable checkpoint every N steps (default ${DEFAULTS.checkpointEvery})
  --final-eval-windows N final loss over the first N windows of each split (default 0: all)
  --quiet                no progress bar
Ctrl-C stops at the end of the current step and saves a checkpoint. LLMLAB_BACKEND=wasm|cpu|... picks the backend.`;

function fail(message: string): never {
  throw new Error(`pretrain: ${message}`);
}

function intOption(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(v) || v < min) fail(`--${name} must be an integer ≥ ${min}, got '${raw}'`);
  return v;
}

function numberOption(name: string, raw: string | undefined, fallback: number, ok: (v: number) => boolean, what: string): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v) || !ok(v)) fail(`--${name} must be ${what}, got '${raw}'`);
  return v;
}

/**
 * Options from command-line arguments (`process.argv.slice(2)`); unknown or
 * malformed options throw an error naming them. Returns null for `--help`.
 * Also returns which recipe options were given explicitly (a resumed run
 * checks those against its saved recipe).
 */
export function parseArgs(argv: string[]): { options: PretrainOptions; given: Set<string> } | null {
  const spec = {
    out: { type: "string" },
    data: { type: "string" },
    steps: { type: "string" },
    "batch-size": { type: "string" },
    context: { type: "string" },
    layers: { type: "string" },
    heads: { type: "string" },
    "d-model": { type: "string" },
    dropout: { type: "string" },
    lr: { type: "string" },
    "min-lr": { type: "string" },
    warmup: { type: "string" },
    "weight-decay": { type: "string" },
    seed: { type: "string" },
    "log-every": { type: "string" },
    "eval-every": { type: "string" },
    "checkpoint-every": { type: "string" },
    "stop-at": { type: "string" },
    "final-eval-windows": { type: "string" },
    resume: { type: "boolean" },
    overwrite: { type: "boolean" },
    publish: { type: "boolean" },
    "publish-dir": { type: "string" },
    force: { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseCliArgs({ args: argv, options: spec, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    fail(`${(e as Error).message} (see --help)`);
  }
  if (values.help) return null;
  const s = (k: string) => values[k] as string | undefined;
  const d = DEFAULTS;
  const lr = numberOption("lr", s("lr"), d.lr, (v) => v > 0, "a number > 0");
  const options: PretrainOptions = {
    data: s("data") !== undefined ? path.resolve(s("data")!) : d.data,
    out: s("out") !== undefined ? path.resolve(s("out")!) : d.out,
    steps: intOption("steps", s("steps"), d.steps, 1),
    batchSize: intOption("batch-size", s("batch-size"), d.batchSize, 1),
    context: intOption("context", s("context"), d.context, 1),
    layers: intOption("layers", s("layers"), d.layers, 1),
    heads: intOption("heads", s("heads"), d.heads, 1),
    dModel: intOption("d-model", s("d-model"), d.dModel, 1),
    dropout: numberOption("dropout", s("dropout"), d.dropout, (v) => v >= 0 && v < 1, "a number in [0, 1)"),
    lr,
    // The default floor follows the peak (lr/10, nanoGPT's) unless given.
    minLr: numberOption("min-lr", s("min-lr"), s("lr") !== undefined ? lr / 10 : d.minLr, (v) => v >= 0 && v <= lr, `a number in [0, lr = ${lr}]`),
    warmup: intOption("warmup", s("warmup"), d.warmup, 0),
    weightDecay: numberOption("weight-decay", s("weight-decay"), d.weightDecay, (v) => v >= 0, "a number ≥ 0"),
    seed: intOption("seed", s("seed"), d.seed, 0),
    logEvery: intOption("log-every", s("log-every"), d.logEvery, 0),
    evalEvery: intOption("eval-every", s("eval-every"), d.evalEvery, 0),
    checkpointEvery: intOption("checkpoint-every", s("checkpoint-every"), d.checkpointEvery, 0),
    stopAt: intOption("stop-at", s("stop-at"), d.stopAt, 0),
    finalEvalWindows: intOption("final-eval-windows", s("final-eval-windows"), d.finalEvalWindows, 0),
    resume: Boolean(values.resume),
    overwrite: Boolean(values.overwrite),
    publish: Boolean(values.publish),
    publishDir: s("publish-dir") !== undefined ? path.resolve(s("publish-dir")!) : d.publishDir,
    force: Boolean(values.force),
    quiet: Boolean(values.quiet),
  };
  if (options.dModel % options.heads !== 0) fail(`--heads (${options.heads}) must divide --d-model (${options.dModel})`);
  if (options.resume && options.overwrite) fail("--resume and --overwrite contradict each other");
  const given = new Set<string>();
  const flag: Record<string, string> = { batchSize: "batch-size", dModel: "d-model", minLr: "min-lr", weightDecay: "weight-decay" };
  for (const key of [...RECIPE_KEYS, "steps", "data"]) if (values[flag[key] ?? key] !== undefined) given.add(key);
  return { options, given };
}

/** What {@link heldOutLoss} measured. */
export interface HeldOutLoss {
  /** Mean cross-entropy in nats per predicted token. */
  loss: number;
  /** Windows evaluated. */
  windows: number;
  /** Tokens predicted (windows × contextLength). */
  tokens: number;
}

/**
 * The deterministic evaluation: mean next-token cross-entropy of `model` over
 * consecutive, non-overlapping windows of `tokens` — window i reads
 * `tokens[i·T, (i+1)·T)` and predicts `tokens[i·T+1, (i+1)·T+1)` — in
 * inference mode. Every window (or the first `maxWindows`) counts once, so
 * the number needs no seed and never varies between runs; each position 0..T-1
 * is weighted equally, as in nanoGPT's random-window estimate.
 */
export async function heldOutLoss(
  model: GPT,
  tokens: ArrayLike<number>,
  options: { contextLength?: number; batchSize?: number; maxWindows?: number } = {},
): Promise<HeldOutLoss> {
  const t = options.contextLength ?? model.config.contextLength;
  if (!(Number.isInteger(t) && t >= 1 && t <= model.config.contextLength)) {
    fail(`heldOutLoss: contextLength must be an integer in [1, ${model.config.contextLength}], got ${t}`);
  }
  const batchSize = options.batchSize ?? 32;
  let windows = Math.floor((tokens.length - 1) / t);
  if (options.maxWindows) windows = Math.min(windows, options.maxWindows);
  if (windows < 1) fail(`heldOutLoss: need at least ${t + 1} tokens for one window of ${t}, got ${tokens.length}`);
  let total = 0;
  for (let first = 0; first < windows; first += batchSize) {
    const b = Math.min(batchSize, windows - first);
    const x = new Int32Array(b * t);
    const y = new Int32Array(b * t);
    for (let w = 0; w < b; w++) {
      const start = (first + w) * t;
      for (let j = 0; j < t; j++) {
        x[w * t + j] = tokens[start + j];
        y[w * t + j] = tokens[start + j + 1];
      }
    }
    const xs = tf.tensor2d(x, [b, t], "int32");
    const ys = tf.tensor2d(y, [b, t], "int32");
    const loss = model.loss(xs, ys);
    total += (await loss.data())[0] * b; // a batch's mean, weighted by its windows
    tf.dispose([xs, ys, loss]);
  }
  return { loss: total / windows, windows, tokens: windows * t };
}

/** The state saved in `training.json` beside each checkpoint. */
export interface TrainingState {
  /** "running" while checkpoints are intermediate, "complete" after the last step and final evaluation. */
  status: "running" | "complete";
  /** Optimizer steps done. */
  step: number;
  /** Total steps planned. */
  steps: number;
  /** The recipe (see {@link PretrainOptions}). */
  recipe: Pick<PretrainOptions, (typeof RECIPE_KEYS)[number]>;
  /** Seed of the batch sampler, and how many batches it has drawn: together its exact RNG state. */
  sampler: { seed: number; batchesDrawn: number };
  /** The training text: file name, path (relative to the repository), bytes, md5, characters. */
  data: { file: string; path: string; bytes: number; md5: string; chars: number; vocabSize: number; trainTokens: number; valTokens: number; split: string };
  /** Characters (tokens) trained on so far. */
  tokensSeen: number;
  /** Seconds spent in training steps so far, over all sessions. */
  trainSeconds: number;
  /** Periodic estimates. */
  evals: { step: number; trainLoss: number; valLoss: number }[];
  /** Final deterministic losses (when complete). */
  final?: { trainLoss: number; valLoss: number; trainWindows: number; valWindows: number; evaluation: string; evalSeconds: number };
  /** Where it ran. */
  device: string;
  backend: string;
  /** Each session's command line. */
  commands: string[];
  /** The command that reproduces the run from scratch. */
  reproduce: string;
  /** Parameters of the model. */
  parameters: number;
  llmlabVersion: string;
  nodeVersion: string;
  updated: string;
}

/** What {@link pretrain} returns. */
export interface PretrainResult {
  /** "complete", or "stopped" by Ctrl-C / `stopAt` (a checkpoint was saved). */
  outcome: "complete" | "stopped";
  state: TrainingState;
  /** The folder the model was published to, if it was. */
  published?: string;
}

/** Hooks for callers (the CLI passes Ctrl-C's signal; tests pass nothing). */
export interface PretrainHooks {
  /** Stop at the next step boundary (a checkpoint is saved) when this fires. */
  signal?: AbortSignal;
  /** Where log lines go (default console.log). */
  log?: (line: string) => void;
}

/** Where training runs, without the moment's tensor counts: "Intel Xeon (2 cores) · SIMD · 2 threads". */
function deviceDescription(info: ReturnType<typeof device>): string {
  return `${info.deviceName} · ${info.simd ? "SIMD" : "no SIMD"} · ${info.threads} thread${info.threads === 1 ? "" : "s"}`;
}

/** Print a line, first clearing a progress bar drawn on the same terminal. */
function logLine(line: string): void {
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[2K");
  console.log(line);
}

function md5(bytes: Uint8Array): string {
  return crypto.createHash("md5").update(bytes).digest("hex");
}

function readState(dir: string): TrainingState | undefined {
  const file = path.join(dir, TRAINING_FILE);
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as TrainingState;
  } catch (e) {
    fail(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The explicit command line that reproduces a run from scratch. */
function reproduceCommand(o: PretrainOptions, steps: number): string {
  const rel = (p: string) => path.relative(ROOT, p) || ".";
  const parts = [
    `--data ${rel(o.data)}`, `--steps ${steps}`, `--batch-size ${o.batchSize}`, `--context ${o.context}`,
    `--layers ${o.layers}`, `--heads ${o.heads}`, `--d-model ${o.dModel}`, `--dropout ${o.dropout}`,
    `--lr ${o.lr}`, `--min-lr ${o.minLr}`, `--warmup ${o.warmup}`, `--weight-decay ${o.weightDecay}`, `--seed ${o.seed}`,
  ];
  return `npm run pretrain -- ${parts.join(" ")}`;
}

/**
 * Write a checkpoint atomically enough for Ctrl-C: into a scratch folder, then
 * each file renamed over the old one, training.json last (it names the step the
 * other files hold).
 */
async function writeCheckpoint(dir: string, model: GPT, tokenizer: CharTokenizer, optimizer: AdamW | undefined, state: TrainingState): Promise<void> {
  const scratch = path.join(dir, ".checkpoint-tmp");
  fs.rmSync(scratch, { recursive: true, force: true });
  await saveModel(model, scratch, { tokenizer, chars: [...tokenizer.chars], metadata: metadataOf(state), optimizer });
  fs.writeFileSync(path.join(scratch, TRAINING_FILE), JSON.stringify(state, null, 2) + "\n");
  for (const file of [WEIGHTS_FILE, TOKENIZER_FILE, OPTIMIZER_FILE, CONFIG_FILE, TRAINING_FILE]) {
    if (fs.existsSync(path.join(scratch, file))) fs.renameSync(path.join(scratch, file), path.join(dir, file));
  }
  fs.rmSync(scratch, { recursive: true, force: true });
}

/** The metadata stored in config.json's `llmlab.metadata` (what the kernel banner and notebooks read). */
function metadataOf(s: TrainingState): Record<string, unknown> {
  const r = s.recipe;
  return {
    dataset: s.data.file,
    dataset_md5: s.data.md5,
    split: s.data.split,
    status: s.status,
    steps: s.step,
    batch_size: r.batchSize,
    context_length: r.context,
    tokens_seen: s.tokensSeen,
    lr: r.lr,
    min_lr: r.minLr,
    warmup_steps: r.warmup,
    weight_decay: r.weightDecay,
    dropout: r.dropout,
    seed: r.seed,
    parameters: s.parameters,
    train_loss: s.final?.trainLoss ?? null,
    val_loss: s.final?.valLoss ?? null,
    evaluation: s.final?.evaluation ?? null,
    wall_time_s: Math.round(s.trainSeconds * 10) / 10,
    ms_per_step: s.step ? Math.round((s.trainSeconds / s.step) * 1e4) / 10 : null,
    device: s.device,
    backend: s.backend,
    command: s.reproduce,
    llmlab_version: s.llmlabVersion,
    date: s.updated,
  };
}

/**
 * Run (or continue) a pretraining run as `options` says: train with AdamW and
 * a warmup + cosine schedule, checkpoint periodically, stop cleanly on the
 * signal, and when all steps are done measure the final train and val losses
 * with {@link heldOutLoss} and optionally publish the model.
 */
export async function pretrain(options: PretrainOptions, hooks: PretrainHooks = {}, given: Set<string> = new Set()): Promise<PretrainResult> {
  const log = hooks.log ?? logLine;
  const o = { ...options };
  const out = o.out;
  const previous = readState(out);
  if (o.resume && !previous) fail(`--resume: no run to continue in ${out} (no ${TRAINING_FILE})`);
  if (!o.resume && previous && !o.overwrite) {
    fail(`${out} already holds a run (step ${previous.step} of ${previous.steps}); pass --resume to continue it, --overwrite to start afresh, or another --out`);
  }
  if (previous && o.resume) {
    // The recipe comes from the saved run; an explicit, different value is a mistake.
    for (const key of RECIPE_KEYS) {
      if (given.has(key) && o[key] !== previous.recipe[key]) {
        fail(`--resume: the run in ${out} used ${key} = ${previous.recipe[key]}, not ${o[key]}; resume without it or start a new run`);
      }
      (o as any)[key] = previous.recipe[key];
    }
    if (!given.has("steps")) o.steps = previous.steps;
    if (!given.has("data") && previous.data.path) o.data = path.resolve(ROOT, previous.data.path);
    if (o.steps < previous.step) fail(`--steps ${o.steps} is below the ${previous.step} steps the run in ${out} has done`);
  }

  if (!fs.existsSync(o.data)) fail(`no training text at ${o.data}`);
  const bytes = fs.readFileSync(o.data);
  const text = bytes.toString("utf8");
  const dataMd5 = md5(bytes);
  if (previous && o.resume && previous.data.md5 !== dataMd5) {
    fail(`--resume: ${o.data} (md5 ${dataMd5}) is not the text the run was trained on (${previous.data.file}, md5 ${previous.data.md5})`);
  }
  const tokenizer = CharTokenizer.fromText(text);
  tokenizer.name = `char-${path.basename(o.data).replace(/\.[^.]*$/, "")}`;
  const { train: trainTokens, val: valTokens } = splitTrainVal(tokenizer.encode(text), 0.9);
  if (valTokens.length < o.context + 1 || trainTokens.length < o.context + 1) {
    fail(`${o.data} is too short: a 90/10 split of ${text.length} characters leaves fewer than context + 1 = ${o.context + 1} in a split`);
  }

  const info = await initBackend();
  const config: Partial<GPTConfig> = {
    vocabSize: tokenizer.vocabSize, contextLength: o.context, dModel: o.dModel, nLayer: o.layers, nHead: o.heads,
    dropout: o.dropout, positional: "learned", norm: "layernorm", activation: "gelu", bias: true, tiedEmbeddings: true,
  };
  let model: GPT;
  let optimizer: AdamW | undefined;
  let state: TrainingState;
  const optimizerFor = (m: GPT) => new AdamW(m.params, { lr: o.lr, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: o.weightDecay });
  const command = `npm run pretrain -- ${process.argv.slice(2).join(" ")}`.trim();
  if (previous && o.resume) {
    const ckpt = await loadCheckpoint(out);
    model = ckpt.model;
    if (model.config.vocabSize !== tokenizer.vocabSize) fail(`--resume: the checkpoint's vocabulary (${model.config.vocabSize}) differs from ${o.data}'s (${tokenizer.vocabSize})`);
    state = { ...previous, steps: o.steps, commands: [...previous.commands, command], reproduce: reproduceCommand(o, o.steps) };
    if (previous.step < o.steps) {
      optimizer = optimizerFor(model);
      loadOptimizerState(out, optimizer);
      if (optimizer.stepCount !== previous.step) fail(`${out}: optimizer state is at step ${optimizer.stepCount}, training.json at ${previous.step}`);
      state.status = "running";
      state.final = undefined;
    }
    log(`resuming ${out} at step ${previous.step} of ${o.steps}`);
  } else {
    fs.mkdirSync(out, { recursive: true });
    for (const f of [TRAINING_FILE, OPTIMIZER_FILE]) fs.rmSync(path.join(out, f), { force: true });
    model = new GPT(config, { seed: o.seed });
    optimizer = optimizerFor(model);
    state = {
      status: "running",
      step: 0,
      steps: o.steps,
      recipe: Object.fromEntries(RECIPE_KEYS.map((k) => [k, o[k]])) as TrainingState["recipe"],
      // A stream of its own, so batch positions do not echo the initial weights' draws.
      sampler: { seed: o.seed + 1, batchesDrawn: 0 },
      data: {
        file: path.basename(o.data), path: path.relative(ROOT, o.data), bytes: bytes.length, md5: dataMd5, chars: trainTokens.length + valTokens.length,
        vocabSize: tokenizer.vocabSize, trainTokens: trainTokens.length, valTokens: valTokens.length,
        split: "first 90% of the characters train, last 10% validation",
      },
      tokensSeen: 0,
      trainSeconds: 0,
      evals: [],
      device: deviceDescription(info),
      backend: info.backend + (info.blas ? ` (${info.blas})` : ""),
      commands: [command],
      reproduce: reproduceCommand(o, o.steps),
      parameters: model.paramCount(),
      llmlabVersion: JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version,
      nodeVersion: process.version,
      updated: new Date().toISOString(),
    };
  }
  log(`${model.toString()} on ${String(info)}`);

  let outcome: "complete" | "stopped" = "complete";
  if (state.step < o.steps) {
    const sampler = new BatchSampler(trainTokens, { batchSize: o.batchSize, contextLength: o.context, seed: state.sampler.seed });
    // Replaying the draws restores the sampler's RNG exactly: the resumed run sees the batches an uninterrupted one would.
    for (let i = 0; i < state.sampler.batchesDrawn; i++) sampler.nextStarts();
    const nextBatch = () => {
      state.sampler.batchesDrawn++;
      return sampler.next();
    };
    const endStep = o.stopAt > state.step && o.stopAt < o.steps ? o.stopAt : o.steps;
    const stop = new AbortController();
    const onOuterAbort = () => stop.abort();
    hooks.signal?.addEventListener("abort", onOuterAbort);
    const startStep = state.step;
    const bar = progress(endStep - startStep, { label: "pretrain", unit: "step", disable: o.quiet });
    let lastStepEnd = performance.now();
    const save = async () => {
      state.updated = new Date().toISOString();
      await writeCheckpoint(out, model, tokenizer, optimizer, state);
    };
    try {
      const result = await train({
        model,
        steps: endStep - startStep,
        batches: nextBatch,
        batchSize: o.batchSize,
        contextLength: o.context,
        optimizer,
        lr: o.lr,
        minLr: o.minLr,
        warmupSteps: o.warmup,
        decaySteps: o.steps,
        gradClip: 1,
        seed: o.seed,
        signal: stop.signal,
        progress: false,
        onStep: async (m) => {
          const now = performance.now();
          state.trainSeconds += (now - lastStepEnd) / 1000;
          state.step = m.step;
          state.tokensSeen += o.batchSize * o.context;
          bar.update(m.step - startStep, { step: m.step, loss: m.loss, lr: m.lr });
          if (o.logEvery && m.step % o.logEvery === 0) {
            log(`step ${m.step}/${o.steps}: loss ${m.loss.toFixed(4)}, lr ${m.lr.toExponential(2)}, ${Math.round(m.tokensPerSec)} tok/s`);
          }
          if (o.evalEvery && m.step % o.evalEvery === 0) {
            // A quick, fixed-seed estimate (the final number uses every window).
            const common = { batches: 8, batchSize: 32, contextLength: o.context, seed: 1234 };
            const e = { step: m.step, trainLoss: await estimateLoss(model, trainTokens, common), valLoss: await estimateLoss(model, valTokens, common) };
            state.evals.push(e);
            bar.update(m.step - startStep, { val: e.valLoss });
            log(`step ${m.step}: train ${e.trainLoss.toFixed(4)}, val ${e.valLoss.toFixed(4)} (estimate over 8×32 windows)`);
          }
          if (o.checkpointEvery && m.step % o.checkpointEvery === 0 && m.step < o.steps) await save();
          lastStepEnd = performance.now();
        },
      });
      if (result.stoppedBy === "aborted" || state.step < o.steps) outcome = "stopped";
    } finally {
      hooks.signal?.removeEventListener("abort", onOuterAbort);
      bar.close(outcome === "stopped" ? { stopped: state.step < o.steps ? `at step ${state.step}` : undefined } : undefined);
    }
    if (outcome === "stopped") {
      await save();
      log(`stopped at step ${state.step} of ${o.steps}; checkpoint saved in ${out}. Continue with: npm run pretrain -- --resume --out ${path.relative(process.cwd(), out) || "."}`);
    }
  }

  if (outcome === "complete" && state.status !== "complete") {
    log(`evaluating on every ${o.context}-character window of each split...`);
    const t0 = performance.now();
    const maxWindows = o.finalEvalWindows || undefined;
    const val = await heldOutLoss(model, valTokens, { contextLength: o.context, maxWindows });
    const tr = await heldOutLoss(model, trainTokens, { contextLength: o.context, maxWindows });
    state.status = "complete";
    state.final = {
      trainLoss: tr.loss,
      valLoss: val.loss,
      trainWindows: tr.windows,
      valWindows: val.windows,
      evaluation:
        `mean cross-entropy (nats/char) over ${maxWindows ? `the first ${maxWindows}` : "all"} non-overlapping ` +
        `${o.context}-character windows of each split`,
      evalSeconds: (performance.now() - t0) / 1000,
    };
    state.updated = new Date().toISOString();
    await writeCheckpoint(out, model, tokenizer, optimizer, state);
    log(`done: ${state.step} steps, ${state.tokensSeen.toLocaleString("en")} tokens, ${state.trainSeconds.toFixed(0)} s ` +
      `(${((state.trainSeconds / state.step) * 1000).toFixed(0)} ms/step); train loss ${tr.loss.toFixed(4)}, val loss ${val.loss.toFixed(4)}`);
    const sample = await model.generate(tokenizer.encode("\n"), { maxNewTokens: 200, temperature: 0.8, seed: 42 });
    log(`sample:\n${tokenizer.decode(sample.ids)}`);
  }
  optimizer?.dispose();
  model.dispose();

  let published: string | undefined;
  if (o.publish) {
    if (state.status !== "complete") log(`not publishing: the run stopped at step ${state.step} of ${o.steps}`);
    else published = publish(out, o.publishDir, o.force, log);
  } else if (state.status === "complete") {
    log(`model saved in ${out}; to make it the preloaded model: npm run pretrain -- --resume --out ${path.relative(process.cwd(), out) || "."} --publish`);
  }
  return { outcome, state, published };
}

/**
 * Copy a complete run's model (config.json, model.safetensors, tokenizer.json,
 * training.json — not the optimizer state) into `dir`. Refuses to replace a
 * model that measured a lower validation loss unless `force`.
 */
export function publish(runDir: string, dir: string, force = false, log: (line: string) => void = console.log): string {
  const state = readState(runDir);
  if (!state || state.status !== "complete" || !state.final) fail(`${runDir} holds no complete run to publish`);
  const existing = readState(dir);
  if (existing?.final && existing.final.valLoss < state.final.valLoss && !force) {
    fail(`${dir} holds a better model (val loss ${existing.final.valLoss.toFixed(4)} < ${state.final.valLoss.toFixed(4)}); pass --force to replace it`);
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const file of [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TRAINING_FILE]) fs.copyFileSync(path.join(runDir, file), path.join(dir, file));
  log(`published to ${dir} (val loss ${state.final.valLoss.toFixed(4)})`);
  return dir;
}

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  if (!parsed) {
    console.log(HELP);
    return;
  }
  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) {
      process.stderr.write("\nquitting without a checkpoint\n");
      process.exit(130);
    }
    process.stderr.write("\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n");
    stop.abort();
  };
  process.on("SIGINT", onSigint);
  const result = await pretrain(parsed.options, { signal: stop.signal }, parsed.given);
  process.off("SIGINT", onSigint);
  if (result.outcome === "stopped" && stop.signal.aborted) process.exitCode = 130;
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
