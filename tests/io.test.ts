import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { GPT, GPTConfig, Rng } from "../lib/model";
import { AdamW } from "../lib/train";
import {
  parseSafetensors, serializeSafetensors, readSafetensors, writeSafetensors, toFloat32, toNumbers, fromFloat32,
  RawTensor, saveModel, loadModel, loadCheckpoint, loadOptimizerState, halfToFloat, floatToHalf,
} from "../lib/io";
import { forEachBackend } from "./backend-each";

// The fixtures live in the source tree (tests run from dist/tests).
const FIXTURES = path.resolve(__dirname, "..", "..", "tests", "fixtures");

const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-io-"));
  made.push(dir);
  return dir;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function bytesOf(arr: ArrayBufferView): Uint8Array {
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

test("safetensors round-trip is bit-exact (special floats and every integer type)", () => {
  const f32 = new Float32Array([0, -0, 1.5, -2.25, Infinity, -Infinity, NaN, 1e-45, 3.4028235e38, Math.PI]);
  new Uint32Array(f32.buffer)[6] = 0x7fc01234; // a NaN with a payload
  const rng = new Rng(1);
  const big = new Float32Array(1000).map(() => rng.normal());
  const tensors = new Map<string, RawTensor>([
    ["special", { dtype: "F32", shape: [2, 5], data: bytesOf(f32) }],
    ["random", { dtype: "F32", shape: [10, 10, 10], data: bytesOf(big) }],
    ["i64", { dtype: "I64", shape: [3], data: bytesOf(new BigInt64Array([-1n, 2n ** 62n, 0n])) }],
    ["i32", { dtype: "I32", shape: [1, 2], data: bytesOf(new Int32Array([-7, 2 ** 31 - 1])) }],
    ["u8", { dtype: "U8", shape: [3], data: new Uint8Array([0, 128, 255]) }],
    ["empty", { dtype: "F32", shape: [0, 4], data: new Uint8Array(0) }],
    ["scalar", { dtype: "F16", shape: [], data: bytesOf(new Uint16Array([0x3c00])) }],
  ]);
  const meta = { format: "pt", note: "héllo" };
  const bytes = serializeSafetensors(tensors, meta);
  // Layout: u64 LE header length, header padded with spaces to 8 bytes.
  const headerLen = Number(bytes.readBigUInt64LE(0));
  assert.equal(headerLen % 8, 0);
  const header = bytes.subarray(8, 8 + headerLen).toString("utf8");
  assert.ok(header.startsWith("{") && /}\s*$/.test(header));
  const parsed = parseSafetensors(bytes);
  assert.deepEqual(parsed.metadata, meta);
  assert.deepEqual([...parsed.tensors.keys()], [...tensors.keys()]);
  for (const [name, t] of tensors) {
    const back = parsed.tensors.get(name)!;
    assert.equal(back.dtype, t.dtype);
    assert.deepEqual(back.shape, t.shape);
    assert.deepEqual(Buffer.from(back.data), Buffer.from(t.data), `${name} bytes differ`);
  }
  const dir = tmpDir();
  const file = path.join(dir, "x.safetensors");
  writeSafetensors(file, tensors, meta);
  const again = serializeSafetensors(readSafetensors(file).tensors, readSafetensors(file).metadata);
  assert.deepEqual(again, bytes, "file → read → write is byte-identical");
  assert.deepEqual(toNumbers(parsed.tensors.get("i64")!), [-1, 2 ** 62, 0]);
  assert.deepEqual(Array.from(toFloat32(parsed.tensors.get("scalar")!)), [1]);
});

test("safetensors: corrupt files give clear errors", () => {
  const good = serializeSafetensors({ a: { dtype: "F32", shape: [2], data: bytesOf(new Float32Array([1, 2])) } });
  const headerLen = Number(good.readBigUInt64LE(0));
  const withHeader = (json: string, data = Buffer.alloc(0)) => {
    const h = Buffer.from(json);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([len, h, data]);
  };
  assert.throws(() => parseSafetensors(new Uint8Array(5)), /too short/);
  assert.throws(() => parseSafetensors(good.subarray(0, 8 + headerLen - 3)), /exceeds the file size/);
  assert.throws(() => parseSafetensors(good.subarray(0, good.length - 4)), /past the data section|truncated/);
  assert.throws(() => parseSafetensors(withHeader("{not json")), /not valid UTF-8 JSON/);
  assert.throws(() => parseSafetensors(withHeader('{"a": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}', Buffer.alloc(4))), /unknown dtype "F99"/);
  assert.throws(() => parseSafetensors(withHeader('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}', Buffer.alloc(4))), /needs 8 bytes/);
  assert.throws(() => parseSafetensors(withHeader('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', Buffer.alloc(8))), /hole/);
  assert.throws(() => parseSafetensors(withHeader('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', Buffer.alloc(8))), /belong to no tensor/);
  assert.throws(
    () => parseSafetensors(withHeader('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', Buffer.alloc(8))),
    /overlaps/,
  );
  assert.throws(() => parseSafetensors(withHeader('{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', Buffer.alloc(4))), /shape must be/);
  assert.throws(() => parseSafetensors(withHeader('{"__metadata__": {"k": 1}}')), /__metadata__\.k must be a string/);
  assert.throws(() => readSafetensors(path.join(tmpDir(), "missing.safetensors")), /cannot read/);
});

