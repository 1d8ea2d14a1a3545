// UnsortedSegmentSum for the wasm backend, which lacks it. It is the gradient
// of `gather`, so without it no embedding can be trained on wasm.
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { WasmBackend, sizeOf, view, i32 } from "./wasm_heap";

/**
 * out[s, ...] = sum of x[i, ...] over every i with segmentIds[i] == s.
 * segmentIds may have any rank r as long as its shape is x's leading r dims;
 * ids outside [0, numSegments) are dropped (as the cpu backend does).
 */
function unsortedSegmentSum(args: {
  inputs: { x?: TensorInfo; segmentIds?: TensorInfo };
  backend: WasmBackend;
  attrs: { numSegments?: number };
}): TensorInfo {
  const { x, segmentIds } = args.inputs;
  const numSegments = args.attrs.numSegments;
  if (x == null || segmentIds == null) throw new Error("UnsortedSegmentSum: needs inputs x and segmentIds");
  if (numSegments == null || !Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum: numSegments must be a non-negative integer, got ${numSegments}`);
  }
  if (segmentIds.dtype !== "int32") throw new Error(`UnsortedSegmentSum: segmentIds must be int32, got ${segmentIds.dtype}`);
  const idRank = segmentIds.shape.length;
  const prefixOk = idRank <= x.shape.length && segmentIds.shape.every((d, i) => d === x.shape[i]);
  if (!prefixOk) {
    throw new Error(
      `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`,
    );
  }
  const rowShape = x.shape.slice(idRank);
  const rowSize = sizeOf(rowShape);
  const backend = args.backend;
  const out = backend.makeOutput([numSegments, ...rowShape], x.dtype);
  // Views are taken after makeOutput: allocating may grow (and replace) the heap.
  const xs = view(backend, x);
  const ids = i32(backend, segmentIds);
  const os = view(backend, out);
  os.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * rowSize;
    const dst = s * rowSize;
    for (let j = 0; j < rowSize; j++) os[dst + j] += xs[src + j];
  }
  return out;
}

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: "UnsortedSegmentSum",
  backendName: "wasm",
  kernelFunc: unsortedSegmentSum as unknown as KernelFunc,
};
