/**
 * Runs compiled cells: their shared variables, `require` from the notebook's
 * folder, interrupts, and error reports whose positions point into the cells.
 *
 * Interrupts, in layers:
 * 1. a shared flag the transport worker sets; compiled cell code checks it at
 *    every loop iteration, function entry and await ({@link instrument}), and
 *    the first check that sees it throws;
 * 2. the synchronous part of a cell runs with `vm` `breakOnSigint`; when the
 *    flag stays unseen (library code without checks is running), the worker
 *    sends the process SIGINT, which breaks any JavaScript;
 * 3. every cell runs in its own AsyncLocalStorage context; an interrupt marks
 *    it aborted, so its async continuations throw at every later `await` — an
 *    awaiting loop stops for good, even one running in the background;
 * 4. the cell's AbortSignal fires, for library loops to stop at a step boundary;
 * 5. the cell's promise is raced against the interrupt, so a cell stuck on a
 *    promise that never settles is released at once.
 */
import * as path from "node:path";
import * as vm from "node:vm";
import Module from "node:module";
import { AsyncLocalStorage } from "node:async_hooks";
import { inspect } from "node:util";
import type { CompiledCell, PositionMapper } from "./compiler";
import { ENTER, RESUME, TICK } from "./instrument";
import { SHARED } from "./transport";

/** Raised in user code when the user interrupts the kernel. */
export class KeyboardInterrupt extends Error {
  constructor(message = "interrupted by the user") {
    super(message);
    this.name = "KeyboardInterrupt";
  }
}

/** What a failed cell reports (the protocol's error content). */
export interface ErrorReport {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** Per-cell state that follows the cell's async work. */
interface CellContext {
  label: string;
  /** Interrupts numbered up to this one were made before the cell started. */
  startSeq: number;
  controller: AbortController;
  aborted: boolean;
  rejectInterrupt: (e: Error) => void;
}

const ARGS_KEY = "__llmlab_cell_args__";
const CELL_FRAME = /In\[([^\]]+)\]:(\d+):(\d+)/;
const RED = "\u001b[0;31m";
const BOLD_RED = "\u001b[1;31m";
const GREEN = "\u001b[0;32m";
const RESET = "\u001b[0m";

/** Stack frames from inside the kernel or Node that mean nothing to the user. */
function isInternalFrame(line: string): boolean {
  return (
    /\(node:|^\s*at node:|\bnode:internal\b|node:vm|node:async_hooks/.test(line) ||
    /[\\/]dist[\\/]kernel[\\/]|[\\/]kernel[\\/]executor\.[jt]s/.test(line) ||
    /\bAsyncLocalStorage\.run\b|\bScript\.runInThisContext\b/.test(line)
  );
}

/** Text of a thrown value that is not an Error, without ever throwing. */
function describe(value: unknown): string {
  try {
    return typeof value === "string" ? value : inspect(value, { depth: 2, colors: false, breakLength: 100 });
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return "[unprintable value]";
    }
  }
}

function safeGet(obj: any, key: string): unknown {
  try {
    return obj[key];
  } catch {
    return undefined;
  }
}

/** Runs compiled cells in this process's main context. */
export class Executor {
  /** Variables shared by all cells (the converter rewrites references to them as `exports.x`). */
  readonly exports: Record<string, unknown>;
  private readonly store = new AsyncLocalStorage<CellContext>();
  private current: CellContext | undefined;
  private readonly cells = new Map<string, { source: string; map: PositionMapper; lines: number }>();
  private readonly sideOutputs = new Map<string, string>();
  private readonly sideModules = new Map<string, Module>();
  private readonly cellRequire: NodeJS.Require;
  private readonly hooks: { tick: () => void; enter: () => void; resume: <T>(v: T) => T };