test("safetensors: F16, BF16 and integer tensors written by PyTorch decode to their values", () => {
  const file = readSafetensors(path.join(FIXTURES, "dtypes.safetensors"));
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, "dtypes.json"), "utf8"), (_k, v) =>
    v === "inf" ? Infinity : v === "-inf" ? -Infinity : v,
  ) as Record<string, { shape: number[]; values: number[] }>;
  assert.equal(file.metadata.note, "dtype fixture");
  for (const [name, exp] of Object.entries(expected)) {
    const t = file.tensors.get(name)!;
    assert.deepEqual(t.shape, exp.shape, name);
    const got = toNumbers(t);
    for (let i = 0; i < got.length; i++) {
      if (Number.isFinite(exp.values[i])) assert.ok(Math.abs(got[i] - exp.values[i]) <= 1e-6 * Math.max(1, Math.abs(exp.values[i])), `${name}[${i}]`);
      else assert.equal(got[i], exp.values[i]);
    }
  }
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  // float → half → float is the identity on halves.
  for (const h of [0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0xfbff, 0x7c00]) assert.equal(floatToHalf(halfToFloat(h)), h);
});

for (const name of ["gpt2-tiny", "gpt2-tiny-hub", "gpt2-tiny-relu", "gpt2-tiny-erf"]) {
  test(`a GPT-2 checkpoint written by an independent PyTorch implementation gives its logits (${name})`, async (t) => {
    const dir = path.join(FIXTURES, name);
    const expected = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")) as { ids: number[][]; shape: number[]; logits: number[] };
    await forEachBackend(t, async () => {
      const model = await loadModel(dir);
      const logits = model.logits(expected.ids);
      assert.deepEqual(logits.shape, expected.shape);
      const diff = maxAbsDiff(logits.dataSync(), expected.logits);
      assert.ok(diff < 1e-4, `max |Δlogit| = ${diff}`);
      logits.dispose();
      model.dispose();
    });
  });
}

const GPT2_LIKE: Partial<GPTConfig> = { vocabSize: 20, contextLength: 8, dModel: 16, nLayer: 2, nHead: 2 };
const OTHER: Partial<GPTConfig> = { ...GPT2_LIKE, positional: "rope", norm: "rmsnorm", activation: "swiglu", bias: false, tiedEmbeddings: false, ropeBase: 500 };

test("save → load round-trips models bit-exactly, in the GPT-2 layout when the config allows", async (t) => {
  await forEachBackend(t, async () => {
    for (const cfg of [GPT2_LIKE, OTHER]) {
      const model = new GPT(cfg, { seed: 3 });
      const dir = tmpDir();
      await saveModel(model, dir, { metadata: { steps: 12, note: "test" }, chars: "abcdefghijklmnopqrst".split("") });
      const hf = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
      const file = readSafetensors(path.join(dir, "model.safetensors"));
      assert.equal(file.metadata.format, "pt", "transformers requires format=pt");
      if (cfg === GPT2_LIKE) {
        assert.equal(hf.model_type, "gpt2");
        assert.deepEqual(hf.architectures, ["GPT2LMHeadModel"]);
        assert.equal(hf.n_embd, 16);
        assert.equal(hf.n_layer, 2);
        assert.equal(hf.n_head, 2);
        assert.equal(hf.n_positions, 8);
        assert.equal(hf.vocab_size, 20);
        assert.equal(hf.layer_norm_epsilon, 1e-5);
        assert.equal(hf.activation_function, "gelu_new");
        assert.deepEqual(file.tensors.get("transformer.h.1.attn.c_attn.weight")!.shape, [16, 48], "Conv1D layout [in, out]");
        assert.deepEqual(file.tensors.get("transformer.h.0.mlp.c_proj.weight")!.shape, [64, 16]);
        assert.ok(file.tensors.has("transformer.wpe.weight") && file.tensors.has("transformer.ln_f.bias"));
        assert.ok(!file.tensors.has("lm_head.weight"), "tied head not stored");
      } else {
        assert.equal(hf.model_type, "llmlab-gpt");
        assert.ok(file.tensors.has("lm_head.weight") && file.tensors.has("transformer.h.0.mlp.c_gate.weight"));
      }
      const ckpt = await loadCheckpoint(dir);
      assert.deepEqual(ckpt.model.config, model.config);
      assert.deepEqual(ckpt.metadata, { steps: 12, note: "test" });
      assert.equal(ckpt.chars!.length, 20);
      for (const [n, v] of model.params) {
        assert.deepEqual(Buffer.from(bytesOf(ckpt.model.param(n).dataSync() as Float32Array)), Buffer.from(bytesOf(v.dataSync() as Float32Array)), n);
      }
      const ids = [[1, 2, 3, 4, 5]];
      assert.equal(maxAbsDiff(model.logits(ids).dataSync(), ckpt.model.logits(ids).dataSync()), 0);
      model.dispose();
      ckpt.model.dispose();
    }
  });
});

