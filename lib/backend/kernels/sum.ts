// Sum over the leading axes for the wasm backend. The stock kernel first
// transposes the reduced axes to the end, so a bias gradient (a [rows, cols]
// gradient summed over rows) costs a full transpose; the addon sums rows
// directly. Every other reduction goes to the stock kernel.
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { WasmBackend, sizeOf, offsetOf } from "./wasm_heap";
import { runStock } from "./stock";
import { nativeAddon } from "./native";

function sum(args: { inputs: { x?: TensorInfo }; backend: WasmBackend; attrs: { axis?: number | number[]; keepDims?: boolean } }): TensorInfo {
  const x = args.inputs.x;
  if (x == null) throw new Error("Sum: needs input x");
  const rank = x.shape.length;
  const raw = args.attrs.axis ?? [...Array(rank).keys()];
  const axes = [...new Set((Array.isArray(raw) ? raw : [raw]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  const addon = nativeAddon();
  if (!addon || x.dtype !== "float32" || !leading || sizeOf(x.shape) === 0) {
    return runStock("Sum", args.backend, { x }, args.attrs as Record<string, unknown>);
  }
  const rows = sizeOf(x.shape.slice(0, axes.length));
  const rest = x.shape.slice(axes.length);
  const outShape = args.attrs.keepDims ? [...axes.map(() => 1), ...rest] : rest;
  const b = args.backend;
  const out = b.makeOutput(outShape, "float32");
  (addon as unknown as { sumRows: (...a: unknown[]) => void }).sumRows(
    b.wasm.HEAPU8.buffer, rows, sizeOf(rest), offsetOf(b, x), offsetOf(b, out),
  );
  return out;
}

export const sumConfig: KernelConfig = {
  kernelName: "Sum",
  backendName: "wasm",
  kernelFunc: sum as unknown as KernelFunc,
};
