import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { GPT, generate } from "../lib/model";
import { saveModel } from "../lib/io";
import { useBackend } from "../lib/backend";

const ROOT = path.resolve(__dirname, "..", "..");
const CLI = path.join(ROOT, "dist", "kernel", "cli", "generate.js");
const BIN = path.join(ROOT, "bin", "llmlab.js");
const CHARS = "\n !',.?abcdefghijklmnopqrstuvwxyz".split("");

/** Run `llmlab generate ARGS` (through bin/llmlab.js when it exists). */
function cli(args: string[], env: Record<string, string> = {}) {
  const viaBin = fs.existsSync(BIN);
  const argv = viaBin ? [BIN, "generate", ...args] : [CLI, ...args];
  const r = spawnSync(process.execPath, argv, { encoding: "utf8", timeout: 120000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let modelDir: string;
let model: GPT;
const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

test("setup: a small char model saved with its vocabulary", async () => {
  await useBackend("wasm");
  model = new GPT({ vocabSize: CHARS.length, contextLength: 16, dModel: 16, nLayer: 1, nHead: 2 }, { seed: 4 });
  modelDir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-cli-"));
  made.push(modelDir);
  await saveModel(model, modelDir, { chars: CHARS });
});

test("generate --json --temperature 0 prints the greedy ids and their log-probabilities", async () => {
  const r = cli(["--model", modelDir, "--prompt-ids", "3,4,5", "--max-new-tokens", "20", "--temperature", "0", "--json"], { LLMLAB_BACKEND: "cpu" });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, "one JSON object");
  const out = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(out).sort(), ["ids", "logprobs", "prompt_ids"]);
  assert.deepEqual(out.prompt_ids, [3, 4, 5]);
  const ref = await generate(model, [3, 4, 5], { temperature: 0, maxNewTokens: 20 });
  assert.deepEqual(out.ids, ref.ids, "20 tokens, past the 16-token context");
  assert.equal(out.logprobs.length, 20);
  out.logprobs.forEach((lp: number, i: number) => assert.ok(Math.abs(lp - ref.logprobs[i]) < 1e-4));
});

test("generate with a seed reproduces; --prompt uses the model's vocabulary; text streams without --json", () => {
  const args = ["--model", modelDir, "--prompt", "to be", "--max-new-tokens", "12", "--temperature", "0.8", "--top-k", "10", "--top-p", "0.95", "--seed", "7"];
  const a = cli([...args, "--json"]);
  const b = cli([...args, "--json"]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  const out = JSON.parse(a.stdout);
  assert.deepEqual(out.prompt_ids, Array.from("to be").map((c) => CHARS.indexOf(c)));
  assert.equal(out.ids.length, 12);
  const text = cli(args);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, "to be" + out.ids.map((i: number) => CHARS[i]).join("") + "\n");
});

test("generate --prompt uses the model's tokenizer.json", async () => {
  const { CharTokenizer } = await import("../lib/tokenizer");
  const tok = CharTokenizer.fromText("hello world, to be or not to be?\n");
  const m = new GPT({ vocabSize: tok.chars.length, contextLength: 16, dModel: 16, nLayer: 1, nHead: 2 }, { seed: 5 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-cli-tok-"));
  made.push(dir);
  await saveModel(m, dir, { tokenizer: tok });
  assert.ok(fs.existsSync(path.join(dir, "tokenizer.json")));
  const r = cli(["--model", dir, "--prompt", "to be", "--max-new-tokens", "6", "--temperature", "0", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.prompt_ids, tok.encode("to be"));
  const ref = await generate(m, tok.encode("to be"), { temperature: 0, maxNewTokens: 6 });
  assert.deepEqual(out.ids, ref.ids);
  const text = cli(["--model", dir, "--prompt", "to be", "--max-new-tokens", "6", "--temperature", "0"]);
  assert.equal(text.stdout, "to be" + tok.decode(ref.ids) + "\n");
  m.dispose();
});

test("generate stops at --stop-ids and works on a GPT-2 checkpoint from PyTorch", () => {
  const fixture = path.join(ROOT, "tests", "fixtures", "gpt2-tiny");
  const first = JSON.parse(cli(["--model", fixture, "--prompt-ids", "1,2", "--max-new-tokens", "8", "--temperature", "0", "--json"]).stdout);
  assert.equal(first.ids.length, 8);
  const stop = first.ids[2];
  const stopped = JSON.parse(cli(["--model", fixture, "--prompt-ids", "1,2", "--max-new-tokens", "8", "--temperature", "0", "--stop-ids", String(stop), "--json"]).stdout);
  assert.deepEqual(stopped.ids, first.ids.slice(0, first.ids.indexOf(stop) + 1));
  const noTok = cli(["--model", fixture, "--prompt", "hi"]);
  assert.equal(noTok.code, 1);
  assert.match(noTok.stderr, /no tokenizer .* use --prompt-ids/);
});

test("generate reports bad arguments clearly", () => {
  const usage = (args: string[], pattern: RegExp) => {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}`);
    assert.match(r.stderr, pattern);
  };
  usage(["--prompt-ids", "1"], /--model DIR is required/);
  usage(["--model", modelDir], /exactly one of --prompt or --prompt-ids/);
  usage(["--model", modelDir, "--prompt-ids", "1,x"], /--prompt-ids must be comma-separated/);
  usage(["--model", modelDir, "--prompt-ids", "1", "--top-p", "2"], /--top-p must be in/);
  usage(["--model", modelDir, "--prompt-ids", "1", "--frobnicate"], /unknown argument '--frobnicate'/);
  const missing = cli(["--model", path.join(modelDir, "nope"), "--prompt-ids", "1"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no config\.json/);
  const range = cli(["--model", modelDir, "--prompt-ids", "999"]);
  assert.equal(range.code, 1);
  assert.match(range.stderr, /prompt token 999/);
  const help = cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: llmlab generate/);
  model.dispose();
});
