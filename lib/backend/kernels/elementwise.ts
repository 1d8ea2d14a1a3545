// Add and Transpose for the wasm backend through the native addon: the
// residual and bias additions and the head-splitting transposes of every
// Transformer layer. Shapes the addon does not cover go to the stock kernels.
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { WasmBackend, offsetOf, sizeOf } from "./wasm_heap";
import { runStock } from "./stock";
import { nativeAddon } from "./native";

type Native = { add: (...a: unknown[]) => void; permute: (...a: unknown[]) => void };

/** True when `small` (without leading 1s) equals the trailing dims of `big`. */
function isTrailing(small: readonly number[], big: readonly number[]): boolean {
  let s = 0;
  while (s < small.length && small[s] === 1) s++;
  const rest = small.slice(s);
  if (rest.length > big.length || small.length > big.length) return false;
  return rest.every((d, i) => d === big[big.length - rest.length + i]);
}

function add(args: { inputs: { a?: TensorInfo; b?: TensorInfo }; backend: WasmBackend }): TensorInfo {
  const { a, b } = args.inputs;
  if (a == null || b == null) throw new Error("Add: needs inputs a and b");
  const addon = nativeAddon() as unknown as Native | null;
  const stock = () => runStock("Add", args.backend, { a, b });
  if (!addon || a.dtype !== "float32" || b.dtype !== "float32") return stock();
  const na = sizeOf(a.shape);
  const nb = sizeOf(b.shape);
  if (na === 0 || nb === 0) return stock();
  let big = a;
  let small = b;
  if (!isTrailing(small.shape, big.shape)) {
    [big, small] = [b, a];
    if (!isTrailing(small.shape, big.shape)) return stock();
  }
  const sameShape = big.shape.length === small.shape.length && na === nb;
  const back = args.backend;
  const out = back.makeOutput([...big.shape], "float32");
  const cols = sizeOf(small.shape);
  addon.add(back.wasm.HEAPU8.buffer, sizeOf(big.shape) / cols, cols, offsetOf(back, big), offsetOf(back, small), !sameShape, offsetOf(back, out));
  return out;
}

function transpose(args: { inputs: { x?: TensorInfo }; backend: WasmBackend; attrs: { perm: number[] } }): TensorInfo {
  const x = args.inputs.x;
  if (x == null) throw new Error("Transpose: needs input x");
  const perm = args.attrs.perm;
  const addon = nativeAddon() as unknown as Native | null;
  const rank = x.shape.length;
  if (!addon || (x.dtype !== "float32" && x.dtype !== "int32") || rank === 0 || rank > 8 || perm.length !== rank || sizeOf(x.shape) === 0) {
    return runStock("Transpose", args.backend, { x }, { perm });
  }
  const back = args.backend;
  const out = back.makeOutput(perm.map((p) => x.shape[p]), x.dtype);
  addon.permute(back.wasm.HEAPU8.buffer, [...x.shape], [...perm], offsetOf(back, x), offsetOf(back, out));
  return out;
}

export const addConfig: KernelConfig = { kernelName: "Add", backendName: "wasm", kernelFunc: add as unknown as KernelFunc };
export const transposeConfig: KernelConfig = { kernelName: "Transpose", backendName: "wasm", kernelFunc: transpose as unknown as KernelFunc };
