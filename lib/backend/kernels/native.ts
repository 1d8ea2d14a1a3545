// Loads the optional Node-API addon (native/, built at install time by
// scripts/build-native.js). Everything here degrades to "no addon": the
// pure-wasm kernels then do the work, slower but with the same results.
import * as path from "path";
import * as fs from "fs";

/** The functions the C addon exports (see native/llmlab_native.c). */
export interface NativeAddon {
  /**
   * C[i] = op(A[i]) · op(B[i]) for i < batch, row-major, all operands in
   * `heap` at byte offsets; a stride of 0 repeats one matrix for every batch.
   */
  sgemmBatched(
    heap: ArrayBuffer, batch: number, transA: boolean, transB: boolean,
    m: number, n: number, k: number,
    aOff: number, strideA: number, bOff: number, strideB: number, cOff: number, strideC: number,
  ): void;
  /** Which BLAS is in use, with how many threads, on which instruction set. */
  info(): { blas: "openblas" | "builtin"; threads: number; isa: string; blasCore: string };
  /** Use the addon's own sgemm even when OpenBLAS is present (tests, benchmarks). */
  useBuiltinGemm(on: boolean): void;
  abi: number;
  /** Set the number of threads the BLAS may use. */
  setThreads(n: number): void;
  [fused: string]: unknown;
}

/** The native/addon.c LLMLAB_NATIVE_ABI this code was written against. */
const EXPECTED_ABI = 6;

let loaded: NativeAddon | null | undefined;
let whyNot = "";

/** Where scripts/build-native.js puts the addon: <package root>/native/build/. */
export function addonPath(): string {
  // This file runs as dist/lib/backend/kernels/native.js.
  return path.resolve(__dirname, "..", "..", "..", "..", "native", "build", "llmlab_native.node");
}

/** True unless the user turned the native path off with LLMLAB_NATIVE=0. */
export function nativeAllowed(): boolean {
  const v = (process.env.LLMLAB_NATIVE ?? "").trim().toLowerCase();
  return !(v === "0" || v === "false" || v === "off" || v === "no");
}

/** The addon, or null when disabled, not built, or not loadable on this machine. */
export function nativeAddon(): NativeAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (!nativeAllowed()) {
    whyNot = "disabled by LLMLAB_NATIVE=0";
    return loaded;
  }
  const file = addonPath();
  if (!fs.existsSync(file)) {
    whyNot = `not built (${file} missing; run node scripts/build-native.js)`;
    return loaded;
  }
  try {
    const mod = { exports: {} as NativeAddon };
    process.dlopen(mod, file);
    if ((mod.exports as { abi?: unknown }).abi !== EXPECTED_ABI) {
      whyNot = `stale build (abi ${(mod.exports as { abi?: unknown }).abi}, want ${EXPECTED_ABI}; run node scripts/build-native.js)`;
    } else {
      loaded = mod.exports;
      // OpenBLAS uses every core by default; LLMLAB_THREADS=n caps it (e.g. 1 on a busy machine).
      const threads = Number(process.env.LLMLAB_THREADS);
      if (Number.isInteger(threads) && threads >= 1) loaded.setThreads(threads);
    }
  } catch (err) {
    whyNot = `failed to load: ${(err as Error).message.split("\n")[0]}`;
  }
  return loaded;
}

/** Why the addon is not in use ("" when it is). */
export function nativeUnavailableReason(): string {
  nativeAddon();
  return whyNot;
}

/**
 * Turn the native path off (or back on, subject to LLMLAB_NATIVE) for this
 * process, so a benchmark or test can compare both paths in one run.
 */
export function setNativeEnabled(on: boolean): void {
  if (on) {
    loaded = undefined;
    whyNot = "";
  } else {
    loaded = null;
    whyNot = "disabled by setNativeEnabled(false)";
  }
}
