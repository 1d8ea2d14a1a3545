/**
 * The `matmul` benchmark case: GFLOP/s of the default backend's matrix
 * products for the shapes of the reference GPT's training step (forward,
 * and the transposed products of backprop), next to PyTorch's for the same
 * shapes, measured in the same run. On wasm it also shows the pure-wasm path
 * (what LLMLAB_NATIVE=0 gives) beside the native one.
 */
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { useBackend } from "../lib/backend";
import { fastKernelInfo, setNativeEnabled } from "../lib/backend/kernels";
import { nativeAddon } from "../lib/backend/kernels/native";
import type { BenchCase, BenchContext } from "./index";

const PYTHON = "/usr/bin/python3";

/** A matrix product of the reference step (B·T = 1024 rows, d 128, 4 heads of 32). */
interface Shape {
  name: string;
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
}

export const SHAPES: Shape[] = [
  { name: "qkv  x·W", a: [1024, 128], b: [128, 384], ta: false, tb: false },
  { name: "qkv  dW = xᵀ·dy", a: [1024, 128], b: [1024, 384], ta: true, tb: false },
  { name: "qkv  dx = dy·Wᵀ", a: [1024, 384], b: [128, 384], ta: false, tb: true },
  { name: "mlp  up x·W", a: [1024, 128], b: [128, 512], ta: false, tb: false },
  { name: "mlp  down x·W", a: [1024, 512], b: [512, 128], ta: false, tb: false },
  { name: "head x·Eᵀ", a: [1024, 128], b: [65, 128], ta: false, tb: true },
  { name: "attn q·kᵀ (64 heads)", a: [16, 4, 64, 32], b: [16, 4, 64, 32], ta: false, tb: true },
  { name: "attn p·v (64 heads)", a: [16, 4, 64, 64], b: [16, 4, 64, 32], ta: false, tb: false },
];

function flops(s: Shape): number {
  const m = s.ta ? s.a[s.a.length - 1] : s.a[s.a.length - 2];
  const k = s.ta ? s.a[s.a.length - 2] : s.a[s.a.length - 1];
  const n = s.tb ? s.b[s.b.length - 2] : s.b[s.b.length - 1];
  const outer = (s.a.length >= s.b.length ? s.a : s.b).slice(0, -2).reduce((x, y) => x * y, 1);
  return 2 * outer * m * n * k;
}

/**
 * GFLOP/s of tf.matMul for one shape on the current backend, timed for about
 * `seconds`. Like torch.matmul's timing, results are not copied out each time;
 * the last one is awaited so asynchronous (GPU) backends are timed fully.
 */
async function measure(s: Shape, seconds: number): Promise<number> {
  const a = tf.randomNormal(s.a);
  const b = tf.randomNormal(s.b);
  const once = () => tf.matMul(a, b, s.ta, s.tb);
  for (let i = 0; i < 2; i++) {
    const y = once();
    await y.data();
    y.dispose();
  }
  let reps = 0;
  const start = performance.now();
  let elapsed = 0;
  let last: tf.Tensor | undefined;
  do {
    last?.dispose();
    last = once();
    reps++;
    if (reps % 8 === 0) await last.data();
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < seconds || reps < 3);
  await last!.data();
  elapsed = (performance.now() - start) / 1000;
  last!.dispose();
  tf.dispose([a, b]);
  return (flops(s) * reps) / elapsed / 1e9;
}

function torchRows(threads: number, env: NodeJS.ProcessEnv): Map<string, number> | undefined {
  const script = path.join(__dirname, "..", "..", "bench", "torch_matmul.py");
  const r = spawnSync(PYTHON, [script, "--threads", String(threads), "--shapes", JSON.stringify(SHAPES)], {
    encoding: "utf8", timeout: 300_000, env,
  });
  if (r.status !== 0) return undefined;
  const out = new Map<string, number>();
  for (const line of r.stdout.trim().split("\n")) {
    const row = JSON.parse(line) as { name: string; gflops: number };
    out.set(row.name, row.gflops);
  }
  return out;
}

