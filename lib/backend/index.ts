/**
 * Backend selection: which TensorFlow.js backend runs the library's tensors.
 *
 * Order of preference (first that works wins):
 * 1. `tensorflow` — native libtensorflow through `@tensorflow/tfjs-node-gpu`
 *    (NVIDIA GPU, CUDA 11) or `@tensorflow/tfjs-node` (native CPU).
 * 2. `webgpu` — `@tensorflow/tfjs-backend-webgpu` on the `webgpu` npm package
 *    (Dawn), only when a GPU adapter is found.
 * 3. `wasm` — `@tensorflow/tfjs-backend-wasm`, installed with llmlab; the
 *    default that works everywhere.
 * 4. `cpu` — plain JavaScript, the slow fallback.
 *
 * The native and GPU packages are NOT dependencies of llmlab: their install
 * downloads libtensorflow from outside the npm registry and fails offline. They
 * are looked up at run time, both from llmlab's own folder and from the current
 * working directory, so a user enables them with, e.g.:
 *
 * ```sh
 * npm install @tensorflow/tfjs-node@4.22.0        # native CPU
 * npm install @tensorflow/tfjs-node-gpu@4.22.0    # NVIDIA GPU (CUDA 11.2, cuDNN 8.1)
 * npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0   # WebGPU via Dawn
 * ```
 *
 * (in the notebook's folder or next to llmlab), then restart the kernel.
 * `LLMLAB_BACKEND=tensorflow|webgpu|wasm|cpu` forces one backend; if that
 * backend cannot start, {@link initBackend} fails with an error saying why.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";
import { DISPLAY_SYMBOL, MimeBundle } from "../host";
import * as kernels from "./kernels";

export * as fused from "./fused";

/** The backends llmlab knows, by the names `LLMLAB_BACKEND` accepts. */
export type BackendKind = "tensorflow" | "webgpu" | "wasm" | "cpu";

/** The order in which {@link initBackend} tries backends. */
export const BACKEND_ORDER: readonly BackendKind[] = ["tensorflow", "webgpu", "wasm", "cpu"];

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Force one backend (overrides `LLMLAB_BACKEND`). Fails if it cannot start. */
  backend?: BackendKind;
  /** Print nothing about failed attempts (default true: stay quiet). */
  quiet?: boolean;
}

/** Memory held by tensors right now (from `tf.memory()`). */
export interface DeviceMemory {
  /** Live tensors. */
  numTensors: number;
  /** Bytes held by their data. */
  numBytes: number;
}

/** Where the library's tensors run, as reported by {@link device}. */
export class DeviceInfo {
  constructor(
    /** tfjs backend name: `tensorflow`, `webgpu`, `wasm` or `cpu`. */
    readonly backend: string,
    /** GPU model where known, else the CPU model. */
    readonly deviceName: string,
    /** Whether the backend uses SIMD instructions (wasm: WebAssembly SIMD). */
    readonly simd: boolean,
    /** Threads the backend computes with (wasm in Node: 1). */
    readonly threads: number,
    /** Tensor memory in use when this report was made. */
    readonly memory: DeviceMemory,
    /** The npm package that provides the backend. */
    readonly packageName: string,
    /** Extra kernels llmlab registered for speed or completeness. */
    readonly fastKernels: readonly string[],
    /** Native BLAS behind matrix products (e.g. "native openblas"), or null. */
    readonly blas: string | null = null,
  ) {}

  /** One line, as the kernel banner shows it. */
  toString(): string {
    const mb = (this.memory.numBytes / 2 ** 20).toFixed(1);
    return (
      `${this.backend}${this.blas ? ` (${this.blas})` : ""} on ${this.deviceName} · ${this.simd ? "SIMD" : "no SIMD"} · ` +
      `${this.threads} thread${this.threads === 1 ? "" : "s"} · ` +
      `${this.memory.numTensors} tensors, ${mb} MiB`
    );
  }

  /** Rich display: a short table in notebooks, {@link toString} as plain text. */
  [DISPLAY_SYMBOL](): MimeBundle {
    const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const rows: [string, string][] = [
      ["backend", `${this.backend} (${this.packageName})`],
      ["device", this.deviceName],
      ["SIMD", this.simd ? "yes" : "no"],
      ["matrix products", this.blas ?? "backend kernels"],
      ["threads", String(this.threads)],
      ["tensors", String(this.memory.numTensors)],
      ["memory", `${(this.memory.numBytes / 2 ** 20).toFixed(2)} MiB`],
    ];
    if (this.fastKernels.length) rows.push(["llmlab kernels", this.fastKernels.join(", ")]);
    const html =
      `<table class="llmlab-device">` +
      rows.map(([k, v]) => `<tr><th style="text-align:left">${esc(k)}</th><td style="text-align:left">${esc(v)}</td></tr>`).join("") +
      `</table>`;
    return { "text/plain": this.toString(), "text/html": html };
  }
}

// What we learned while starting the current backend (device names need probing).
interface BackendState {
  backend: string;
  packageName: string;
  deviceName: string;
  simd: boolean;
  threads: number;
  fastKernels: string[];
  blas?: string;
}
let state: BackendState | undefined;

