/**
 * The kernel's main thread: handles shell requests one at a time (execute,
 * complete, inspect, is_complete, history, comms), runs cells, and installs the
 * notebook globals. Sockets live in the transport worker (transport.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { randomUUID } from "node:crypto";
import { setHost } from "../lib/host";
import { CellCompiler, CompileError, projectRoot } from "./compiler";
import { Executor, ErrorReport, KeyboardInterrupt } from "./executor";
import { createDisplay, formatValue, hidePromiseBookkeeping, isDisplayHandle, plainText } from "./display";
import { GLOBALS_SOURCE } from "./globals";
import { History } from "./history";
import { CommRegistry } from "./comm";
import { StreamCapture } from "./streams";
import { FromTransport, SHARED, STDIN, STDIN_BUFFER_BYTES, ToTransport, TransportOptions, log } from "./transport";
import { ConnectionInfo, Header, Message, checkConnectionInfo, makeMessage, replyType, PROTOCOL_VERSION } from "./wire";
import type * as TS from "typescript";

/** How to start a kernel. */
export interface KernelOptions {
  /** Path of the connection file Jupyter wrote. */
  connectionFile: string;
  /** TypeScript file run before the first cell; null for none. */
  prelude: string | null;
  /** Log protocol traffic to stderr. */
  debug?: boolean;
}

/** The llmlab version (package.json). */
export function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(projectRoot(), "package.json"), "utf8")).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

function typescriptVersion(): string {
  try {
    const pkg = require.resolve("@tslab/typescript-for-tslab/package.json", { paths: [path.dirname(require.resolve("tslab/package.json"))] });
    return JSON.parse(fs.readFileSync(pkg, "utf8")).version;
  } catch {
    return "5";
  }
}

/** The prelude to run: `--prelude FILE`, else $LLMLAB_PRELUDE, else kernel/prelude.ts (empty string = none). */
export function resolvePrelude(flag: string | undefined): string | null {
  const chosen = flag ?? process.env.LLMLAB_PRELUDE;
  if (chosen === "") return null;
  if (chosen !== undefined) return path.resolve(chosen);
  const fallback = path.join(projectRoot(), "kernel", "prelude.ts");
  return fs.existsSync(fallback) ? fallback : null;
}

/** A request handed over by the transport. */
interface Request {
  channel: "shell" | "control";
  identities: Uint8Array[];
  msg: Message;
}

/** Code point offset (protocol) → UTF-16 offset (JavaScript strings). */
function toUtf16(text: string, codePoints: number): number {
  let offset = 0;
  for (let i = 0; i < codePoints && offset < text.length; i++) {
    offset += (text.codePointAt(offset) ?? 0) > 0xffff ? 2 : 1;
  }
  return offset;
}

/** UTF-16 offset → code point offset. */
function toCodePoints(text: string, utf16: number): number {
  return [...text.slice(0, Math.max(0, utf16))].length;
}

const COMPLETION_TYPES: Record<string, string> = {
  function: "function",
  "local function": "function",
  method: "method",
  property: "property",
  getter: "property",
  setter: "property",
  var: "variable",
  let: "variable",
  const: "constant",
  "local var": "variable",
  parameter: "variable",
  class: "class",
  "local class": "class",
  interface: "interface",
  type: "type",
  enum: "enum",
  "enum member": "enum member",
  module: "module",
  "external module name": "module",
  alias: "module",
  keyword: "keyword",
  "type parameter": "type parameter",
  constructor: "class",
  string: "text",
};

/** The kernel: one per process. */
export class Kernel {
  private readonly session = randomUUID();
  private readonly shared = new SharedArrayBuffer(SHARED.SIZE * Int32Array.BYTES_PER_ELEMENT);
  private readonly flags = new Int32Array(this.shared);
  private readonly stdinBuffer = new SharedArrayBuffer(STDIN_BUFFER_BYTES);
  private readonly root = projectRoot();
  private readonly cwd = process.cwd();
  private readonly executor = new Executor(this.flags, this.cwd, this.root);
  private readonly history = new History();
  private readonly streams: StreamCapture;
  private readonly comms: CommRegistry;
  private readonly kernelInfo: Record<string, unknown>;
  private worker!: Worker;
  private compiler: CellCompiler | undefined;
  private ready!: Promise<void>;
  private initError: unknown;
  private preludeReport: string | undefined;
  private executionCount = 0;
  private silentCount = 0;
  private readonly queue: Array<Request | { barrier: number }> = [];
  private pumping = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private aborting = false;
  private barrier = 0;
  /** Parent of output produced now (the running request, or the last execute). */
  private outputParent: Partial<Header> = {};
  /** The execute request running now (for stdin requests). */
  private currentExecute: Request | undefined;
  private pendingInput: { resolve: (v: string) => void; reject: (e: Error) => void } | undefined;
  private exiting = false;
  private onTransportReady: () => void = () => {};

