/**
 * The committed pretrained model (datasets/shakespeare-char) and the script
 * that makes it (scripts/pretrain.ts, `npm run pretrain`).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { initBackend } from "../lib/backend";
import { loadCheckpoint, isGpt2Compatible, readSafetensors, type Checkpoint } from "../lib/io";
import { CharTokenizer } from "../lib/tokenizer";
import { splitTrainVal } from "../lib/train";
import { heldOutLoss, PUBLISHED_DIR, ROOT, TRAINING_FILE } from "../scripts/pretrain";

const SCRIPT = path.join(ROOT, "dist", "scripts", "pretrain.js");
const CORPUS = path.join(ROOT, "datasets", "tinyshakespeare.txt");
const FIXTURE_SCRIPT = path.join(ROOT, "tests", "fixtures", "make_gpt2_fixture.py");
const text = fs.readFileSync(CORPUS, "utf8");

const made: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-pretrain-"));
  made.push(d);
  return d;
}
let ckpt: Checkpoint | undefined;
before(async () => {
  await initBackend();
});
after(() => {
  ckpt?.model.dispose();
  made.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

async function published(): Promise<Checkpoint> {
  if (!ckpt) {
    ckpt = await loadCheckpoint(PUBLISHED_DIR);
  }
  return ckpt;
}

test("the committed checkpoint is a GPT-2 char model with nanoGPT's vocabulary", async () => {
  const { model, tokenizer, hfConfig, metadata } = await published();
  assert.equal(hfConfig.model_type, "gpt2");
  assert.deepEqual(hfConfig.architectures, ["GPT2LMHeadModel"]);
  assert.equal(hfConfig.vocab_size, 65);
  assert.equal(hfConfig.activation_function, "gelu_new");
  assert.ok(isGpt2Compatible(model.config), "learned positions, layernorm, tanh GELU, biases, tied embeddings");
  assert.ok(model.config.contextLength >= 64);
  assert.ok(model.paramCount() <= 1.2e6, `keep it small: ${model.paramCount()} parameters`);
  // The tied head is not stored; every stored tensor is a GPT-2 name.
  const stored = [...readSafetensors(path.join(PUBLISHED_DIR, "model.safetensors")).tensors.keys()];
  assert.ok(!stored.includes("lm_head.weight"));
  assert.ok(stored.every((n) => /^transformer\.(wte|wpe|ln_f|h\.\d+\.(ln_1|ln_2|attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj))\.(weight|bias)$/.test(n)), stored.join(", "));

  assert.ok(tokenizer instanceof CharTokenizer, "tokenizer.json holds a character tokenizer");
  const tok = tokenizer as CharTokenizer;
  assert.equal(tok.vocabSize, 65);
  assert.deepEqual(tok.encode("\n"), [0]);
  assert.deepEqual(tok.encode(" "), [1]);
  assert.deepEqual([...tok.chars], [...new Set(text)].sort(), "ids are the sorted set of the corpus's characters");
  assert.equal(tok.decode(tok.encode("First Citizen:\nBefore we proceed")), "First Citizen:\nBefore we proceed");

  // Training metadata, in config.json and training.json.
  for (const key of ["steps", "tokens_seen", "wall_time_s", "ms_per_step", "device", "backend", "train_loss", "val_loss", "seed", "command", "batch_size", "context_length"]) {
    assert.ok(metadata[key] !== undefined && metadata[key] !== null, `metadata.${key}`);
  }
  assert.equal(metadata.dataset_md5, "6fb458f1232090904fb40fe944165e91");
  assert.equal(metadata.tokens_seen, (metadata.steps as number) * (metadata.batch_size as number) * (metadata.context_length as number));
  const state = JSON.parse(fs.readFileSync(path.join(PUBLISHED_DIR, TRAINING_FILE), "utf8"));
  assert.equal(state.status, "complete");
  assert.equal(state.final.valLoss, metadata.val_loss);
  assert.ok(!fs.existsSync(path.join(PUBLISHED_DIR, "optimizer.safetensors")), "the optimizer state stays in the run folder");
});

test("its validation loss, over every non-overlapping window of the last 10%, is ≤ 1.88 and as recorded", async () => {
  const { model, tokenizer, metadata } = await published();
  const { val } = splitTrainVal(tokenizer!.encode(text), 0.9);
  const measured = await heldOutLoss(model, val);
  assert.equal(measured.windows, Math.floor((val.length - 1) / model.config.contextLength));
  assert.ok(measured.loss <= 1.88, `val loss ${measured.loss} > 1.88 (nanoGPT's CPU recipe)`);
  assert.ok(Math.abs(measured.loss - (metadata.val_loss as number)) < 2e-3, `measured ${measured.loss}, recorded ${metadata.val_loss}`);
});

test("heldOutLoss averages every window once, independent of the batch size", async () => {
  const { model, tokenizer } = await published();
  const ids = tokenizer!.encode(text.slice(0, 2000));
  const t = 32;
  const a = await heldOutLoss(model, ids, { contextLength: t, batchSize: 7 });
  const b = await heldOutLoss(model, ids, { contextLength: t, batchSize: 64 });
  assert.equal(a.windows, Math.floor((ids.length - 1) / t));
  assert.ok(Math.abs(a.loss - b.loss) < 1e-5);
  // By hand: window by window.
  let sum = 0;
  for (let w = 0; w < a.windows; w++) {
    const x = ids.slice(w * t, w * t + t);
    const y = ids.slice(w * t + 1, w * t + t + 1);
    const loss = model.loss([x], [y]);
    sum += loss.dataSync()[0];
    loss.dispose();
  }
  assert.ok(Math.abs(a.loss - sum / a.windows) < 1e-5);
  await assert.rejects(heldOutLoss(model, ids.slice(0, 10), { contextLength: 32 }), /need at least 33 tokens/);
});

test("generation from it is seeded and reads like Shakespeare", async () => {
  const { model, tokenizer } = await published();
  const prompt = tokenizer!.encode("ROMEO:\n");
  const options = { maxNewTokens: 300, temperature: 0.8, seed: 11 };
  const first = await model.generate(prompt, options);
  const again = await model.generate(prompt, options);
  assert.deepEqual(first.ids, again.ids, "same seed, same text");
  const other = await model.generate(prompt, { ...options, seed: 12 });
  assert.notDeepEqual(first.ids, other.ids);
  assert.equal(first.ids.length, 300);
  assert.ok(first.ids.every((id) => Number.isInteger(id) && id >= 0 && id < 65));
  const sample = tokenizer!.decode(first.ids);
  // Most generated words are real words of the corpus (a random or untrained model fails this).
  const corpusWords = new Set(text.toLowerCase().match(/[a-z']+/g));
  const words = sample.toLowerCase().match(/[a-z']+/g) ?? [];
  assert.ok(words.length >= 30, sample);
  const known = words.filter((w) => corpusWords.has(w)).length / words.length;
  assert.ok(known >= 0.7, `only ${(known * 100).toFixed(0)}% of the words are Shakespeare's:\n${sample}`);
  assert.match(sample, /\n/);
});

function torchAvailable(): boolean {
  return spawnSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore", timeout: 60000 }).status === 0;
}

test("it loads in the independent PyTorch GPT-2 with the same logits", { skip: !torchAvailable() && "/usr/bin/python3 cannot import torch" }, async () => {
  const { model, tokenizer } = await published();
  const rows = ["First Citizen:\nBefore we proceed any further, hear me speak.", "KING RICHARD III:\nNow is the winter of our discontent!"].map((s) =>
    tokenizer!.encode(s).slice(0, 40),
  );
  const out = execFileSync("/usr/bin/python3", [FIXTURE_SCRIPT, "--check", PUBLISHED_DIR, "--ids", rows.map((r) => r.join(",")).join(";")], {
    encoding: "utf8",
    timeout: 120000,
  });
  const ref = JSON.parse(out) as { shape: number[]; logits: number[] };
  const logits = model.logits(rows);
  assert.deepEqual(logits.shape, ref.shape);
  const ours = logits.dataSync();
  let maxDiff = 0;
  for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - ref.logits[i]));
  logits.dispose();
  assert.ok(maxDiff < 1e-4, `max |Δlogit| = ${maxDiff}`);
});

// --- the script, on a tiny model and text ---------------------------------------------------------

const smallText = path.join(tmpDir(), "small.txt");
fs.writeFileSync(smallText, text.slice(0, 30000));
const TINY = ["--data", smallText, "--layers", "2", "--heads", "2", "--d-model", "16", "--context", "16", "--batch-size", "4", "--warmup", "2", "--lr", "0.01", "--quiet", "--log-every", "0", "--eval-every", "0"];

function run(args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8", timeout: 180000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const state = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, TRAINING_FILE), "utf8"));

test("pretrain: a tiny run writes a loadable GPT-2 checkpoint with metadata", async () => {
  const out = tmpDir();
  const r = run([...TINY, "--steps", "30", "--out", out, "--eval-every", "15"]);
  assert.equal(r.code, 0, r.stderr);
  const s = state(out);
  assert.equal(s.status, "complete");
  assert.equal(s.step, 30);
  assert.equal(s.tokensSeen, 30 * 4 * 16);
  assert.equal(s.evals.length, 2);
  assert.ok(s.final.valLoss < Math.log(s.data.vocabSize), `it learned something: ${s.final.valLoss}`);
  assert.match(r.stdout, /val loss \d\.\d{4}/);
  const loaded = await loadCheckpoint(out);
  try {
    assert.equal(loaded.hfConfig.model_type, "gpt2");
    assert.equal(loaded.model.config.contextLength, 16);
    assert.deepEqual([...(loaded.tokenizer as CharTokenizer).chars], [...new Set(text.slice(0, 30000))].sort());
    assert.equal(loaded.metadata.steps, 30);
    assert.equal(loaded.metadata.val_loss, s.final.valLoss);
    assert.equal(loaded.optimizerStep, 30);
  } finally {
    loaded.model.dispose();
  }
});

test("pretrain: same seed, same weights; stopping and --resume gives exactly the uninterrupted run", () => {
  const whole = tmpDir();
  const split = tmpDir();
  const reseeded = tmpDir();
  assert.equal(run([...TINY, "--steps", "12", "--out", whole]).code, 0);
  const stopped = run([...TINY, "--steps", "12", "--out", split, "--stop-at", "5", "--checkpoint-every", "2"]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /stopped at step 5 of 12/);
  assert.equal(state(split).step, 5);
  assert.equal(state(split).status, "running");
  const resumed = run(["--out", split, "--resume", "--quiet"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resuming .* at step 5 of 12/);
  assert.equal(state(split).step, 12);
  assert.equal(state(split).sampler.batchesDrawn, 12);
  const weights = (dir: string) => fs.readFileSync(path.join(dir, "model.safetensors"));
  assert.ok(weights(whole).equals(weights(split)), "resumed weights equal the uninterrupted run's");
  assert.equal(state(whole).final.valLoss, state(split).final.valLoss);
  assert.equal(run([...TINY, "--steps", "12", "--out", reseeded, "--seed", "7"]).code, 0);
  assert.ok(!weights(whole).equals(weights(reseeded)), "another seed, other weights");
});

test("pretrain: Ctrl-C saves a checkpoint at a step boundary, and --resume continues the step count", async () => {
  const out = tmpDir();
  const child = spawn(process.execPath, [SCRIPT, ...TINY, "--steps", "100000", "--out", out, "--log-every", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let signalled = false;
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d) => {
    stdout += d;
    if (!signalled && /step 3\/100000/.test(stdout)) {
      signalled = true;
      child.kill("SIGINT");
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopping after this step/);
  const s = state(out);
  assert.ok(s.step >= 3 && s.step < 100000, `stopped at ${s.step}`);
  assert.equal(s.status, "running");
  assert.ok(fs.existsSync(path.join(out, "optimizer.safetensors")));
  const at = s.step;
  const resumed = run(["--out", out, "--resume", "--steps", String(at + 4), "--quiet"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(state(out).step, at + 4);
  assert.equal(state(out).status, "complete");
  const loaded = await loadCheckpoint(out);
  assert.equal(loaded.optimizerStep, at + 4);
  loaded.model.dispose();
});

test("pretrain: refuses to clobber a run, a changed recipe on --resume, and a worse model when publishing", () => {
  const out = tmpDir();
  assert.equal(run([...TINY, "--steps", "3", "--out", out]).code, 0);
  const again = run([...TINY, "--steps", "3", "--out", out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds a run \(step 3 of 3\).*--resume/);
  const changed = run([...TINY, "--steps", "6", "--out", out, "--resume", "--batch-size", "8"]);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /used batchSize = 4, not 8/);
  const otherData = path.join(tmpDir(), "other.txt");
  fs.writeFileSync(otherData, text.slice(50000, 80000));
  const wrongText = run(["--out", out, "--resume", "--data", otherData, "--steps", "6"]);
  assert.equal(wrongText.code, 1);
  assert.match(wrongText.stderr, /is not the text the run was trained on/);
  assert.equal(run(["--resume", "--out", tmpDir()]).code, 1);
  assert.match(run(["--steps", "0"]).stderr, /--steps must be an integer ≥ 1/);
  assert.match(run(["--nonsense"]).stderr, /Unknown option '--nonsense'/);
  assert.match(run(["--heads", "3"]).stderr, /--heads \(3\) must divide --d-model \(128\)/);

  // Publishing: a better model at the target is kept unless --force.
  const target = tmpDir();
  const better = tmpDir();
  assert.equal(run([...TINY, "--steps", "40", "--out", better, "--publish", "--publish-dir", target]).code, 0);
  const betterLoss = state(target).final.valLoss;
  const worse = run(["--out", out, "--resume", "--publish", "--publish-dir", target]);
  assert.equal(worse.code, 1);
  assert.match(worse.stderr, /holds a better model/);
  assert.equal(state(target).final.valLoss, betterLoss);
  const forced = run(["--out", out, "--resume", "--publish", "--publish-dir", target, "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(fs.readdirSync(target).sort(), ["config.json", "model.safetensors", "tokenizer.json", "training.json"]);
  assert.equal(state(target).step, 3);
});

test("pretrain --help lists the options", () => {
  const r = run(["--help"]);
  assert.equal(r.code, 0);
  for (const flag of ["--out", "--steps", "--batch-size", "--context", "--lr", "--seed", "--resume", "--publish"]) assert.ok(r.stdout.includes(flag), flag);
});
