// Identity for the wasm backend without the copy. tfjs clones every tensor a
// gradient needs (hundreds per training step) through this kernel, and the
// stock wasm kernel copies the data each time. Tensor data is immutable in
// tfjs (Variable.assign swaps the buffer, never writes into it), so sharing
// the buffer with a reference count — what the cpu backend does, and what
// wasm's own Reshape does — is safe.
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { runStock } from "./stock";

interface RefCountingBackend {
  incRef(dataId: object): void;
}

function identity(args: { inputs: { x?: TensorInfo }; backend: RefCountingBackend }): TensorInfo {
  const x = args.inputs.x;
  if (x == null) throw new Error("Identity: needs input x");
  if (x.dtype === "string") return runStock("Identity", args.backend as never, { x });
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: KernelConfig = {
  kernelName: "Identity",
  backendName: "wasm",
  kernelFunc: identity as unknown as KernelFunc,
};
