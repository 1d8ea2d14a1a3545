// Direct access to the tfjs wasm backend's memory: kernels written here read
// their inputs and write their outputs in place on the wasm heap, exactly as
// the backend's own kernels do, so no tensor data is ever copied into JS.
import type { TensorInfo } from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's `BackendWasm` the custom kernels use. */
export interface WasmBackend {
  wasm: { HEAPU8: Uint8Array; HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number; id: number } };
  makeOutput(shape: number[], dtype: string): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function offsetOf(backend: WasmBackend, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** A Float32Array view of a float32 tensor's data (valid until the heap grows). */
export function f32(backend: WasmBackend, t: TensorInfo): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer, offsetOf(backend, t), sizeOf(t.shape));
}

/** An Int32Array view of an int32 tensor's data (valid until the heap grows). */
export function i32(backend: WasmBackend, t: TensorInfo): Int32Array {
  return new Int32Array(backend.wasm.HEAPU8.buffer, offsetOf(backend, t), sizeOf(t.shape));
}

/** A typed view of a float32 or int32 tensor's data. */
export function view(backend: WasmBackend, t: TensorInfo): Float32Array | Int32Array {
  if (t.dtype === "float32") return f32(backend, t);
  if (t.dtype === "int32") return i32(backend, t);
  throw new Error(`expected a float32 or int32 tensor, got ${t.dtype}`);
}
