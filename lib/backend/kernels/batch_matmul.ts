// BatchMatMul and _FusedMatMul for the wasm backend. The stock kernels are
// 10-30x slower when an operand is transposed (which is most of backprop), so
// transposed operands are laid out explicitly before the plain kernel runs, or
// the whole product goes to native BLAS in place on the wasm heap when the
// addon is available.
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { WasmBackend, sizeOf, offsetOf, f32 } from "./wasm_heap";
import { runStock, disposeIntermediate } from "./stock";
import { nativeAddon } from "./native";

/** Right-aligned broadcast of two batch shapes; throws naming both operands on mismatch. */
export function broadcastShapes(a: readonly number[], b: readonly number[], what: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${what}: batch dimensions [${a}] and [${b}] cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Shapes of one (possibly batched, possibly transposed) matrix product. */
export interface MatMulPlan {
  /** Rows of op(a), columns of op(b), shared inner size. */
  m: number;
  n: number;
  k: number;
  /** Broadcast batch shape and the output shape ([...batchShape, m, n]). */
  batchShape: number[];
  outShape: number[];
  /** Batch counts of a and b before broadcasting. */
  batchA: number;
  batchB: number;
}

/** Check operand shapes and work out the product's shape (tf.matMul's rules). */
export function planMatMul(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
  what: string,
): MatMulPlan {
  if (aShape.length < 2 || bShape.length < 2) {
    throw new Error(`${what}: operands must have rank >= 2, got [${aShape}] and [${bShape}]`);
  }
  const ra = aShape.length;
  const rb = bShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const ka = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (ka !== kb) {
    throw new Error(
      `${what}: inner sizes ${ka} and ${kb} of shapes [${aShape}] and [${bShape}] ` +
        `(transposeA=${transposeA}, transposeB=${transposeB}) must match`,
    );
  }
  const batchShape = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2), what);
  return {
    m, n, k: ka, batchShape, outShape: [...batchShape, m, n],
    batchA: sizeOf(aShape.slice(0, -2)), batchB: sizeOf(bShape.slice(0, -2)),
  };
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/** A tensor's batch dims repeated up to `batchShape` (only when it really is partially broadcast). */
function expandBatch(backend: WasmBackend, x: TensorInfo, batchShape: number[]): TensorInfo | null {
  const outer = x.shape.slice(0, -2);
  const total = sizeOf(batchShape);
  const own = sizeOf(outer);
  if (own === total || own === 1) return null; // the plain kernels handle these directly
  const padded = [...new Array(batchShape.length - outer.length).fill(1), ...outer];
  const reps = [...batchShape.map((d, i) => (padded[i] === d ? 1 : d)), 1, 1];
  const asRank = { dataId: x.dataId, shape: [...padded, ...x.shape.slice(-2)], dtype: x.dtype };
  return runStock("Tile", backend, { x: asRank }, { reps });
}

/**
 * Native path: C[b] = op(A[b]) · op(B[b]) for every batch b, in place on the
 * wasm heap. Batches are either all distinct or a single broadcast matrix,
 * so one stride per operand describes them (0 for a broadcast operand).
 */
function nativeMatMul(
  backend: WasmBackend, a: TensorInfo, b: TensorInfo, out: TensorInfo,
  plan: MatMulPlan, transposeA: boolean, transposeB: boolean,
): void {
  const addon = nativeAddon()!;
  const batch = sizeOf(plan.batchShape);
  const { m, n, k } = plan;
  addon.sgemmBatched(
    backend.wasm.HEAPU8.buffer, batch, transposeA, transposeB, m, n, k,
    offsetOf(backend, a), plan.batchA === 1 ? 0 : m * k,
    offsetOf(backend, b), plan.batchB === 1 ? 0 : k * n,
    offsetOf(backend, out), m * n,
  );
}