  /**
   * @param flags the shared control words ({@link SHARED}).
   * @param cwd the notebook's folder (relative requires and files).
   * @param root the project root (`llmlab`, fallback npm packages).
   */
  constructor(
    private readonly flags: Int32Array,
    private readonly cwd: string,
    private readonly root: string,
  ) {
    this.exports = createExports();
    this.cellRequire = this.makeRequire(cwd);
    const flag = this.flags;
    const onFlag = () => this.interruptedHere();
    const store = this.store;
    // The flag is consumed by the first check that sees it, so the interrupt is
    // raised once (catch/finally blocks and abort listeners then run normally);
    // an aborted cell's async work keeps throwing at every await.
    const pending = () => Atomics.load(flag, SHARED.INTERRUPT) !== 0 && Atomics.compareExchange(flag, SHARED.INTERRUPT, 1, 0) === 1;
    this.hooks = {
      tick: () => {
        if (pending()) onFlag();
      },
      enter: () => {
        if (pending()) onFlag();
      },
      resume: <T>(value: T): T => {
        if (pending()) onFlag();
        if (store.getStore()?.aborted) throw new KeyboardInterrupt();
        return value;
      },
    };
  }

  /** How many interrupts were requested so far. */
  interruptCount(): number {
    return Atomics.load(this.flags, SHARED.INTERRUPT_SEQ);
  }

  /** True while a cell runs. */
  get running(): boolean {
    return this.current !== undefined;
  }

  /** The abort signal of the cell whose code is running (or of the current cell). */
  signal(): AbortSignal | undefined {
    return (this.store.getStore() ?? this.current)?.controller.signal;
  }

  /** Called by instrumented code that saw the interrupt flag. */
  private interruptedHere(): never {
    const ctx = this.store.getStore();
    if (ctx) this.abort(ctx);
    if (this.current) this.abort(this.current);
    throw new KeyboardInterrupt();
  }

  private abort(ctx: CellContext): void {
    if (ctx.aborted) return;
    ctx.aborted = true;
    const reason = new KeyboardInterrupt();
    try {
      ctx.controller.abort(reason);
    } catch (e) {
      // An abort listener threw; the interrupt still happens.
      process.emitWarning(`an abort listener threw: ${(e as Error)?.message ?? e}`);
    }
    ctx.rejectInterrupt(reason);
  }

  /**
   * The user interrupted (interrupt_request number `seq`), seen from the event
   * loop. Aborts the running cell if it started before the request; when no
   * cell runs there is nothing to stop.
   */
  interrupt(seq: number): void {
    const cell = this.current;
    if (cell && seq <= cell.startSeq) return;
    // No cell code runs while the event loop is here: deliver the interrupt
    // through the cell's context instead of the flag.
    Atomics.store(this.flags, SHARED.INTERRUPT, 0);
    if (cell) this.abort(cell);
  }

  /** A SIGINT reached the process's handler: the worker's own (already handled) or the user's Ctrl-C. */
  onSigint(): void {
    if (this.takePendingSigint()) return;
    this.interrupt(Atomics.add(this.flags, SHARED.INTERRUPT_SEQ, 1) + 1);
  }

  private takePendingSigint(): boolean {
    for (;;) {
      const pending = Atomics.load(this.flags, SHARED.PENDING_SIGINTS);
      if (pending <= 0) return false;
      if (Atomics.compareExchange(this.flags, SHARED.PENDING_SIGINTS, pending, pending - 1) === pending) return true;
    }
  }