/** Folders to resolve optional packages from: llmlab's own, then the user's cwd. */
function searchRoots(): string[] {
  const roots = [path.resolve(__dirname, "..", "..")];
  if (roots[0].endsWith(path.sep + "dist")) roots[0] = path.dirname(roots[0]);
  roots.push(process.cwd());
  return roots;
}

/**
 * Resolve an optional package, checking that it really is that package: npm
 * `overrides` may alias a name to another package (llmlab itself redirects
 * danfojs's `@tensorflow/tfjs-node` to plain `@tensorflow/tfjs`).
 */
function resolveOptional(name: string): string | undefined {
  for (const root of searchRoots()) {
    let pkgJson: string;
    try {
      pkgJson = require.resolve(`${name}/package.json`, { paths: [root] });
    } catch {
      continue;
    }
    try {
      const pkg = JSON.parse(fs.readFileSync(pkgJson, "utf8"));
      if (pkg.name !== name) continue;
      return require.resolve(name, { paths: [root] });
    } catch {
      continue;
    }
  }
  return undefined;
}

function cpuModel(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() || os.arch();
  return `${model} (${cpus.length} core${cpus.length === 1 ? "" : "s"})`;
}

function nvidiaGpuName(): string | undefined {
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"], {
      timeout: 3000,
      stdio: ["ignore", "pipe", "ignore"],
    });
    const first = out.toString().split("\n")[0].trim();
    return first || undefined;
  } catch {
    return undefined;
  }
}

async function setAndCheck(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
}

async function startTensorflow(): Promise<BackendState> {
  const errors: string[] = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const resolved = resolveOptional(pkg);
    if (!resolved) {
      errors.push(`${pkg} is not installed`);
      continue;
    }
    try {
      require(resolved);
      await setAndCheck("tensorflow");
      const gpu = pkg.endsWith("-gpu") ? nvidiaGpuName() : undefined;
      return {
        backend: "tensorflow",
        packageName: pkg,
        deviceName: gpu ?? cpuModel(),
        simd: true,
        threads: os.cpus().length,
        fastKernels: [],
      };
    } catch (e) {
      errors.push(`${pkg} failed to load: ${(e as Error).message}`);
    }
  }
  throw new Error(errors.join("; ") + " (install one with `npm install @tensorflow/tfjs-node@4.22.0`)");
}

async function startWebgpu(): Promise<BackendState> {
  const dawn = resolveOptional("webgpu");
  const backendPkg = resolveOptional("@tensorflow/tfjs-backend-webgpu");
  if (!dawn || !backendPkg) {
    throw new Error(
      "WebGPU needs the `webgpu` and `@tensorflow/tfjs-backend-webgpu` packages " +
        "(`npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0`)",
    );
  }
  const g = globalThis as any;
  let gpu = g.navigator?.gpu;
  // Dawn keeps Node alive while a GPU object is referenced, so undo our globals if there is no adapter.
  let undo = () => {};
  if (!gpu) {
    const mod = require(dawn);
    if (mod.globals) Object.assign(g, mod.globals);
    gpu = mod.create([]);
    if (!g.navigator) {
      Object.defineProperty(g, "navigator", { value: { gpu }, configurable: true, writable: true });
      undo = () => delete g.navigator;
    } else {
      Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
      undo = () => delete g.navigator.gpu;
    }
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    undo();
    throw new Error("WebGPU found no GPU adapter on this machine");
  }
  let info: any = adapter.info;
  if (!info && typeof adapter.requestAdapterInfo === "function") info = await adapter.requestAdapterInfo();
  require(backendPkg);
  await setAndCheck("webgpu");
  const name = [info?.vendor, info?.device || info?.description || info?.architecture].filter(Boolean).join(" ");
  return {
    backend: "webgpu",
    packageName: "@tensorflow/tfjs-backend-webgpu",
    deviceName: name || "WebGPU adapter",
    simd: true,
    threads: 1,
    fastKernels: [],
  };
}

/**
 * Emscripten's Node runtime (inside tfjs-backend-wasm) installs process-wide
 * `uncaughtException` and `unhandledRejection` listeners that rethrow, which
 * turns any stray error anywhere in the process into a crash — fatal for a
 * kernel that must survive user code. Its own clean-up of them is broken, and
 * the backend may have been started by any tf call before ours (tfjs starts the
 * highest-priority backend on first use), so find them by their source.
 */
function removeEmscriptenCrashListeners(): void {
  const rethrows = (fn: Function) => {
    const src = Function.prototype.toString.call(fn);
    return /ExitStatus/.test(src) || /^function\s*\(reason\)\s*\{\s*throw reason;?\s*\}$/.test(src);
  };
  for (const event of ["uncaughtException", "unhandledRejection"] as const) {
    for (const listener of process.listeners(event as any)) {
      if (rethrows(listener)) process.removeListener(event, listener as (...args: any[]) => void);
    }
  }
}

