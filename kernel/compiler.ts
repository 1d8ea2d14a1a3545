/**
 * Compiles notebook cells: TypeScript → type-checked JavaScript with REPL state
 * across cells, completions and hover info, on tslab's build of TypeScript
 * (`@tslab/typescript-for-tslab`: top-level `await` reported separately, an
 * entry point for completions) and the REPL scheme of tslab's converter: each
 * cell is a module that sees the declarations of the cells before it, exports
 * all its top-level names, and stores its last expression's value.
 *
 * Unlike tslab's converter, which builds a new program for every cell (10-20
 * ms), cells are checked by one long-lived program and checker
 * ({@link CellProgram}, program.ts); emit (emit.ts) goes straight to CommonJS
 * with one source map. On top, this module adds:
 *
 * - positions: type errors and runtime errors point at the cell's own line and column;
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
import { CellProgram, MODULE_PREFIX, internals } from "./program";
import { earlierCellNames, lastExpression, lastExpressionName, remainingDeclarations, withoutExportDeclarations } from "./emit";

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
 * Loads the TypeScript build of tslab, set up so that module lookups from any
 * directory fall back to this project.
 */
export function loadTypeScript(root: string): Ts {
  if (loadedTs) return loadedTs;
  const tsPath = require.resolve("@tslab/typescript-for-tslab", { paths: [path.dirname(require.resolve("tslab/package.json"))] });
  const ts: Ts = require(tsPath);
  patchModuleLookup(ts, root);
  loadedTs = ts;
  return ts;
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

/** Source text that can produce loops, functions or awaits (the only places {@link instrument} edits). */
const MAY_NEED_CHECKS = /[{]|=>|\b(for|while|do|await)\b/;

/** Emit only JavaScript, not declarations: TypeScript's internal `EmitOnly.Js` (0) in the `emitOnlyDtsFiles` slot. */
const EMIT_JS = 0 as unknown as boolean;

/** Diagnostics that only say the cell awaits at top level (TS1308 await, TS1432 for await): the kernel runs it as an async function. */
const TOP_LEVEL_AWAIT_CODES = new Set([1308, 1432]);

const NO_CANCEL: TS.CancellationToken = {
  isCancellationRequested: () => false,
  throwIfCancellationRequested: () => {},
};

/** What {@link CellCompiler.complete} returns: where the completed word starts and ends, and the candidates. */
export interface Completions {
  start: number;
  end: number;
  candidates: string[];
  original?: TS.CompletionInfo;
}

/** Compiles cells against the declarations of the cells before them. */
export class CellCompiler {
  readonly ts: Ts;
  private readonly program: CellProgram;
  /** Declarations of everything defined so far. */
  private declarations = "";
  private readonly cache = new Map<string, CompiledCell>();
  /** Local modules already compiled for the executor (compiled again after they change on disk). */
  private readonly compiledModules = new Set<string>();
  private isCompleteCode: ((src: string) => { completed: boolean; indent?: string }) | undefined;
  /** The last cell compiled (what {@link refreshIfDue} checks to warm a new checker). */
  private lastSource: string | undefined;

  /**
   * @param root the project root (for `llmlab` and fallback npm packages).
   * @param globalsSource TypeScript that declares the kernel's globals (`declare global { ... }`).
   * @param cwd the notebook's folder (relative imports, `rootDir` of local modules).
   */
  constructor(root: string, globalsSource: string, cwd = process.cwd()) {
    this.ts = loadTypeScript(root);
    this.program = new CellProgram(this.ts, root, cwd, globalsSource);
    this.program.onLocalChange = (files) => files.forEach((f) => this.compiledModules.delete(f));
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
    const cacheable = key.length < CACHE_MAX_KEY && !/from\s+["']\.{1,2}\/|(require|import)\(\s*["'`]\.{1,2}\//.test(key);
    const hit = cacheable ? this.cache.get(key) : undefined;
    if (hit) {
      // Refresh its place in the LRU order.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const compiled = this.build(src);
    if (cacheable && compiled.sideOutputs.length === 0) {
      this.cache.set(key, compiled);
      if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    }
    return compiled;
  }

  private build(src: string): CompiledCell {
    const ts = this.ts;
    let text = withoutExports(ts, src);
    this.lastSource = text;
    // Every top-level name of the cell is exported, for the cells after it.
    const { names, augments } = this.program.topLevelNames(text);
    if (names.length > 0) text += `\nexport { ${names.join(", ")} };`;
    // What the next cells see of this one: its top-level names and its augmentations.
    const declares = names.length > 0 || augments;
    const { sf, declarations, program, checker } = this.program.prepare(text, this.declarations);
    const modules = this.program.localDependencies(sf, program);

    let isAsync = false;
    const diagnostics: TS.Diagnostic[] = [];
    const keep = (d: TS.Diagnostic) => {
      if (d.file === sf && TOP_LEVEL_AWAIT_CODES.has(d.code) && isTopLevel(ts, sf, d)) isAsync = true;
      else diagnostics.push(d);
    };
    program.getSyntacticDiagnostics(sf).forEach(keep);
    program.getSemanticDiagnostics(sf).forEach(keep);
    for (const m of modules) {
      program.getSyntacticDiagnostics(m).forEach(keep);
      program.getSemanticDiagnostics(m).forEach(keep);
      program.getDeclarationDiagnostics(m).forEach(keep);
    }
    const fail = () => new CompileError(this.cellDiagnostics(ts.sortAndDeduplicateDiagnostics(diagnostics), sf));
    if (diagnostics.length > 0) {
      if (declares) program.getDeclarationDiagnostics(sf).forEach(keep);
      throw fail();
    }

    // One emit for both outputs: the JavaScript to run, and (when the cell
    // declares something) the declarations the next cells see.
    let js = "";
    let sourceMap = "";
    let cellDeclarations = "";
    let lastExpressionVar: string | undefined;
    const earlier = (declarations as unknown as { locals?: TS.SymbolTable }).locals;
    const valueName = lastExpressionName((n) => names.includes(n) || earlier?.has(n as TS.__String) === true);
    const emitted = program.emit(
      sf,
      (file, data) => {
        if (file.endsWith(".d.ts")) cellDeclarations = data;
        else if (file.endsWith(".js.map")) sourceMap = data;
        else if (file.endsWith(".js")) js = data;
      },
      undefined,
      declares ? undefined : EMIT_JS,
      {
        before: [lastExpression(ts, valueName, () => (lastExpressionVar = valueName))],
        after: [earlierCellNames(ts, checker, declarations)],
        afterDeclarations: [withoutExportDeclarations(ts)],
      },
    );
    // Declaration errors (a type that cannot be named in the declarations).
    emitted.diagnostics.forEach(keep);
    if (diagnostics.length > 0) throw fail();
    const sideOutputs = this.compileModules(program, modules);
    const carried = declares ? cellDeclarations + remainingDeclarations(ts, checker, sf, declarations) : this.declarations;

    const code = js.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, "\n");
    const inst = MAY_NEED_CHECKS.test(src) ? instrument(ts, code) : { code, topLevelAwait: false, originalColumn: (_l: number, c: number) => c };
    let map: SourceMap | undefined;
    const mapPosition: PositionMapper = (line, column) => {
      if (!sourceMap) return undefined;
      try {
        map ??= new SourceMap(JSON.parse(sourceMap));
      } catch {
        // A broken map only costs precise line numbers.
        sourceMap = "";
        return undefined;
      }
      const pos = lookup(map, line, inst.originalColumn(line, column));
      // Line 0 of the compiled file is MODULE_PREFIX.
      if (!pos || pos.line < 1) return undefined;
      return { line: pos.line - 1, column: pos.column };
    };
    return {
      code: inst.code,
      isAsync: isAsync || inst.topLevelAwait,
      lastExpressionVar,
      declarations: carried,
      sideOutputs,
      mapPosition,
    };
  }

  /** JavaScript of the local modules a cell imports, for those not compiled since they last changed. */
  private compileModules(program: TS.Program, modules: TS.SourceFile[]): Array<{ path: string; data: string }> {
    const out: Array<{ path: string; data: string }> = [];
    for (const m of modules) {
      if (this.compiledModules.has(m.fileName)) continue;
      program.emit(
        m,
        (file, data) => {
          if (!file.endsWith(".js")) return;
          const target = this.program.outputPath(file);
          if (!target) throw new Error(`cannot compile ${m.fileName}: it is outside the notebook's folder`);
          out.push({ path: target, data: data.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, "\n") });
        },
        undefined,
        EMIT_JS,
      );
      this.compiledModules.add(m.fileName);
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Diagnostics as cell positions (messages chained under one are listed after it, at the same place). */
  private cellDiagnostics(diags: readonly TS.Diagnostic[], cell: TS.SourceFile): CellDiagnostic[] {
    const out: CellDiagnostic[] = [];
    for (const d of diags) {
      if (!d.file || d.start === undefined) continue;
      let fileName: string | undefined;
      let lineShift = 0;
      if (d.file === cell) {
        lineShift = 1;
      } else {
        fileName = path.relative(this.program.cwd, d.file.fileName);
        if (fileName.startsWith("..") || path.isAbsolute(fileName)) continue;
      }
      const start = d.file.getLineAndCharacterOfPosition(d.start);
      const end = d.file.getLineAndCharacterOfPosition(d.start + (d.length ?? 0));
      const at = { line: start.line - lineShift, column: start.character, endLine: end.line - lineShift, endColumn: end.character, fileName };
      const push = (chain: string | TS.DiagnosticMessageChain, code: number) => {
        if (typeof chain === "string") {
          out.push({ ...at, message: chain, code });
          return;
        }
        out.push({ ...at, message: chain.messageText, code: chain.code });
        for (const next of chain.next ?? []) push(next, next.code);
      };
      push(d.messageText, d.code);
    }
    return out;
  }

  /** Makes the declarations of a cell that ran visible to the following cells. */
  commit(cell: CompiledCell): void {
    this.declarations = cell.declarations;
  }

  /**
   * True when the checker is due to be replaced: it is every few hundred cells
   * (its caches grow with every cell it sees), and the first cell after that
   * pays for resolving the library's types again. While the kernel is idle,
   * call {@link refreshIfDue}: it replaces the checker now and checks the last
   * cell again, so that the next cell finds the new checker warm.
   */
  get refreshDue(): boolean {
    return this.program.refreshDue;
  }

  /** See {@link refreshDue}. */
  refreshIfDue(): void {
    if (!this.program.refreshDue) return;
    this.program.rebuild();
    const { sf, program } = this.program.prepare(this.lastSource ?? "", this.declarations);
    program.getSemanticDiagnostics(sf);
  }

  /** Completions at a UTF-16 offset: the best matches first when the cursor is on a name. */
  complete(src: string, offset: number): Completions {
    const ts = this.ts;
    const internal = internals(ts);
    const { sf, program } = this.program.prepare(src, this.declarations);
    const pos = offset + MODULE_PREFIX.length;
    const info = internal.Completions.getCompletionsAtPositionForTslab({}, program, () => {}, sf, pos, {}, undefined, ts.CompletionTriggerKind.Invoked, NO_CANCEL);
    if (info?.optionalReplacementSpan) info.optionalReplacementSpan.start -= MODULE_PREFIX.length;
    // findPrecedingToken may return a token that ends after `pos` (the cursor inside a name).
    const prev = internal.findPrecedingToken(pos, sf);
    if (prev && ts.isIdentifier(prev) && prev.end >= pos) return completeName(info, prev, sf);
    const next = prev ? internal.findNextToken(prev, sf, sf) : undefined;
    if (next && ts.isIdentifier(next) && next.getStart(sf) <= pos && pos <= next.end) return completeName(info, next, sf);
    const entries = [...(info?.entries ?? [])].sort((a, b) => a.sortText.localeCompare(b.sortText) || a.name.localeCompare(b.name));
    return { start: offset, end: offset, candidates: entries.map((e) => e.name), original: info };
  }

  /** Quick info (signature and documentation) at a UTF-16 offset. */
  inspect(src: string, offset: number): TS.QuickInfo | undefined {
    const { sf, checker } = this.program.prepare(src, this.declarations);
    const info = internals(this.ts).getQuickInfoAtPosition(sf, checker, NO_CANCEL, offset + MODULE_PREFIX.length);
    if (info?.textSpan) info.textSpan.start -= MODULE_PREFIX.length;
    return info;
  }

  /** Whether `src` is a complete cell, an unfinished one (with the indent for the next line) or invalid. */
  isComplete(src: string): { status: "complete" | "incomplete" | "invalid"; indent?: string } {
    this.isCompleteCode ??= require("tslab/dist/converter").isCompleteCode as (src: string) => { completed: boolean; indent?: string };
    return checkComplete(this.ts, src, this.isCompleteCode);
  }

  /** Drops the compiler's program (memory); a later call rebuilds it. */
  close(): void {
    this.program.close();
  }
}

/** True when the `await` a diagnostic points at is outside every function, class and namespace. */
function isTopLevel(ts: Ts, sf: TS.SourceFile, d: TS.Diagnostic): boolean {
  let node = internals(ts).findPrecedingToken(d.start! + (d.length ?? 0), sf)?.parent;
  for (; node && node !== sf; node = node.parent) {
    if (ts.isFunctionLike(node) || ts.isClassLike(node) || ts.isModuleDeclaration(node) || ts.isClassStaticBlockDeclaration(node)) return false;
  }
  return true;
}

/**
 * Completions for the name at the cursor: those that start with it first,
 * then those that start with it ignoring case, then those that contain it.
 */
function completeName(info: TS.CompletionInfo | undefined, id: TS.Identifier, sf: TS.SourceFile): Completions {
  const name = id.text;
  const lower = name.toLowerCase();
  const ranked: Array<{ name: string; key: string; index: number }> = [];
  (info?.entries ?? []).forEach((e, index) => {
    const candidate = e.name.toLowerCase();
    const rank = e.name.startsWith(name) ? "0" : candidate.startsWith(lower) ? "1" : candidate.includes(lower) ? "2" : "";
    if (rank) ranked.push({ name: e.name, key: rank + e.sortText, index });
  });
  ranked.sort((a, b) => a.key.localeCompare(b.key) || a.index - b.index);
  return {
    start: id.getStart(sf) - MODULE_PREFIX.length,
    end: id.end - MODULE_PREFIX.length,
    candidates: ranked.map((e) => e.name),
    original: info,
  };
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
