// Shared by the kernel tests: run the same function on two backends over the
// same seeded inputs and compare every output element.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../lib/model/rng";

/** An input: its shape and dtype; `data` when fixed, else seeded values in [-1, 1) times `scale`. */
export type Spec = { shape: number[]; dtype?: "float32" | "int32"; data?: number[]; scale?: number };
/** An output's shape and values. */
export type Result = { shape: number[]; data: number[] };

/** A seeded uniform [0, 1) generator (the library's Rng). */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Fills each input without `data` with seeded values in [-1, 1), times its `scale`. */
export function materialise(specs: Spec[], seed: number): Spec[] {
  const r = rng(seed);
  return specs.map((s) => ({
    ...s,
    data: s.data ?? Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * (s.scale ?? 1)),
  }));
}

/** Runs fn on `backend` with fresh tensors built from specs: every output's shape and values, and the kernels that ran. */
export async function runOn(
  backend: string,
  specs: Spec[],
  fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<{ out: Result[]; kernels: Set<string> }> {
  await tf.setBackend(backend);
  const inputs = specs.map((s) => tf.tensor(s.data!, s.shape, s.dtype ?? "float32"));
  let outs: tf.Tensor[] = [];
  const info = await tf.profile(() => {
    outs = tf.tidy(() => {
      const o = fn(...inputs);
      return Array.isArray(o) ? o : [o];
    });
    return outs;
  });
  const out: Result[] = [];
  for (const o of outs) out.push({ shape: o.shape, data: Array.from(await o.data()) });
  tf.dispose([...inputs, ...outs]);
  return { out, kernels: new Set(info.kernelNames) };
}

/**
 * Asserts equal shapes and every element within `tol` relative to (1 + |want|).
 * `labels` name the two sides in the failure message.
 */
export function assertClose(got: Result[], want: Result[], tol: number, what: string, labels: [string, string] = ["wasm", "cpu"]): void {
  assert.equal(got.length, want.length, `${what}: number of outputs`);
  for (let i = 0; i < got.length; i++) {
    assert.deepEqual(got[i].shape, want[i].shape, `${what}: shape of output ${i}`);
    for (let j = 0; j < got[i].data.length; j++) {
      const g = got[i].data[j];
      const w = want[i].data[j];
      if (!(Math.abs(g - w) <= tol * (1 + Math.abs(w)))) {
        assert.fail(`${what}: output ${i} element ${j}: ${labels[0]} ${g} vs ${labels[1]} ${w}`);
      }
    }
  }
}