async function startWasm(): Promise<BackendState> {
  await setAndCheck("wasm");
  removeEmscriptenCrashListeners();
  const wasmPkg = require("@tensorflow/tfjs-backend-wasm");
  let simd = false;
  try {
    simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  } catch {
    simd = false;
  }
  let threads = 1;
  try {
    threads = wasmPkg.getThreadsCount();
  } catch {
    threads = 1;
  }
  return {
    backend: "wasm",
    packageName: "@tensorflow/tfjs-backend-wasm",
    deviceName: cpuModel(),
    simd,
    threads,
    fastKernels: [],
  };
}

async function startCpu(): Promise<BackendState> {
  await setAndCheck("cpu");
  // The cpu backend greets Node users with an install hint on first use; llmlab's
  // module comment already says how to install the native backend.
  const cpuBackend = tf.backend() as unknown as { firstUse?: boolean };
  if (cpuBackend.firstUse) cpuBackend.firstUse = false;
  return {
    backend: "cpu",
    packageName: "@tensorflow/tfjs-backend-cpu",
    deviceName: cpuModel(),
    simd: false,
    threads: 1,
    fastKernels: [],
  };
}

const starters: Record<BackendKind, () => Promise<BackendState>> = {
  tensorflow: startTensorflow,
  webgpu: startWebgpu,
  wasm: startWasm,
  cpu: startCpu,
};

function checkKind(name: string, where: string): BackendKind {
  if ((BACKEND_ORDER as readonly string[]).includes(name)) return name as BackendKind;
  throw new Error(`${where}: unknown backend '${name}'; expected one of ${BACKEND_ORDER.join(", ")}`);
}

/**
 * Switch to one backend now, failing with a clear error if it cannot start.
 * Registers llmlab's extra kernels for it. Tensors made on the previous backend
 * are moved on first use by tfjs.
 */
export async function useBackend(kind: BackendKind): Promise<DeviceInfo> {
  const k = checkKind(kind, "useBackend");
  let next: BackendState;
  try {
    next = await starters[k]();
  } catch (e) {
    throw new Error(`llmlab: backend '${k}' is not available: ${(e as Error).message}`);
  }
  next.fastKernels = kernels.registerFastKernels(next.backend);
  // The speed layer may route matrix products to a native BLAS: report its threads.
  const info = typeof (kernels as any).fastKernelInfo === "function" ? (kernels as any).fastKernelInfo() : undefined;
  if (next.backend === "wasm" && info?.native) {
    next.threads = Math.max(next.threads, info.threads ?? 1);
    next.blas = `native ${info.blas ?? "BLAS"}`;
  }
  state = next;
  return device();
}

/**
 * Pick and start the best backend available (see the module comment for the
 * order), or the one forced by `options.backend` or `LLMLAB_BACKEND`.
 * Returns what was chosen. Safe to call more than once.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<DeviceInfo> {
  const forcedRaw = options.backend ?? process.env.LLMLAB_BACKEND?.trim();
  if (forcedRaw) {
    return useBackend(checkKind(forcedRaw, options.backend ? "initBackend" : "LLMLAB_BACKEND"));
  }
  const failures: string[] = [];
  for (const kind of BACKEND_ORDER) {
    try {
      return await useBackend(kind);
    } catch (e) {
      failures.push((e as Error).message);
      if (options.quiet === false) console.warn(failures[failures.length - 1]);
    }
  }
  throw new Error(`llmlab: no backend could start:\n${failures.join("\n")}`);
}

/**
 * Which of llmlab's backends can start here, in preference order. Probes each
 * (starting it briefly) and restores the current backend afterwards.
 */
export async function availableBackends(): Promise<BackendKind[]> {
  const before = state;
  const beforeName = tf.getBackend();
  const found: BackendKind[] = [];
  for (const kind of BACKEND_ORDER) {
    if (kind === "tensorflow" && !resolveOptional("@tensorflow/tfjs-node") && !resolveOptional("@tensorflow/tfjs-node-gpu")) continue;
    if (kind === "webgpu" && (!resolveOptional("webgpu") || !resolveOptional("@tensorflow/tfjs-backend-webgpu"))) continue;
    try {
      await starters[kind]();
      found.push(kind);
    } catch {
      // not available here
    }
  }
  if (before) await useBackend(checkKind(before.backend, "availableBackends"));
  else if (beforeName) await tf.setBackend(beforeName);
  return found;
}

/**
 * Where tensors run now: backend, device name (GPU model where known, CPU model
 * otherwise), SIMD, threads and the memory tensors hold. Shows as a table in a
 * notebook.
 */
export function device(): DeviceInfo {
  const current = tf.getBackend();
  const mem = tf.memory();
  const memory = { numTensors: mem.numTensors, numBytes: mem.numBytes };
  if (state && state.backend === current) {
    return new DeviceInfo(state.backend, state.deviceName, state.simd, state.threads, memory, state.packageName, state.fastKernels, state.blas ?? null);
  }
  // A backend chosen behind our back (plain tf.setBackend): report what we can.
  return new DeviceInfo(current ?? "none", cpuModel(), false, 1, memory, current ? `tfjs backend '${current}'` : "none", []);
}

/** The name of the tfjs backend in use (`tf.getBackend()`). */
export function backendName(): string {
  return tf.getBackend();
}
