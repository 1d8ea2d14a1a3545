// Fast and missing kernels for TensorFlow.js backends (issue 4). The library's
// backend selection calls registerFastKernels() once it has picked a backend;
// nothing else in the library needs to know these kernels exist.
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig } from "@tensorflow/tfjs";
import { captureStock } from "./stock";
import { unsortedSegmentSumConfig } from "./unsorted_segment_sum";
import { batchMatMulConfig, fusedMatMulConfig } from "./batch_matmul";
import { identityConfig } from "./identity";
import { sumConfig } from "./sum";
import { sliceConfig, splitVConfig, concatConfig } from "./slice";
import { addConfig, transposeConfig } from "./elementwise";
import { gatherV2Config } from "./gather";
import { fusedKernelConfigs, fusedGradConfigs } from "./fused_kernels";
import { markFusedRegistered } from "./fused_ops";
import { batchMatMulGradConfig } from "./matmul_grad";
import { nativeAddon, nativeUnavailableReason } from "./native";

export { setNativeEnabled } from "./native";
export {
  fusedAvailable, fastLinear, fastGelu, fastLayerNorm, fastRmsNorm, fastCausalAttention, fastCausalSelfAttention, fastCrossEntropy,
  fastAdamW, fastAdamWAll,
} from "./fused_ops";

/** Kernels registered on the wasm backend, in registration order. */
const wasmKernels: KernelConfig[] = [
  unsortedSegmentSumConfig, batchMatMulConfig, fusedMatMulConfig, identityConfig, sumConfig,
  sliceConfig, splitVConfig, concatConfig, addConfig, transposeConfig, gatherV2Config, ...fusedKernelConfigs,
];

const registered = new Map<string, string[]>();
let gradientFixed = false;

/**
 * Register this module's kernels for `backendName` and return their names.
 * Only "wasm" has kernels to add today; other backends get []. The first
 * call also replaces tfjs-core's BatchMatMul gradient (for every backend)
 * with one that handles broadcast batch dims (x[B,T,C] · W[C,D]). Safe to call
 * again: a second call registers nothing new and returns the same names.
 */
export function registerFastKernels(backendName: string): string[] {
  const done = registered.get(backendName);
  if (done) return done;
  if (!gradientFixed) {
    // Gradients are shared by all backends: fix batch-broadcast matMul once.
    tf.registerGradient(batchMatMulGradConfig);
    // The fused kernels exist only on wasm, but gradients are looked up by kernel name.
    for (const g of fusedGradConfigs) tf.registerGradient(g);
    gradientFixed = true;
  }
  const names: string[] = [];
  // LLMLAB_FAST_KERNELS=0: stock tfjs kernels (for comparisons); the gradient
  // fixes above stay, since they are about correctness, not speed.
  if (process.env.LLMLAB_FAST_KERNELS === "0") {
    registered.set(backendName, names);
    return names;
  }
  if (backendName === "wasm") {
    for (const config of wasmKernels) {
      const stock = captureStock(config.kernelName, backendName);
      if (stock) {
        tf.unregisterKernel(config.kernelName, backendName);
        // The stock kernel may not have been set up yet (we run before the
        // backend initialises): ours sets it up so delegation keeps working.
        tf.registerKernel({ ...config, setupFunc: stock.setupFunc, disposeFunc: stock.disposeFunc });
      } else {
        tf.registerKernel(config);
      }
      names.push(config.kernelName);
    }
    markFusedRegistered();
  }
  registered.set(backendName, names);
  return names;
}

/** What the fast-kernel layer is using, for device() and the kernel banner. */
export interface FastKernelInfo {
  /** True when the native addon is loaded and used. */
  native: boolean;
  /** BLAS behind matrix products: OpenBLAS, the addon's own sgemm, or none (wasm kernels). */
  blas: "openblas" | "builtin" | null;
  /** Threads the native BLAS uses (1 for the single-threaded wasm kernels). */
  threads: number;
  /** Why the native path is off ("" when it is on). */
  reason: string;
  /** Instruction set the native loops run with (e.g. "x86-64-v4"), when native. */
  isa?: string;
  /** OpenBLAS kernel family (e.g. "SkylakeX"), when OpenBLAS is used. */
  blasCore?: string;
}

/** Report whether matrix products and fused ops run natively, and how. */
export function fastKernelInfo(): FastKernelInfo {
  const addon = nativeAddon();
  if (!addon) return { native: false, blas: null, threads: 1, reason: nativeUnavailableReason() };
  const info = addon.info();
  return { native: true, blas: info.blas, threads: info.threads, reason: "", isa: info.isa, blasCore: info.blasCore || undefined };
}
