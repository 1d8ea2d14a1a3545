/**
 * Compiles notebook cells: TypeScript → type-checked JavaScript with REPL state
 * across cells, completions and hover info. The heavy lifting is tslab's
 * converter (`tslab/dist/converter`); this module adds what the kernel needs on
 * top of it:
 *
 * - source maps through both of the converter's emit passes, so a runtime error
 *   points at the cell's own line and column;
 * - interrupt checks in the emitted code ({@link instrument});
 * - type resolution of `llmlab` (this project's library) and of this project's
 *   npm dependencies from any notebook directory;
 * - a cache, so re-running an unchanged cell does not re-check it.
 */
import * as path from "node:path";
import * as fs from "node:fs";
import { SourceMap } from "node:module";
import type * as TS from "typescript";
import { instrument } from "./instrument";

type Ts = typeof TS;

/** A type error or syntax error in a cell. */
export interface CellDiagnostic {
  /** 0-based line and column in the cell (or in `fileName`). */
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  message: string;
  code: number;
  /** Set when the problem is in another file the cell imports. */
  fileName?: string;
}

/** Maps a 0-based position in the compiled code to a 0-based position in the cell. */
export type PositionMapper = (line: number, column: number) => { line: number; column: number } | undefined;

/** The result of compiling one cell. */
export interface CompiledCell {
  /** JavaScript to run: a function body using `exports`, `require` and the interrupt checks. */
  code: string;
  /** True when the code uses top-level await (run it as an async function). */
  isAsync: boolean;
  /** Name of the export that holds the value of the cell's last expression. */
  lastExpressionVar?: string;
  /** Declarations to type-check the following cells against. */
  declarations: string;
  /** Compiled local modules the cell imports (absolute path → JavaScript). */
  sideOutputs: Array<{ path: string; data: string }>;
  mapPosition: PositionMapper;
}

/** What tslab's converter offers (see tslab/dist/converter.d.ts). */
interface Converter {
  convert(prevDecl: string, src: string): {
    output?: string;
    declOutput?: string;
    diagnostics: Array<{
      start: { offset: number; line: number; character: number };
      end: { offset: number; line: number; character: number };
      messageText: string;
      category: number;
      code: number;
      fileName?: string;
    }>;
    lastExpressionVar?: string;
    hasToplevelAwait?: boolean;
    sideOutputs?: Array<{ path: string; data: string }>;
  };
  inspect(prevDecl: string, src: string, position: number): TS.QuickInfo | undefined;
  complete(
    prevDecl: string,
    src: string,
    position: number,
  ): { start: number; end: number; candidates: string[]; original?: TS.CompletionInfo };
  close(): void;
  addModule(name: string, content: string): Array<{ messageText: string; start: { line: number; character: number } }>;
}

/** The project root (the folder with package.json), whichever of src/dist this file runs from. */
export function projectRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "kernel"))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, "..", "..");
}

let loadedTs: Ts | undefined;

/**
 * Loads the TypeScript build tslab's converter uses, patched so that its emit
 * produces inline source maps (the converter's options are not configurable),
 * and so that module lookups from any directory fall back to this project.
 */