  constructor(
    private readonly connection: ConnectionInfo,
    private readonly options: KernelOptions,
  ) {
    this.streams = new StreamCapture((name, text) => this.publish("stream", { name, text }, this.outputParent, false));
    this.comms = new CommRegistry(
      (msgType, content, opts) => this.publish(msgType, content, this.outputParent, true, opts?.metadata, opts?.buffers),
      (e) => this.reportBackground(e, "error in a comm handler"),
    );
    const v = version();
    this.kernelInfo = {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "llmlab",
      implementation_version: v,
      language_info: {
        name: "typescript",
        version: typescriptVersion(),
        mimetype: "text/typescript",
        file_extension: ".ts",
        // A CodeMirror mode name: classic Notebook and JupyterLab both resolve "typescript"
        // by name ("text/typescript" is not in classic Notebook's mode list, so it shows plain text).
        codemirror_mode: "typescript",
        pygments_lexer: "typescript",
        nbconvert_exporter: "script",
      },
      banner: `LLM Lab (TypeScript) ${v} on Node.js ${process.version}`,
      help_links: [
        { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/intro.html" },
        { text: "TensorFlow.js API", url: "https://js.tensorflow.org/api/latest/" },
        { text: "Node.js API", url: "https://nodejs.org/docs/latest-v20.x/api/" },
      ],
      debugger: false,
    };
  }

  /** Our own crash listeners, and foreign ones already wrapped by {@link disarmForeignCrashListeners}. */
  private readonly safeListeners = new WeakSet<Function>();

  /**
   * A library may add an `uncaughtException` / `unhandledRejection` listener
   * that rethrows (Emscripten runtimes do), and a throw inside such a listener
   * is fatal in Node. After the prelude and after every cell, wrap any new
   * foreign listener so that what it throws is reported instead of killing
   * the kernel; the listener still runs.
   */
  private disarmForeignCrashListeners(): void {
    for (const event of ["uncaughtException", "unhandledRejection"] as const) {
      for (const listener of process.listeners(event as any) as Array<(...args: any[]) => void>) {
        if (this.safeListeners.has(listener)) continue;
        const wrapped = (...args: any[]) => {
          try {
            listener(...args);
          } catch (e) {
            this.reportBackground(e, event === "uncaughtException" ? "uncaught exception" : "unhandled promise rejection");
          }
        };
        this.safeListeners.add(wrapped);
        process.removeListener(event, listener);
        process.on(event as any, wrapped);
      }
    }
  }

  /** Starts the transport and, in the background, the compiler and the prelude. */
  start(): void {
    // A signal never kills the kernel: it interrupts the running cell.
    process.on("SIGINT", () => {
      this.executor.onSigint();
      this.rejectInput();
    });
    const onUncaught = (e: unknown) => this.reportBackground(e, "uncaught exception");
    const onRejection = (reason: unknown) => this.reportBackground(reason, "unhandled promise rejection");
    this.safeListeners.add(onUncaught).add(onRejection);
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onRejection);
    this.guardProcessExit();
    this.streams.install();
    hidePromiseBookkeeping();
    this.installGlobals();

    const transport: TransportOptions = {
      connection: this.connection,
      session: this.session,
      kernelInfo: this.kernelInfo,
      shared: this.shared,
      stdinBuffer: this.stdinBuffer,
      debug: this.options.debug === true,
    };
    this.worker = new Worker(path.join(__dirname, "transport.js"), { workerData: { llmlabTransport: transport } });
    this.worker.on("message", (m: FromTransport) => this.onTransport(m));
    this.worker.on("error", (e) => {
      log(`transport worker crashed: ${e.stack ?? e}`);
      this.hardExit(1);
    });
    // Load the compiler (a second of CPU) once the sockets are bound, so that it
    // does not compete with the transport's start-up; kernel_info is answered
    // by the worker meanwhile.
    this.ready = new Promise<void>((resolve) => (this.onTransportReady = resolve)).then(() => this.initialize());
  }