  /**
   * Runs a compiled cell and returns the value of its last expression
   * (`value` is `undefined` when it has none; boxed so that a Promise value is
   * shown, not awaited). Throws what the cell throws; an interrupt throws
   * {@link KeyboardInterrupt}.
   * @param label the cell's name in stack traces: `In[label]`.
   * @param startSeq the interrupt count when the request arrived ({@link interruptCount}):
   *   an interrupt while it waited or compiled stops it too.
   */
  async run(label: string, source: string, cell: CompiledCell, startSeq = this.interruptCount()): Promise<{ value: unknown }> {
    this.cells.set(label, { source, map: cell.mapPosition, lines: cell.code.split("\n").length });
    for (const out of cell.sideOutputs) {
      this.sideOutputs.set(out.path, out.data);
      this.sideModules.delete(out.path);
    }
    if (Atomics.load(this.flags, SHARED.INTERRUPT_SEQ) > startSeq) {
      Atomics.store(this.flags, SHARED.INTERRUPT, 0);
      throw new KeyboardInterrupt();
    }
    if (!cell.code) return { value: undefined };
    let rejectInterrupt!: (e: Error) => void;
    const interrupted = new Promise<never>((_, reject) => (rejectInterrupt = reject));
    interrupted.catch(() => {});
    const ctx: CellContext = {
      label,
      startSeq,
      controller: new AbortController(),
      aborted: false,
      rejectInterrupt,
    };
    // An interrupt made while no cell ran is not for this one.
    Atomics.store(this.flags, SHARED.INTERRUPT, 0);
    this.current = ctx;
    try {
      const header = `(${cell.isAsync ? "async " : ""}function (exports, require, module, __filename, __dirname, ${TICK}, ${ENTER}, ${RESUME}) {`;
      const wrapped = `${header}\n${cell.code}\n}).apply(undefined, globalThis.${ARGS_KEY})`;
      const script = new vm.Script(wrapped, { filename: `In[${label}]` });
      const filename = path.join(this.cwd, `In[${label}]`);
      const moduleObj = { exports: this.exports, require: this.cellRequire, id: filename, filename, loaded: true };
      const args = [this.exports, this.cellRequire, moduleObj, filename, this.cwd, this.hooks.tick, this.hooks.enter, this.hooks.resume];
      (globalThis as any)[ARGS_KEY] = args;
      let returned: unknown;
      Atomics.add(this.flags, SHARED.SCRIPT_ID, 1);
      Atomics.store(this.flags, SHARED.IN_SCRIPT, 1);
      try {
        returned = this.store.run(ctx, () => script.runInThisContext({ breakOnSigint: true }));
      } finally {
        Atomics.store(this.flags, SHARED.IN_SCRIPT, 0);
        delete (globalThis as any)[ARGS_KEY];
      }
      if (cell.isAsync) await Promise.race([returned, interrupted]);
      if (ctx.aborted) throw new KeyboardInterrupt();
      if (!cell.lastExpressionVar) return { value: undefined };
      const value = this.exports[cell.lastExpressionVar];
      delete this.exports[cell.lastExpressionVar];
      return { value };
    } catch (e) {
      if ((e as any)?.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED") {
        // breakOnSigint consumed the signal, so the process handler never sees it.
        this.takePendingSigint();
        throw new KeyboardInterrupt();
      }
      if (ctx.aborted && !(e instanceof KeyboardInterrupt)) {
        // The interrupt made the cell fail some other way; report the interrupt.
        throw new KeyboardInterrupt();
      }
      throw e;
    } finally {
      if (cell.lastExpressionVar) delete this.exports[cell.lastExpressionVar];
      this.current = undefined;
      Atomics.store(this.flags, SHARED.INTERRUPT, 0);
    }
  }

  /** Describes a thrown value for an error reply, with positions mapped into the cells. */
  report(error: unknown): ErrorReport {
    if (error instanceof KeyboardInterrupt) {
      return {
        ename: "KeyboardInterrupt",
        evalue: error.message,
        traceback: [`${BOLD_RED}KeyboardInterrupt${RESET}: ${error.message} (the kernel is alive; variables are kept)`],
      };
    }
    const isErrorLike = error instanceof Error || (error !== null && typeof error === "object" && typeof safeGet(error, "stack") === "string");
    if (!isErrorLike) {
      const text = describe(error);
      return { ename: "Uncaught", evalue: text, traceback: [`${BOLD_RED}Uncaught${RESET} ${text}`] };
    }
    const name = String(safeGet(error, "name") ?? "Error");
    const message = String(safeGet(error, "message") ?? "");
    const stack = String(safeGet(error, "stack") ?? "");
    const frames: string[] = [];
    let firstCell: { label: string; line: number } | undefined;
    for (const line of stack.split("\n")) {
      if (!/^\s+at /.test(line)) continue;
      if (isInternalFrame(line)) continue;
      // Cell functions are called as methods of the variables object (a Proxy).
      const tidy = line.replace(/\bat (async )?Proxy\./, "at $1");
      const m = CELL_FRAME.exec(tidy);
      if (m) {
        const cell = this.cells.get(m[1]);
        // Line 1 of the script is the wrapper's header, the line after the code its call.
        const codeLine = Number(m[2]) - 2;
        if (cell && codeLine >= cell.lines) continue;
        const pos = cell?.map(codeLine, Number(m[3]) - 1);
        if (pos) {
          firstCell ??= { label: m[1], line: pos.line };
          frames.push(tidy.replace(CELL_FRAME, `In[${m[1]}]:${pos.line + 1}:${pos.column + 1}`));
          continue;
        }
      }
      frames.push(tidy);
    }
    const traceback = [`${BOLD_RED}${name}${RESET}: ${message}`, ...frames];
    if (firstCell) traceback.push("", ...this.excerpt(firstCell.label, firstCell.line));
    return { ename: name, evalue: message, traceback };
  }