export function loadTypeScript(root: string): Ts {
  if (loadedTs) return loadedTs;
  const tsPath = require.resolve("@tslab/typescript-for-tslab", { paths: [path.dirname(require.resolve("tslab/package.json"))] });
  const real: Ts = require(tsPath);
  // The module's exports are non-configurable getters, so hand the converter a
  // copy with two functions replaced instead of patching it in place.
  const wrapper: Record<string, unknown> = {};
  for (const key of Object.keys(real)) {
    if (key === "createWatchCompilerHost" || key === "transpileModule") continue;
    Object.defineProperty(wrapper, key, { enumerable: true, get: () => (real as any)[key] });
  }
  wrapper.createWatchCompilerHost = (roots: string[], options: TS.CompilerOptions, system: TS.System, _createProgram: unknown, ...rest: unknown[]) =>
    (real.createWatchCompilerHost as any)(
      roots,
      { ...options, inlineSourceMap: true },
      system,
      process.env.LLMLAB_FULL_BUILDER === "1" ? undefined : lightBuilder(real),
      ...rest,
    );
  wrapper.transpileModule = (input: string, options: TS.TranspileOptions) =>
    real.transpileModule(
      input,
      options.fileName === "custom.js"
        ? { ...options, compilerOptions: { ...options.compilerOptions, inlineSourceMap: true } }
        : options,
    );
  const cached = require.cache[tsPath];
  if (!cached) throw new Error("cannot install the TypeScript wrapper: module not in require.cache");
  cached.exports = wrapper;
  patchModuleLookup(real, root);
  loadedTs = real;
  return real;
}

/**
 * A builder program without the incremental-emit bookkeeping TypeScript's
 * default builder recomputes for every file of every new program (its
 * BuilderState): the converter only needs the program, per-file emit, and the
 * local files a cell depends on. Saves about a third of a cell's compile time.
 */
function lightBuilder(ts: Ts) {
  return (
    rootNames: readonly string[] | undefined,
    options: TS.CompilerOptions | undefined,
    host: TS.CompilerHost | undefined,
    oldBuilder: { getProgramOrUndefined(): TS.Program | undefined } | undefined,
    configFileParsingDiagnostics?: readonly TS.Diagnostic[],
    projectReferences?: readonly TS.ProjectReference[],
  ) => {
    const program = ts.createProgram({
      rootNames: rootNames ?? [],
      options: options ?? {},
      host,
      oldProgram: oldBuilder?.getProgramOrUndefined(),
      configFileParsingDiagnostics,
      projectReferences,
    });
    // The converter reads `sourceFile.locals`, which only exist once the files
    // are bound; creating the checker binds them (and the checker is needed anyway).
    program.getTypeChecker();
    /** Files reachable through imports and `/// <reference path>` (including `sf` itself). */
    const dependencies = (sf: TS.SourceFile): string[] => {
      const seen = new Set<string>([sf.fileName]);
      const queue = [sf];
      while (queue.length > 0) {
        const file = queue.pop()!;
        const next: string[] = [];
        (file as any).resolvedModules?.forEach((resolved: any) => {
          const name = resolved?.resolvedModule?.resolvedFileName ?? resolved?.resolvedFileName;
          if (typeof name === "string") next.push(name);
        });
        for (const ref of file.referencedFiles) next.push(path.resolve(path.dirname(file.fileName), ref.fileName));
        for (const name of next) {
          const dep = program.getSourceFile(name);
          if (dep && !seen.has(dep.fileName)) {
            seen.add(dep.fileName);
            queue.push(dep);
          }
        }
      }
      return [...seen];
    };
    return {
      getProgram: () => program,
      getProgramOrUndefined: () => program,
      releaseProgram: () => {},
      getCompilerOptions: () => program.getCompilerOptions(),
      getSourceFile: (fileName: string) => program.getSourceFile(fileName),
      getSourceFiles: () => program.getSourceFiles(),
      getOptionsDiagnostics: (token?: TS.CancellationToken) => program.getOptionsDiagnostics(token),
      getGlobalDiagnostics: (token?: TS.CancellationToken) => program.getGlobalDiagnostics(token),
      getConfigFileParsingDiagnostics: () => program.getConfigFileParsingDiagnostics(),
      getSyntacticDiagnostics: (sf?: TS.SourceFile, token?: TS.CancellationToken) => program.getSyntacticDiagnostics(sf, token),
      getDeclarationDiagnostics: (sf?: TS.SourceFile, token?: TS.CancellationToken) => program.getDeclarationDiagnostics(sf, token),
      getSemanticDiagnostics: (sf?: TS.SourceFile, token?: TS.CancellationToken) => program.getSemanticDiagnostics(sf, token),
      emit: (sf?: TS.SourceFile, writeFile?: TS.WriteFileCallback, token?: TS.CancellationToken, onlyDts?: boolean, transformers?: TS.CustomTransformers) =>
        program.emit(sf, writeFile, token, onlyDts, transformers),
      getAllDependencies: dependencies,
      getCurrentDirectory: () => program.getCurrentDirectory(),
    };
  };
}

