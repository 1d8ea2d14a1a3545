// The wasm backend's own kernels, captured before ours replace some of them,
// so a replacement can still delegate to the original (e.g. the plain,
// untransposed BatchMatMul) and the pure-wasm path keeps working unchanged.
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs";
import type { WasmBackend } from "./wasm_heap";

const originals = new Map<string, KernelConfig>();

/** Remember the currently registered kernel `name` for `backendName` (first call wins). */
export function captureStock(name: string, backendName: string): KernelConfig | undefined {
  const key = `${backendName}/${name}`;
  if (!originals.has(key)) {
    const k = tf.getKernel(name, backendName);
    if (k) originals.set(key, k);
  }
  return originals.get(key);
}

/** Run the backend's original kernel `name` (which must have been captured or never replaced). */
export function runStock(
  name: string,
  backend: WasmBackend,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown> = {},
  backendName = "wasm",
): TensorInfo {
  const k = originals.get(`${backendName}/${name}`) ?? tf.getKernel(name, backendName);
  if (!k) throw new Error(`kernel ${name} is not registered for backend ${backendName}`);
  return k.kernelFunc({ inputs, backend: backend as never, attrs: attrs as never }) as TensorInfo;
}

/** Free an intermediate produced inside a kernel (never an input or the output). */
export function disposeIntermediate(backend: WasmBackend, t: TensorInfo): void {
  backend.disposeData(t.dataId);
}