  /** A few lines of a cell around `line`, the way IPython shows them. */
  excerpt(label: string, line: number): string[] {
    const cell = this.cells.get(label);
    if (!cell) return [];
    const lines = cell.source.split("\n");
    const from = Math.max(0, line - 2);
    const to = Math.min(lines.length, line + 3);
    const width = String(to).length;
    const out = [`${GREEN}In[${label}]${RESET}, line ${line + 1}:`];
    for (let i = from; i < to; i++) {
      const num = String(i + 1).padStart(width);
      out.push(i === line ? `${RED}--> ${num}${RESET} ${lines[i]}` : `    ${num} ${lines[i]}`);
    }
    return out;
  }

  /** `require` for cells: the notebook folder first, then this project; `llmlab` is always this project. */
  private makeRequire(fromDir: string): NodeJS.Require {
    const base = Module.createRequire(path.join(fromDir, "__llmlab_cell__.js"));
    const fromRoot = Module.createRequire(path.join(this.root, "package.json"));
    const root = this.root;
    const req = ((id: string) => {
      if (typeof id !== "string") throw new TypeError(`require expects a module name, got ${typeof id}`);
      if (id === "llmlab" || id.startsWith("llmlab/")) return fromRoot(path.join(root, id.slice("llmlab".length)));
      if (id.startsWith("./") || id.startsWith("../")) {
        const side = this.requireSideOutput(path.resolve(fromDir, id));
        if (side !== undefined) return side;
      }
      try {
        return base(id);
      } catch (e) {
        const bare = !id.startsWith(".") && !path.isAbsolute(id);
        if (bare && (e as any)?.code === "MODULE_NOT_FOUND") {
          try {
            return fromRoot(id);
          } catch {
            // Report the lookup from the notebook's folder, which is what the user expects.
          }
        }
        throw e;
      }
    }) as NodeJS.Require;
    req.resolve = ((id: string, options?: { paths?: string[] }) => {
      if (id === "llmlab" || id.startsWith("llmlab/")) return fromRoot.resolve(path.join(root, id.slice("llmlab".length)), options);
      try {
        return base.resolve(id, options);
      } catch (e) {
        if (!id.startsWith(".") && !path.isAbsolute(id)) return fromRoot.resolve(id, options);
        throw e;
      }
    }) as NodeJS.RequireResolve;
    req.resolve.paths = base.resolve.paths;
    req.cache = base.cache;
    req.main = base.main;
    req.extensions = base.extensions;
    return req;
  }

  /** Loads a local TypeScript module the converter compiled for a cell (`import ... from "./util"`). */
  private requireSideOutput(file: string): unknown {
    const filename = path.extname(file) === "" ? file + ".js" : file.replace(/\.ts$/, ".js");
    const cached = this.sideModules.get(filename);
    if (cached) return cached.exports;
    const code = this.sideOutputs.get(filename);
    if (code === undefined) return undefined;
    const mod = new Module(filename, module);
    mod.filename = filename;
    mod.paths = (Module as any)._nodeModulePaths(path.dirname(filename));
    mod.require = this.makeRequire(path.dirname(filename));
    this.sideModules.set(filename, mod);
    try {
      (mod as any)._compile(code, filename);
    } catch (e) {
      this.sideModules.delete(filename);
      throw e;
    }
    mod.loaded = true;
    return mod.exports;
  }
}

/**
 * The object holding the cells' variables. TypeScript's CommonJS output
 * defines imports with `Object.defineProperty` getters; storing plain values
 * instead keeps them reassignable by later cells.
 */
function createExports(): Record<string, unknown> {
  const target: Record<string, unknown> = Object.create(null);
  return new Proxy(target, {
    defineProperty(_t, prop, attributes) {
      if (prop === "__esModule") return true;
      (target as any)[prop] = attributes.get ? attributes.get() : attributes.value;
      return true;
    },
  });
}