/**
 * Makes `import ... from "llmlab"` resolve to this project from any folder, and
 * lets a notebook outside the project use the project's npm packages: a lookup
 * that reaches `/node_modules/<pkg>` (the last folder Node-style resolution
 * tries) falls back to the project's own node_modules.
 */
function patchModuleLookup(ts: Ts, root: string): void {
  const sys = ts.sys as TS.System & Record<string, any>;
  const fallbacks = (require("node:module") as any)._nodeModulePaths(root).filter((d: string) => fs.existsSync(d)) as string[];
  const orig = {
    fileExists: sys.fileExists.bind(sys),
    directoryExists: sys.directoryExists.bind(sys),
    readFile: sys.readFile.bind(sys),
    realpath: sys.realpath?.bind(sys),
    getDirectories: sys.getDirectories.bind(sys),
    readDirectory: sys.readDirectory.bind(sys),
    getModifiedTime: sys.getModifiedTime?.bind(sys),
    watchFile: sys.watchFile?.bind(sys),
    watchDirectory: sys.watchDirectory?.bind(sys),
  };
  const llmlabPath = /^(.*)\/node_modules\/llmlab(\/.*)?$/;
  const map = (p: string): string => {
    const m = llmlabPath.exec(p);
    if (m) return root + (m[2] ?? "");
    if (p.startsWith("/node_modules/") || p === "/node_modules") {
      if (orig.fileExists(p) || orig.directoryExists(p)) return p;
      const rest = p.slice("/node_modules".length);
      for (const dir of fallbacks) {
        const candidate = dir + rest;
        if (orig.fileExists(candidate) || orig.directoryExists(candidate)) return candidate;
      }
    }
    return p;
  };
  sys.fileExists = (p: string) => orig.fileExists(map(p));
  sys.directoryExists = (p: string) => orig.directoryExists(map(p));
  sys.readFile = (p: string, encoding?: string) => orig.readFile(map(p), encoding);
  if (orig.realpath) sys.realpath = (p: string) => orig.realpath!(map(p));
  sys.getDirectories = (p: string) => orig.getDirectories(map(p));
  sys.readDirectory = (p: string, ...rest: any[]) => (orig.readDirectory as any)(map(p), ...rest);
  if (orig.getModifiedTime) sys.getModifiedTime = (p: string) => orig.getModifiedTime!(map(p));
  // Installed packages and the standard library do not change during a session:
  // watching them would cost an inotify watch per .d.ts file.
  const unwatched = (p: string) => p.includes("/node_modules/") || p.startsWith(root + "/dist/");
  const noWatcher = { close() {} };
  if (orig.watchFile) sys.watchFile = (p: string, ...rest: any[]) => (unwatched(p) ? noWatcher : (orig.watchFile as any)(map(p), ...rest));
  if (orig.watchDirectory) sys.watchDirectory = (p: string, ...rest: any[]) => (unwatched(p) ? noWatcher : (orig.watchDirectory as any)(map(p), ...rest));
}

const INLINE_MAP = /^\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/gm;

function takeInlineMaps(js: string): { code: string; maps: Array<{ file?: string; map: SourceMap }> } {
  const maps: Array<{ file?: string; map: SourceMap }> = [];
  const code = js.replace(INLINE_MAP, (_all, b64: string) => {
    try {
      const payload = JSON.parse(Buffer.from(b64, "base64").toString("utf8"));
      maps.push({ file: payload.file, map: new SourceMap(payload) });
    } catch {
      // A broken map only costs precise line numbers.
    }
    return "";
  });
  return { code, maps };
}

