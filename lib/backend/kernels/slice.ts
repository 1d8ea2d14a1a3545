// Slice, SplitV and Concat for the wasm backend, copying runs of elements
// inside the heap (copyWithin). The stock Slice first copies the WHOLE input
// out of the heap on every call, so splitting a [1024, 384] qkv projection
// into three cost ~4 ms instead of ~0.1 ms.
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { WasmBackend, offsetOf, sizeOf } from "./wasm_heap";
import { runStock } from "./stock";
import { nativeAddon } from "./native";

type CopyRuns = (heap: ArrayBuffer, count: number, len: number, src: number, srcStride: number, dst: number, dstStride: number) => void;

/** The addon's strided copy (offsets in bytes, lengths and strides in elements), if loaded. */
function nativeCopy(): CopyRuns | null {
  const a = nativeAddon() as unknown as { copyRuns?: CopyRuns } | null;
  return a?.copyRuns ?? null;
}

/** A view of the whole heap in 4-byte elements (float32 and int32 alike). */
function words(b: WasmBackend): Int32Array {
  const buf = b.wasm.HEAPU8.buffer;
  return new Int32Array(buf, 0, buf.byteLength >> 2);
}

const fourBytes = (t: TensorInfo) => t.dtype === "float32" || t.dtype === "int32";

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Copy the box [begin, begin + size) of x into a fresh tensor. */
function sliceBox(b: WasmBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = b.makeOutput(size, x.dtype);
  const total = sizeOf(size);
  if (total === 0) return out;
  const rank = x.shape.length;
  const st = strides(x.shape);
  // Innermost axes taken whole form one contiguous run together with the
  // first axis (from the end) that is cut.
  let k = rank - 1;
  while (k > 0 && begin[k] === 0 && size[k] === x.shape[k]) k--;
  const run = size[k] * st[k];
  const copy = nativeCopy();
  if (copy) {
    // The addon copies the runs along axis k-1 in one call per outer index.
    const heap = b.wasm.HEAPU8.buffer as ArrayBuffer;
    const base = offsetOf(b, x) + 4 * begin[k] * st[k];
    let dstByte = offsetOf(b, out);
    if (k === 0) {
      copy(heap, 1, run, base, run, dstByte, run);
      return out;
    }
    const rows = size[k - 1];
    const outer = new Array<number>(k - 1).fill(0);
    for (;;) {
      let src = base + 4 * begin[k - 1] * st[k - 1];
      for (let j = 0; j < k - 1; j++) src += 4 * (begin[j] + outer[j]) * st[j];
      copy(heap, rows, run, src, st[k - 1], dstByte, run);
      dstByte += 4 * rows * run;
      let j = k - 2;
      while (j >= 0 && ++outer[j] === size[j]) outer[j--] = 0;
      if (j < 0) break;
    }
    return out;
  }
  const h = words(b);
  const src0 = offsetOf(b, x) >> 2;
  let dst = offsetOf(b, out) >> 2;
  const idx = new Array<number>(k).fill(0);
  for (;;) {
    let src = src0 + begin[k] * st[k];
    for (let j = 0; j < k; j++) src += (begin[j] + idx[j]) * st[j];
    h.copyWithin(dst, src, src + run);
    dst += run;
    let j = k - 1;
    while (j >= 0 && ++idx[j] === size[j]) idx[j--] = 0;
    if (j < 0) break;
  }
  return out;
}

function slice(args: { inputs: { x?: TensorInfo }; backend: WasmBackend; attrs: { begin: number | number[]; size?: number | number[] } }): TensorInfo {
  const x = args.inputs.x;
  if (x == null) throw new Error("Slice: needs input x");
  if (!fourBytes(x) || x.shape.length === 0) return runStock("Slice", args.backend, { x }, args.attrs as Record<string, unknown>);
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs.begin, args.attrs.size);
  tf.slice_util.assertParamsValid(x as tf.Tensor, begin, size);
  return sliceBox(args.backend, x, begin, size);
}

function splitV(args: { inputs: { x?: TensorInfo }; backend: WasmBackend; attrs: { numOrSizeSplits: number | number[]; axis: number } }): TensorInfo[] {
  const x = args.inputs.x;
  if (x == null) throw new Error("SplitV: needs input x");
  if (!fourBytes(x)) return runStock("SplitV", args.backend, { x }, args.attrs as Record<string, unknown>) as unknown as TensorInfo[];
  const axis = tf.util.parseAxisParam(args.attrs.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs.numOrSizeSplits, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const piece = sliceBox(args.backend, x, begin.slice(), size);
    begin[axis] += s;
    return piece;
  });
}

function concat(args: { inputs: TensorInfo[]; backend: WasmBackend; attrs: { axis: number } }): TensorInfo {
  const inputs = args.inputs;
  if (inputs.length === 0) throw new Error("Concat: needs at least one input");
  if (!inputs.every(fourBytes) || inputs.some((t) => t.dtype !== inputs[0].dtype)) {
    return runStock("Concat", args.backend, inputs as never, args.attrs as Record<string, unknown>);
  }
  const axis = tf.util.parseAxisParam(args.attrs.axis, inputs[0].shape)[0];
  tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
  const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  const b = args.backend;
  const out = b.makeOutput(outShape, inputs[0].dtype);
  const outer = sizeOf(outShape.slice(0, axis));
  const inners = inputs.map((t) => sizeOf(t.shape.slice(axis)));
  const rowOut = inners.reduce((a, c) => a + c, 0);
  if (outer * rowOut === 0) return out;
  const copy = nativeCopy();
  if (copy) {
    const heap = b.wasm.HEAPU8.buffer as ArrayBuffer;
    let col = 0;
    inputs.forEach((t, i) => {
      if (inners[i] > 0) copy(heap, outer, inners[i], offsetOf(b, t), inners[i], offsetOf(b, out) + 4 * col, rowOut);
      col += inners[i];
    });
    return out;
  }
  const h = words(b);
  const dst0 = offsetOf(b, out) >> 2;
  inputs.forEach((t, i) => {
    const inner = inners[i];
    if (inner === 0) return;
    const src0 = offsetOf(b, t) >> 2;
    const col = inners.slice(0, i).reduce((a, c) => a + c, 0);
    for (let o = 0; o < outer; o++) h.copyWithin(dst0 + o * rowOut + col, src0 + o * inner, src0 + (o + 1) * inner);
  });
  return out;
}

export const sliceConfig: KernelConfig = { kernelName: "Slice", backendName: "wasm", kernelFunc: slice as unknown as KernelFunc };
export const splitVConfig: KernelConfig = { kernelName: "SplitV", backendName: "wasm", kernelFunc: splitV as unknown as KernelFunc };
export const concatConfig: KernelConfig = { kernelName: "Concat", backendName: "wasm", kernelFunc: concat as unknown as KernelFunc };