/** The matmul case. */
export const matmulBench: BenchCase = {
  name: "matmul",
  describe: "GFLOP/s of the reference GPT's matrix products (incl. transposed) per backend vs PyTorch",
  async run(ctx: BenchContext) {
    const columns: { label: string; values: Map<string, number> }[] = [];
    const seconds = Math.min(0.5, ctx.budgetSeconds / 40);
    for (const backend of ctx.backends) {
      await useBackend(backend);
      const addon = backend === "wasm" ? nativeAddon() : null;
      const defaultThreads = addon?.info().threads ?? 1;
      // Native BLAS with 1 thread and with its default (all cores), like PyTorch's two rows.
      type Variant = { label: string; native: boolean; threads?: number };
      const variants: Variant[] = addon
        ? [
            ...[...new Set([1, defaultThreads])].map((t): Variant => ({ label: `wasm+native ${t}t`, native: true, threads: t })),
            { label: "wasm (pure)", native: false },
          ]
        : [{ label: backend, native: true }];
      for (const v of variants) {
        if (backend === "wasm") setNativeEnabled(v.native);
        if (addon && v.threads) addon.setThreads(v.threads);
        const values = new Map<string, number>();
        for (const s of SHAPES) {
          // The plain-JS cpu backend is ~100x slower: a short look is enough.
          const g = await measure(s, backend === "cpu" ? seconds / 5 : seconds);
          values.set(s.name, g);
          const row = { case: "matmul", backend, variant: v.label, shape: s.name, a: s.a, b: s.b, transposeA: s.ta, transposeB: s.tb, gflops: Math.round(g * 100) / 100 };
          ctx.report(row, `${v.label.padEnd(14)} ${s.name.padEnd(22)} ${g.toFixed(1).padStart(7)} GFLOP/s`);
        }
        columns.push({ label: v.label, values });
      }
      if (backend === "wasm") setNativeEnabled(true);
      addon?.setThreads(defaultThreads);
    }
    if (ctx.torch && spawnSync(PYTHON, ["-c", "import torch"], { stdio: "ignore", timeout: 60_000 }).status === 0) {
      // OpenBLAS's own CPU detection (what PyTorch gets by default), and, when
      // llmlab's addon chose an OpenBLAS kernel family for this CPU, PyTorch
      // with the same choice, so the comparison is like for like.
      const core = fastKernelInfo().native ? (nativeAddon()?.info().blasCore ?? "") : "";
      const envs: { label: string; env: NodeJS.ProcessEnv }[] = [{ label: "pytorch", env: process.env }];
      if (core && !process.env.OPENBLAS_CORETYPE) envs.push({ label: `pytorch ${core}`, env: { ...process.env, OPENBLAS_CORETYPE: core } });
      for (const e of envs) {
        for (const threads of [...new Set([1, os.cpus().length])]) {
          const values = torchRows(threads, e.env);
          if (!values) {
            ctx.note(`PyTorch matmul (${e.label}, ${threads} threads) failed to run`);
            continue;
          }
          const label = `${e.label} ${threads}t`;
          for (const s of SHAPES) {
            const g = values.get(s.name) ?? NaN;
            ctx.report({ case: "matmul", backend: "pytorch", variant: label, threads, shape: s.name, a: s.a, b: s.b, transposeA: s.ta, transposeB: s.tb, gflops: g },
              `${label.padEnd(14)} ${s.name.padEnd(22)} ${g.toFixed(1).padStart(7)} GFLOP/s`);
          }
          columns.push({ label, values });
        }
      }
    } else {
      ctx.note(ctx.torch ? `PyTorch not run: ${PYTHON} cannot import torch` : "PyTorch not run (--no-torch)");
    }
    // One table, shapes down, variants across.
    const width = (c: { label: string }) => Math.max(10, c.label.length + 2);
    const head = "GFLOP/s".padEnd(24) + columns.map((c) => c.label.padStart(width(c))).join("");
    const lines = SHAPES.map((s) => s.name.padEnd(24) + columns.map((c) => (c.values.get(s.name) ?? NaN).toFixed(1).padStart(width(c))).join(""));
    ctx.note([head, ...lines].join("\n"));
  },
};