function lookup(map: SourceMap, line: number, column: number): { line: number; column: number } | undefined {
  const entry = map.findEntry(line, column) as Partial<{ originalLine: number; originalColumn: number; generatedLine: number; generatedColumn: number }>;
  if (entry === undefined || entry.originalLine === undefined) return undefined;
  let col = entry.originalColumn ?? 0;
  if (entry.generatedLine === line && entry.generatedColumn !== undefined) col += column - entry.generatedColumn;
  return { line: entry.originalLine, column: Math.max(0, col) };
}

/**
 * Blanks out `export` on top-level declarations (and whole `export { ... }`
 * statements): every top-level name of a cell is shared with the next cells
 * anyway, and the converter rejects explicit exports. Spaces keep every
 * position in place.
 */
export function withoutExports(ts: Ts, src: string): string {
  if (!/\bexport\b/.test(src)) return src;
  const sf = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const cuts: Array<[number, number]> = [];
  for (const stmt of sf.statements) {
    if (ts.isExportDeclaration(stmt) && !stmt.moduleSpecifier) {
      cuts.push([stmt.getStart(sf), stmt.end]);
      continue;
    }
    const modifiers = ts.canHaveModifiers(stmt) ? ts.getModifiers(stmt) : undefined;
    const exported = modifiers?.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    const isDefault = modifiers?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
    if (exported && !isDefault) cuts.push([exported.getStart(sf), exported.end]);
  }
  let out = src;
  for (const [start, end] of cuts.reverse()) {
    out = out.slice(0, start) + out.slice(start, end).replace(/[^\n]/g, " ") + out.slice(end);
  }
  return out;
}

/** Thrown by {@link CellCompiler.compile} when the cell has type or syntax errors. */
export class CompileError extends Error {
  constructor(readonly diagnostics: CellDiagnostic[]) {
    super(diagnostics.map((d) => d.message).join("\n"));
    this.name = "CompileError";
  }
}

const CACHE_SIZE = 64;
const CACHE_MAX_KEY = 200_000;

/** Compiles cells against the declarations of the cells before them. */
export class CellCompiler {
  readonly ts: Ts;
  private readonly converter: Converter;
  /** Declarations of everything defined so far (the converter's `prevDecl`). */
  private declarations = "";
  private readonly cache = new Map<string, CompiledCell>();
  private readonly isCompleteCode: (src: string) => { completed: boolean; indent?: string };

  /**
   * @param root the project root (for `llmlab` and fallback npm packages).
   * @param globalsSource TypeScript that declares the kernel's globals (`declare global { ... }`).
   */
  constructor(root: string, globalsSource: string) {
    this.ts = loadTypeScript(root);
    const conv = require("tslab/dist/converter");
    this.isCompleteCode = conv.isCompleteCode;
    this.converter = conv.createConverter({ isJS: false, isBrowser: false });
    const diags = this.converter.addModule("__llmlab_globals__", globalsSource);
    if (diags.length > 0) {
      throw new Error(`kernel globals do not type-check: ${diags.map((d) => d.messageText).join("; ")}`);
    }
  }

  /** The declarations carried from cell to cell. */
  get state(): string {
    return this.declarations;
  }