/** The product itself, into a fresh output of shape plan.outShape. */
export function matMulInto(
  backend: WasmBackend, a0: TensorInfo, b0: TensorInfo, transposeA: boolean, transposeB: boolean, what: string,
): TensorInfo {
  if (a0.dtype !== "float32" || b0.dtype !== "float32") {
    throw new Error(`${what}: only float32 operands are supported, got ${a0.dtype} and ${b0.dtype}`);
  }
  const plan = planMatMul(a0.shape, b0.shape, transposeA, transposeB, what);
  const temps: TensorInfo[] = [];
  try {
    // Partial broadcasts ([2,1] x [1,3] batches) are materialised so each
    // operand is either one matrix or one per output batch.
    const ea = expandBatch(backend, a0, plan.batchShape);
    const eb = expandBatch(backend, b0, plan.batchShape);
    if (ea) temps.push(ea);
    if (eb) temps.push(eb);
    let a = ea ?? a0;
    let b = eb ?? b0;
    if (ea) plan.batchA = sizeOf(plan.batchShape);
    if (eb) plan.batchB = sizeOf(plan.batchShape);
    if (sizeOf(plan.outShape) === 0 || plan.k === 0) {
      const out = backend.makeOutput(plan.outShape, "float32");
      f32(backend, out).fill(0);
      return out;
    }
    if (nativeAddon()) {
      const out = backend.makeOutput(plan.outShape, "float32");
      nativeMatMul(backend, a, b, out, plan, transposeA, transposeB);
      return out;
    }
    if (transposeA) {
      a = runStock("Transpose", backend, { x: a }, { perm: swapLastTwo(a.shape.length) });
      temps.push(a);
    }
    if (transposeB) {
      b = runStock("Transpose", backend, { x: b }, { perm: swapLastTwo(b.shape.length) });
      temps.push(b);
    }
    const out = runStock("BatchMatMul", backend, { a, b }, { transposeA: false, transposeB: false });
    out.shape = plan.outShape;
    return out;
  } finally {
    for (const t of temps) disposeIntermediate(backend, t);
  }
}

function batchMatMul(args: {
  inputs: { a?: TensorInfo; b?: TensorInfo };
  backend: WasmBackend;
  attrs: { transposeA?: boolean; transposeB?: boolean };
}): TensorInfo {
  const { a, b } = args.inputs;
  if (a == null || b == null) throw new Error("BatchMatMul: needs inputs a and b");
  return matMulInto(args.backend, a, b, !!args.attrs.transposeA, !!args.attrs.transposeB, "BatchMatMul");
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: "BatchMatMul",
  backendName: "wasm",
  kernelFunc: batchMatMul as unknown as KernelFunc,
};

/**
 * tf.fused.matMul: the product, then the stock kernels add the bias and apply
 * the activation (rare in training code; correctness over speed here).
 */
function fusedMatMul(args: {
  inputs: { a?: TensorInfo; b?: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  backend: WasmBackend;
  attrs: { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
}): TensorInfo {
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const backend = args.backend;
  if (a == null || b == null) throw new Error("_FusedMatMul: needs inputs a and b");
  const { transposeA, transposeB, activation = "linear", leakyreluAlpha } = args.attrs;
  let y = matMulInto(backend, a, b, !!transposeA, !!transposeB, "_FusedMatMul");
  const replace = (next: TensorInfo) => {
    disposeIntermediate(backend, y);
    y = next;
  };
  if (bias != null) replace(runStock("Add", backend, { a: y, b: bias }));
  switch (activation) {
    case "linear":
      break;
    case "relu":
      replace(runStock("Relu", backend, { x: y }));
      break;
    case "relu6":
      replace(runStock("Relu6", backend, { x: y }));
      break;
    case "elu":
      replace(runStock("Elu", backend, { x: y }));
      break;
    case "sigmoid":
      replace(runStock("Sigmoid", backend, { x: y }));
      break;
    case "leakyrelu":
      replace(runStock("LeakyRelu", backend, { x: y }, { alpha: leakyreluAlpha ?? 0.2 }));
      break;
    case "prelu":
      if (preluActivationWeights == null) throw new Error("_FusedMatMul: prelu needs preluActivationWeights");
      replace(runStock("Prelu", backend, { x: y, alpha: preluActivationWeights }));
      break;
    default:
      disposeIntermediate(backend, y);
      throw new Error(`_FusedMatMul: unsupported activation '${activation}'`);
  }
  return y;
}

export const fusedMatMulConfig: KernelConfig = {
  kernelName: "_FusedMatMul",
  backendName: "wasm",
  kernelFunc: fusedMatMul as unknown as KernelFunc,
};