  private async initialize(): Promise<void> {
    try {
      this.compiler = new CellCompiler(this.root, GLOBALS_SOURCE);
    } catch (e) {
      this.initError = e;
      log(`cannot start the TypeScript compiler: ${(e as Error)?.stack ?? e}`);
      return;
    }
    const prelude = this.options.prelude;
    if (!prelude) return;
    let source: string;
    try {
      source = fs.readFileSync(prelude, "utf8");
    } catch (e) {
      this.preludeReport = `llmlab: cannot read the prelude ${prelude}: ${(e as Error).message}\n`;
      return;
    }
    if (source.trim() === "") return;
    try {
      const compiled = this.compiler.compile(source);
      try {
        await this.executor.run("prelude", source, compiled);
      } finally {
        this.compiler.commit(compiled);
        this.disarmForeignCrashListeners();
      }
    } catch (e) {
      const report = e instanceof CompileError ? this.compileReport(e, "prelude", source) : this.executor.report(e);
      this.preludeReport = `llmlab: the prelude ${prelude} failed:\n${report.traceback.join("\n")}\n`;
      log(this.preludeReport.replace(/\u001b\[[0-9;]*m/g, ""));
    }
  }

  // ---- transport ---------------------------------------------------------------------

  private post(m: ToTransport): void {
    if (!this.exiting || m.kind === "exit") this.worker.postMessage(m);
  }

  private send(channel: "shell" | "control" | "stdin" | "iopub", identities: Uint8Array[], msg: Message): void {
    this.post({ kind: "send", channel, identities, msg });
  }

  /** Publishes on iopub; flushes captured output first so messages stay in order. */
  private publish(
    msgType: string,
    content: Record<string, unknown>,
    parent: Partial<Header> = this.outputParent,
    flush = true,
    metadata: Record<string, unknown> = {},
    buffers: Uint8Array[] = [],
  ): void {
    if (flush) this.streams.flush();
    const msg = makeMessage(msgType, content, parent, this.session, metadata);
    msg.buffers = buffers;
    this.send("iopub", [], msg);
  }

  private reply(req: Request, content: Record<string, unknown>, metadata: Record<string, unknown> = {}): void {
    this.streams.flush();
    this.send(req.channel, req.identities, makeMessage(replyType(req.msg.header.msg_type), content, req.msg.header, this.session, metadata));
  }

  private onTransport(m: FromTransport): void {
    switch (m.kind) {
      case "request":
        this.queue.push({ channel: m.channel, identities: m.identities, msg: m.msg });
        void this.pump();
        break;
      case "interrupt":
        this.executor.interrupt(m.seq);
        this.rejectInput();
        break;
      case "stdin_reply":
        this.pendingInput?.resolve(m.value);
        this.pendingInput = undefined;
        break;
      case "sync":
        this.queue.push({ barrier: m.token });
        void this.pump();
        break;
      case "shutdown":
        this.shutdown();
        break;
      case "closed":
        this.realExit(0);
        break;
      case "fatal":
        log(m.error);
        this.hardExit(1);
        break;
      case "ready":
        this.onTransportReady();
        break;
    }
  }

  private rejectInput(): void {
    if (this.pendingInput) {
      this.pendingInput.reject(new KeyboardInterrupt());
      this.pendingInput = undefined;
    }
  }

  private shutdown(): void {
    if (this.exiting) return;
    this.streams.flush();
    this.exiting = true;
    try {
      this.compiler?.close();
    } catch {
      // Closing watchers cannot fail in a way that matters at exit.
    }
    this.post({ kind: "exit" });
  }

  private realExit: (code?: number) => never = process.exit.bind(process);

  private hardExit(code: number): void {
    // Only reached when the worker is gone or never bound its sockets.
    this.realExit(code);
  }

  /**
   * `process.exit()` in a cell would kill the kernel (and with it every
   * variable); make it an error instead, like SystemExit in IPython. The
   * kernel itself exits through {@link realExit}.
   */
  private guardProcessExit(): void {
    process.exit = ((code?: number) => {
      const e = new Error(`process.exit(${code ?? ""}) does not stop the kernel; use Kernel → Restart or Shut Down`);
      e.name = "SystemExit";
      throw e;
    }) as typeof process.exit;
  }

  /** An error outside any cell (a timer, a promise nobody awaited): shown on stderr, never fatal. */
  private reportBackground(error: unknown, what: string): void {
    try {
      const report = this.executor.report(error);
      this.streams.write("stderr", `${what}: ${report.traceback.join("\n")}\n`);
      this.streams.flush();
    } catch (e) {
      log(`${what}: ${String(error)} (and reporting it failed: ${String(e)})`);
    }
  }

  // ---- the request queue -------------------------------------------------------------

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.exiting) {
        const item = this.queue.shift()!;
        if ("barrier" in item) {
          if (item.barrier === this.barrier) this.aborting = false;
          continue;
        }
        try {
          await this.handle(item);
        } catch (e) {
          log(`error handling ${item.msg.header.msg_type}: ${(e as Error)?.stack ?? e}`);
        } finally {
          this.post({ kind: "done" });
        }
      }
    } finally {
      this.pumping = false;
    }
    this.scheduleIdleWork();
  }

  /** Once no request has come for a moment, lets the compiler do upkeep that would otherwise delay a cell. */
  private scheduleIdleWork(): void {
    if (!this.compiler?.refreshDue || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pumping || this.queue.length > 0 || this.exiting || this.executor.running) return;
      try {
        this.compiler?.refreshIfDue();
      } catch (e) {
        log(`compiler upkeep failed: ${(e as Error)?.stack ?? e}`);
      }
    }, 200);
    this.idleTimer.unref();
  }

  /** Aborts execute requests already received (stop_on_error), like ipykernel. */
  private startAborting(): void {
    this.aborting = true;
    // Everything the worker received before this barrier comes back before it.
    this.post({ kind: "sync", token: ++this.barrier });
  }

  private async handle(req: Request): Promise<void> {
    const { msg } = req;
    const type = msg.header.msg_type;
    this.publish("status", { execution_state: "busy" }, msg.header);
    try {
      if (type === "execute_request" && this.aborting) {
        this.reply(req, { status: "aborted" }, { status: "aborted", engine: this.session });
      } else {
        await this.dispatch(req);
      }
    } catch (e) {
      const reason = (e as Error)?.message ?? String(e);
      log(`${type} failed: ${reason}`);
      if (this.options.debug) log(String((e as Error)?.stack));
      if (type.endsWith("_request")) {
        this.reply(req, { status: "error", ename: (e as Error)?.name ?? "Error", evalue: reason, traceback: [reason] });
      }
    } finally {
      this.publish("status", { execution_state: "idle" }, msg.header);
    }
  }

  private async dispatch(req: Request): Promise<void> {
    const c = req.msg.content;
    switch (req.msg.header.msg_type) {
      case "execute_request":
        return this.execute(req);
      case "complete_request":
        return this.complete(req);
      case "inspect_request":
        return this.inspect(req);
      case "is_complete_request":
        return this.isComplete(req);
      case "history_request":
        return this.historyRequest(req);
      case "kernel_info_request":
        return this.reply(req, this.kernelInfo);
      case "connect_request":
        return this.reply(req, {
          status: "ok",
          shell_port: this.connection.shell_port,
          iopub_port: this.connection.iopub_port,
          stdin_port: this.connection.stdin_port,
          hb_port: this.connection.hb_port,
          control_port: this.connection.control_port,
        });
      case "comm_info_request":
        return this.reply(req, { status: "ok", comms: this.comms.info(c.target_name) });
      case "comm_open":
        this.outputParent = req.msg.header;
        return this.comms.handleOpen(c, req.msg.buffers);
      case "comm_msg":
        this.outputParent = req.msg.header;
        return this.comms.handleMessage(c, req.msg.buffers);
      case "comm_close":
        return this.comms.handleClose(c);
      default:
        throw new Error(`unsupported message type ${req.msg.header.msg_type}`);
    }
  }

  private async waitForCompiler(): Promise<CellCompiler> {
    await this.ready;
    if (!this.compiler) throw new Error(`the TypeScript compiler failed to start: ${(this.initError as Error)?.message ?? this.initError}`);
    return this.compiler;
  }

  // ---- execute -----------------------------------------------------------------------

  private async execute(req: Request): Promise<void> {
    const c = req.msg.content;
    if (typeof c.code !== "string") throw new TypeError("execute_request content.code must be a string");
    const code: string = c.code;
    const silent = c.silent === true;
    const storeHistory = silent ? false : c.store_history !== false;
    const stopOnError = c.stop_on_error !== false;
    const userExpressions = c.user_expressions && typeof c.user_expressions === "object" ? (c.user_expressions as Record<string, unknown>) : {};
    const started = new Date().toISOString();

    const startSeq = this.executor.interruptCount();
    if (storeHistory) this.executionCount++;
    const count = this.executionCount;
    if (!silent) this.publish("execute_input", { code, execution_count: count }, req.msg.header);
    this.outputParent = req.msg.header;
    this.currentExecute = req;

    let error: ErrorReport | undefined;
    let value: unknown;
    let resultText: string | undefined;
    try {
      const compiler = await this.waitForCompiler();
      if (this.preludeReport) {
        this.streams.write("stderr", this.preludeReport);
        this.preludeReport = undefined;
      }
      const label = storeHistory ? String(count) : `s${++this.silentCount}`;
      let compiled;
      try {
        compiled = compiler.compile(code);
      } catch (e) {
        if (e instanceof CompileError) error = this.compileReport(e, label, code);
        else throw e;
      }
      if (compiled) {
        try {
          ({ value } = await this.executor.run(label, code, compiled, startSeq));
        } catch (e) {
          error = this.executor.report(e);
        } finally {
          // Keep what the cell defined even when it failed half way, as Python does.
          compiler.commit(compiled);
          this.disarmForeignCrashListeners();
        }
      }
    } catch (e) {
      error = this.executor.report(e);
    }
    // Let callbacks the cell scheduled for "right after" print under this cell.
    await new Promise((resolve) => setImmediate(resolve));

    if (!error && value !== undefined && !isDisplayHandle(value)) {
      const formatted = formatValue(value);
      resultText = typeof formatted.data["text/plain"] === "string" ? (formatted.data["text/plain"] as string) : undefined;
      if (!silent) {
        this.publish("execute_result", { execution_count: count, data: formatted.data, metadata: formatted.metadata }, req.msg.header);
      }
    }
    let expressions: Record<string, unknown> = {};
    if (!error) expressions = await this.evaluateExpressions(userExpressions);
    if (error && !silent) this.publish("error", { ...error }, req.msg.header);
    this.currentExecute = undefined;

    const status = error ? "error" : "ok";
    const content: Record<string, unknown> = error
      ? { status, execution_count: count, ...error, user_expressions: {}, payload: [] }
      : { status, execution_count: count, user_expressions: expressions, payload: [] };
    this.reply(req, content, { started, dependencies_met: true, engine: this.session, status });
    if (storeHistory) this.history.store(count, code, resultText);
    if (error && stopOnError && !silent) this.startAborting();
  }

  private async evaluateExpressions(expressions: Record<string, unknown>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, expr] of Object.entries(expressions)) {
      if (typeof expr !== "string") {
        out[name] = { status: "error", ename: "TypeError", evalue: "user expression must be a string", traceback: [] };
        continue;
      }
      const label = `expr${++this.silentCount}`;
      try {
        const compiled = this.compiler!.compile(expr);
        const { value } = await this.executor.run(label, expr, compiled);
        const formatted = formatValue(value);
        out[name] = { status: "ok", data: formatted.data, metadata: formatted.metadata };
      } catch (e) {
        const report = e instanceof CompileError ? this.compileReport(e, label, expr) : this.executor.report(e);
        out[name] = { status: "error", ...report };
      }
    }
    return out;
  }

  /** An error report for type and syntax errors, with the cell's line and column. */
  private compileReport(e: CompileError, label: string, source: string): ErrorReport {
    const lines = source.split("\n");
    const traceback: string[] = [];
    const where = (d: CompileError["diagnostics"][number]) =>
      `${d.fileName ?? `In[${label}]`} line ${d.line + 1}, column ${d.column + 1}`;
    for (const d of e.diagnostics) {
      traceback.push(`\u001b[1;31mTSError\u001b[0m: ${where(d)}: ${d.message} (TS${d.code})`);
      if (!d.fileName && d.line < lines.length) {
        const num = String(d.line + 1);
        traceback.push(`\u001b[0;31m--> ${num}\u001b[0m ${lines[d.line]}`);
        const width = d.endLine === d.line ? Math.max(1, d.endColumn - d.column) : 1;
        traceback.push(`    ${" ".repeat(num.length)} ${" ".repeat(d.column)}${"^".repeat(width)}`);
      }
    }
    const first = e.diagnostics[0];
    return { ename: "TSError", evalue: `${where(first)}: ${first.message}`, traceback };
  }

  // ---- complete / inspect / is_complete / history ----------------------------------

  private async complete(req: Request): Promise<void> {
    const c = req.msg.content;
    if (typeof c.code !== "string") throw new TypeError("complete_request content.code must be a string");
    const code: string = c.code;
    const cursor = typeof c.cursor_pos === "number" ? c.cursor_pos : [...code].length;
    const compiler = await this.waitForCompiler();
    const info = compiler.complete(code, toUtf16(code, cursor));
    const kinds = new Map<string, TS.CompletionEntry>();
    for (const entry of info.original?.entries ?? []) if (!kinds.has(entry.name)) kinds.set(entry.name, entry);
    const matches = info.candidates;
    const start = toCodePoints(code, info.start);
    const end = toCodePoints(code, info.end);
    this.reply(req, {
      status: "ok",
      matches,
      cursor_start: start,
      cursor_end: end,
      metadata: {
        _jupyter_types_experimental: matches.map((text) => {
          const kind = kinds.get(text)?.kind ?? "";
          return { start, end, text, type: COMPLETION_TYPES[kind] ?? (kind || "<unknown>") };
        }),
      },
    });
  }

  private async inspect(req: Request): Promise<void> {
    const c = req.msg.content;
    if (typeof c.code !== "string") throw new TypeError("inspect_request content.code must be a string");
    const code: string = c.code;
    const cursor = toUtf16(code, typeof c.cursor_pos === "number" ? c.cursor_pos : [...code].length);
    const detail = c.detail_level === 1 ? 1 : 0;
    const compiler = await this.waitForCompiler();
    // At the end of a name the cursor is just past it: look one character back too.
    const info = compiler.inspect(code, cursor) ?? (cursor > 0 ? compiler.inspect(code, cursor - 1) : undefined);
    if (!info) {
      this.reply(req, { status: "ok", found: false, data: {}, metadata: {} });
      return;
    }
    const ts = compiler.ts;
    const signature = ts.displayPartsToString(info.displayParts);
    const doc = ts.displayPartsToString(info.documentation);
    const tags = (info.tags ?? []).filter((t) => detail === 1 || ["param", "returns", "return", "throws", "deprecated"].includes(t.name));
    const tagText = tags.map((t) => `@${t.name} ${ts.displayPartsToString(t.text)}`.trim());
    const plain = [signature, doc, tagText.join("\n")].filter((s) => s !== "").join("\n\n");
    const markdown = [
      "```typescript\n" + signature + "\n```",
      doc,
      tags.map((t) => `*@${t.name}* ${ts.displayPartsToString(t.text).replace(/\n/g, "  \n")}`).join("  \n"),
    ]
      .filter((s) => s !== "")
      .join("\n\n");
    this.reply(req, { status: "ok", found: true, data: { "text/plain": plain, "text/markdown": markdown }, metadata: {} });
  }

  private async isComplete(req: Request): Promise<void> {
    const c = req.msg.content;
    if (typeof c.code !== "string") throw new TypeError("is_complete_request content.code must be a string");
    const compiler = await this.waitForCompiler();
    const result = compiler.isComplete(c.code);
    this.reply(req, result.status === "incomplete" ? { status: "incomplete", indent: result.indent ?? "" } : { status: result.status });
  }

  private historyRequest(req: Request): void {
    const c = req.msg.content;
    const output = c.output === true;
    let history;
    switch (c.hist_access_type) {
      case "tail":
        history = this.history.tail(typeof c.n === "number" ? c.n : 10, output);
        break;
      case "range":
        history = this.history.range(
          typeof c.session === "number" ? c.session : 0,
          typeof c.start === "number" ? c.start : 0,
          typeof c.stop === "number" ? c.stop : undefined,
          output,
        );
        break;
      case "search":
        history = this.history.search(typeof c.pattern === "string" ? c.pattern : "*", typeof c.n === "number" ? c.n : undefined, c.unique === true, output);
        break;
      default:
        throw new Error(`hist_access_type must be tail, range or search, got ${JSON.stringify(c.hist_access_type)}`);
    }
    this.reply(req, { status: "ok", history });
  }

  // ---- globals -----------------------------------------------------------------------

  private installGlobals(): void {
    const self = this;
    const { display, clearOutput } = createDisplay((msgType, content) => this.publish(msgType, content));
    const kernelVersion = version();
    const kernelObject = {
      version: kernelVersion,
      get executionCount() {
        return self.executionCount;
      },
      get signal() {
        return self.executor.signal();
      },
      comms: this.comms,
      setBanner(banner: string) {
        if (typeof banner !== "string") throw new TypeError("setBanner expects a string");
        self.kernelInfo.banner = banner;
        self.post({ kind: "banner", banner });
      },
    };
    const globals: Record<string, unknown> = {
      display,
      clearOutput,
      input: (prompt?: string, options?: { password?: boolean }) => this.input(prompt, options),
      prompt: (message?: string, defaultValue?: string) => this.promptSync(message, defaultValue),
      kernel: kernelObject,
    };
    for (const [name, value] of Object.entries(globals)) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
    }
    setHost({
      display: (obj, options) => display(obj, options),
      abortSignal: () => this.executor.signal(),
      interactive: true,
      // JupyterLab and Notebook 7 send the cell's id; lib/viz uses it to re-send
      // plotly.js when the cell that carried it is re-run.
      cellId: () => {
        const id = (this.currentExecute?.msg.metadata as Record<string, unknown> | undefined)?.cellId;
        return typeof id === "string" ? id : undefined;
      },
    });
  }

  private stdinTarget(): Request {
    const req = this.currentExecute;
    if (!req || req.msg.content.allow_stdin !== true) {
      const e = new Error("this front end does not accept input requests (allow_stdin is false)");
      e.name = "StdinNotImplementedError";
      throw e;
    }
    return req;
  }

  private input(prompt = "", options?: { password?: boolean }): Promise<string> {
    let req: Request;
    try {
      req = this.stdinTarget();
    } catch (e) {
      return Promise.reject(e);
    }
    this.streams.flush();
    if (this.pendingInput) this.pendingInput.reject(new Error("another input() replaced this one"));
    const msg = makeMessage("input_request", { prompt: String(prompt), password: options?.password === true }, req.msg.header, this.session);
    return new Promise<string>((resolve, reject) => {
      this.pendingInput = { resolve, reject };
      this.post({ kind: "stdin_request", identities: req.identities, msg, sync: false });
    });
  }

  /** A synchronous prompt: blocks this thread until the transport worker stores the answer. */
  private promptSync(message = "", defaultValue?: string): string {
    const req = this.stdinTarget();
    this.streams.flush();
    const flags = this.flags;
    Atomics.store(flags, SHARED.STDIN_STATE, STDIN.WAITING);
    const msg = makeMessage("input_request", { prompt: String(message), password: false }, req.msg.header, this.session);
    this.post({ kind: "stdin_request", identities: req.identities, msg, sync: true });
    while (Atomics.load(flags, SHARED.STDIN_STATE) === STDIN.WAITING) {
      Atomics.wait(flags, SHARED.STDIN_STATE, STDIN.WAITING, 200);
      if (Atomics.load(flags, SHARED.INTERRUPT) !== 0) break;
    }
    const state = Atomics.load(flags, SHARED.STDIN_STATE);
    Atomics.store(flags, SHARED.STDIN_STATE, STDIN.IDLE);
    if (state === STDIN.READY) {
      const length = Atomics.load(flags, SHARED.STDIN_LENGTH);
      const value = Buffer.from(new Uint8Array(this.stdinBuffer, 0, length)).toString("utf8");
      return value === "" && defaultValue !== undefined ? defaultValue : value;
    }
    if (state === STDIN.TOO_LONG) throw new Error(`the answer is longer than ${STDIN_BUFFER_BYTES} bytes`);
    throw new KeyboardInterrupt();
  }
}

/** Reads the connection file and runs a kernel until it is shut down. */
export function startKernel(options: KernelOptions): void {
  let info: ConnectionInfo;
  try {
    info = checkConnectionInfo(JSON.parse(fs.readFileSync(options.connectionFile, "utf8")));
  } catch (e) {
    throw new Error(`cannot use connection file ${options.connectionFile}: ${(e as Error).message}`);
  }
  new Kernel(info, options).start();
}

export { plainText };