  /**
   * Compiles a cell. Does not change the carried declarations: call
   * {@link commit} once the cell has run.
   * @throws CompileError with the cell's type/syntax errors.
   */
  compile(src: string): CompiledCell {
    const key = this.declarations + "\u0000" + src;
    const cacheable = key.length < CACHE_MAX_KEY && !/from\s+["']\.{1,2}\/|require\(\s*["']\.{1,2}\//.test(key);
    const hit = cacheable ? this.cache.get(key) : undefined;
    if (hit) {
      // Refresh its place in the LRU order.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const result = this.converter.convert(this.declarations, withoutExports(this.ts, src));
    if (result.diagnostics.length > 0) {
      throw new CompileError(
        result.diagnostics.map((d) => ({
          line: d.start.line,
          column: d.start.character,
          endLine: d.end.line,
          endColumn: d.end.character,
          message: d.messageText,
          code: d.code,
          fileName: d.fileName,
        })),
      );
    }
    const declarations = result.declOutput ?? "";
    const sideOutputs = result.sideOutputs ?? [];
    let compiled: CompiledCell;
    if (!result.output) {
      compiled = { code: "", isAsync: false, declarations, sideOutputs, mapPosition: () => undefined };
    } else {
      const { code, maps } = takeInlineMaps(result.output);
      const toTs = maps.find((m) => m.file === "__tslab__.js")?.map;
      const toEs = maps.find((m) => m.file === "custom.js")?.map;
      const inst = instrument(this.ts, code);
      const mapPosition: PositionMapper = (line, column) => {
        if (!toTs || !toEs) return undefined;
        const es = lookup(toEs, line, inst.originalColumn(line, column));
        if (!es) return undefined;
        const tsPos = lookup(toTs, es.line, es.column);
        // The converter prefixes each cell with one line ("export {};").
        if (!tsPos || tsPos.line < 1) return undefined;
        return { line: tsPos.line - 1, column: tsPos.column };
      };
      compiled = {
        code: inst.code,
        // tslab only notices a top-level `await`, not a top-level `for await`.
        isAsync: result.hasToplevelAwait === true || inst.topLevelAwait,
        lastExpressionVar: result.lastExpressionVar,
        declarations,
        sideOutputs,
        mapPosition,
      };
    }
    if (cacheable && sideOutputs.length === 0) {
      this.cache.set(key, compiled);
      if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    }
    return compiled;
  }

  /** Makes the declarations of a cell that ran visible to the following cells. */
  commit(cell: CompiledCell): void {
    this.declarations = cell.declarations;
  }

  /** Completions at a UTF-16 offset. */
  complete(src: string, offset: number): ReturnType<Converter["complete"]> {
    return this.converter.complete(this.declarations, src, offset);
  }

  /** Quick info (signature and documentation) at a UTF-16 offset. */
  inspect(src: string, offset: number): TS.QuickInfo | undefined {
    return this.converter.inspect(this.declarations, src, offset);
  }

  /** Whether `src` is a complete cell, an unfinished one (with the indent for the next line) or invalid. */
  isComplete(src: string): { status: "complete" | "incomplete" | "invalid"; indent?: string } {
    return checkComplete(this.ts, src, this.isCompleteCode);
  }

  /** Releases the compiler's file watchers. */
  close(): void {
    this.converter.close();
  }
}

/**
 * Classifies a cell for `is_complete_request`: an error at the very end that
 * says something is "expected" means the user is still typing; any other
 * syntax error makes the cell invalid.
 */
export function checkComplete(
  ts: Ts,
  src: string,
  isCompleteCode: (src: string) => { completed: boolean; indent?: string },
): { status: "complete" | "incomplete" | "invalid"; indent?: string } {
  if (src.trim() === "") return { status: "complete" };
  const sf = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const diags: TS.DiagnosticWithLocation[] = (sf as any).parseDiagnostics ?? [];
  if (diags.length === 0) return { status: "complete" };
  const trimmedEnd = src.trimEnd().length;
  for (const d of diags) {
    const msg = typeof d.messageText === "string" ? d.messageText : d.messageText.messageText;
    if ((d.start >= trimmedEnd && /expected\.$/.test(msg)) || /^Unterminated template literal/.test(msg)) {
      // Ended on a blank line: the user pressed enter twice, so run it and show the error.
      if (/\n[ \t]*\n\s*$/.test(src)) return { status: "invalid" };
      const tslab = isCompleteCode(src);
      return { status: "incomplete", indent: tslab.completed ? "" : tslab.indent ?? "" };
    }
  }
  return { status: "invalid" };
}