test("F16 checkpoints load close to the float32 model; bad checkpoints fail clearly", async () => {
  const model = new GPT(GPT2_LIKE, { seed: 3 });
  const dir = tmpDir();
  await saveModel(model, dir, { dtype: "F16" });
  assert.equal(readSafetensors(path.join(dir, "model.safetensors")).tensors.get("transformer.wte.weight")!.dtype, "F16");
  const half = await loadModel(dir);
  assert.ok(maxAbsDiff(model.logits([[1, 2, 3]]).dataSync(), half.logits([[1, 2, 3]]).dataSync()) < 1e-2);
  half.dispose();
  // Wrong shape, missing and extra tensors, missing folder.
  const file = readSafetensors(path.join(dir, "model.safetensors"));
  const tensors = new Map(file.tensors);
  tensors.delete("transformer.ln_f.bias");
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  await assert.rejects(loadModel(dir), /missing 1 tensor\(s\): transformer\.ln_f\.bias/);
  tensors.set("transformer.ln_f.bias", fromFloat32(new Float32Array(3), [3]));
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  await assert.rejects(loadModel(dir), /'transformer\.ln_f\.bias' has shape \[3\], the model expects \[16\]/);
  tensors.set("transformer.ln_f.bias", fromFloat32(new Float32Array(16), [16]));
  tensors.set("transformer.h.0.attn.extra.weight", fromFloat32(new Float32Array(2), [2]));
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  await assert.rejects(loadModel(dir), /does not use: transformer\.h\.0\.attn\.extra\.weight/);
  await assert.rejects(loadModel(path.join(dir, "nope")), /no config\.json/);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  delete cfg.llmlab;
  cfg.activation_function = "quick_gelu";
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(cfg));
  await assert.rejects(loadModel(dir), /activation_function "quick_gelu" is not supported/);
  model.dispose();
});

test("optimizer state saves and restores", async () => {
  const model = new GPT(GPT2_LIKE, { seed: 3 });
  const opt = new AdamW(model.params);
  const grads = new Map([...model.params].map(([n, v]) => [n, tf.onesLike(v)] as [string, tf.Tensor]));
  opt.step(grads);
  opt.step(grads);
  const dir = tmpDir();
  await saveModel(model, dir, { optimizer: opt });
  const ckpt = await loadCheckpoint(dir);
  assert.equal(ckpt.optimizerStep, 2);
  const restored = new AdamW(ckpt.model.params);
  loadOptimizerState(dir, restored);
  assert.equal(restored.stepCount, 2);
  const a = opt.stateTensors();
  const b = restored.stateTensors();
  for (const [n, t] of a) assert.equal(maxAbsDiff(t.dataSync(), b.get(n)!.dataSync()), 0, n);
  tf.dispose([...grads.values()]);
  opt.dispose();
  restored.dispose();
  model.dispose();
  ckpt.model.dispose();
});

function torchAvailable(): boolean {
  const r = spawnSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore", timeout: 60000 });
  return r.status === 0;
}

test("a GPT-2-layout model saved here gives the same logits in the independent PyTorch GPT-2", { skip: !torchAvailable() && "python3 cannot import torch" }, async () => {
  const model = new GPT({ vocabSize: 30, contextLength: 12, dModel: 24, nLayer: 2, nHead: 3, dFF: 40 }, { seed: 9 });
  // Non-trivial biases and norms (fresh ones are 0 and 1).
  for (const [name, v] of model.params) {
    if (v.rank === 1) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.1, "float32", name.length))));
  }
  const dir = tmpDir();
  await saveModel(model, dir);
  const ids = [[1, 5, 9, 29, 0, 3, 3, 7], [2, 2, 2, 2, 8, 8, 8, 8]];
  const out = execFileSync("/usr/bin/python3", [path.join(FIXTURES, "make_gpt2_fixture.py"), "--check", dir, "--ids", ids.map((r) => r.join(",")).join(";")], {
    encoding: "utf8",
    timeout: 120000,
  });
  const ref = JSON.parse(out) as { shape: number[]; logits: number[] };
  const logits = model.logits(ids);
  assert.deepEqual(logits.shape, ref.shape);
  assert.ok(maxAbsDiff(logits.dataSync(), ref.logits) < 1e-4);
  logits.dispose();
  model.dispose();
});
