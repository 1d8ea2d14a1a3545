/**
 * The TypeScript program cells are checked against, kept alive across cells.
 *
 * Building a program and its type checker costs about 10 ms here, whatever the
 * cell: ~860 declaration files (the standard library, @types, tfjs, llmlab)
 * are walked for structure reuse and their globals merged into a new checker.
 * So the program holds only files that change rarely: those, the kernel's
 * globals and every module a cell imported ("the imports file"). A cell, and
 * the declarations carried over from the cells before it, are parsed and bound
 * on their own ("detached") and handed to the long-lived checker: the cell's
 * `parent` is the declarations file, so name lookup walks from the cell into
 * the earlier cells' declarations and then to the globals. Checking a new
 * trivial cell then costs well under a millisecond.
 *
 * The program is rebuilt (with the old one reused) only when a cell needs a
 * file the program lacks (a new import), when a local file it holds changed on
 * disk, when declarations must merge into the globals (`declare global`,
 * `declare module "x"`), and every {@link REFRESH_AFTER} detached files, so
 * that the checker's caches for cells long gone are dropped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TS from "typescript";

type Ts = typeof TS;

/** Makes every cell and the declarations file a module, so their names stay local to it. */
export const MODULE_PREFIX = "export {};\n";

/** Detached files checked by one checker before the program is rebuilt. */
export const REFRESH_AFTER = 200;

/** TypeScript functions the compiler uses that are not in the public typings. */
export interface TsInternals {
  bindSourceFile(file: TS.SourceFile, options: TS.CompilerOptions): void;
  createModeAwareCache<T>(): { get(key: string, mode: undefined): T | undefined; set(key: string, mode: undefined, value: T): void };
  isIdentifierText(name: string, languageVersion: TS.ScriptTarget): boolean;
  getDefaultTypeRoots(currentDirectory: string, host: { directoryExists?: (dir: string) => boolean }): string[] | undefined;
  findPrecedingToken(position: number, sourceFile: TS.SourceFile): TS.Node | undefined;
  findNextToken(previousToken: TS.Node, parent: TS.Node, sourceFile: TS.SourceFile): TS.Node | undefined;
  getQuickInfoAtPosition(sourceFile: TS.SourceFile, checker: TS.TypeChecker, token: TS.CancellationToken, position: number): TS.QuickInfo | undefined;
  Completions: {
    getCompletionsAtPositionForTslab(
      host: object,
      program: TS.Program,
      log: (message: string) => void,
      sourceFile: TS.SourceFile,
      position: number,
      preferences: TS.UserPreferences,
      triggerCharacter: string | undefined,
      completionKind: TS.CompletionTriggerKind,
      token: TS.CancellationToken,
    ): TS.CompletionInfo | undefined;
  };
}

/** The internals of `ts` (see {@link TsInternals}). */
export function internals(ts: Ts): TsInternals {
  return ts as unknown as TsInternals;
}

/** What the checker reads from a file's module resolutions (TS 5.0 keeps them on the SourceFile). */
type Resolution = TS.ResolvedModuleWithFailedLookupLocations;

/** A file parsed outside the program, with what it imports. */
export interface DetachedFile {
  sf: TS.SourceFile;
  /** Module specifiers the file refers to (imports, exports, `import("x")` calls and types). */
  specifiers: string[];
  /** True for `declare global` or `declare module "x"`: these must merge into the program's globals. */
  augments: boolean;
  /** The program whose module resolutions the file carries. */
  boundFor?: TS.Program;
}

/** A cell ready to check: its file, the declarations it sees, and the program and checker to use. */
export interface PreparedCell {
  sf: TS.SourceFile;
  declarations: TS.SourceFile;
  program: TS.Program;
  checker: TS.TypeChecker;
}

interface CachedFile {
  sf: TS.SourceFile;
  /** Modification time for local files (checked before each cell); undefined for files that never change. */
  mtimeMs?: number;
}

/**
 * The long-lived program and checker, and the detached cells and declarations
 * checked by them.
 */
export class CellProgram {
  readonly options: TS.CompilerOptions;
  private readonly host: TS.CompilerHost;
  private readonly internal: TsInternals;
  /** Parsed files of the program, shared by every rebuild. */
  private readonly files = new Map<string, CachedFile>();
  /** The in-memory root files (globals, imports file, attached declarations): name → text. */
  private readonly virtual = new Map<string, string>();
  private readonly virtualFiles = new Map<string, { text: string; sf: TS.SourceFile }>();
  private readonly globalsName: string;
  private readonly importsName: string;
  private readonly attachedDeclarationsName: string;
  /** Module specifiers the imports file lists (so that the program loads what they resolve to). */
  private readonly imported = new Set<string>();
  /** Successful resolutions from the notebook's folder, for the current program. */
  private readonly resolutions = new Map<string, Resolution>();
  /** Modules declared by name in the program (`declare module "fs"` in @types/node): the checker finds them without resolution. */
  private ambient = new Set<string>();
  private program: TS.Program | undefined;
  private checker: TS.TypeChecker | undefined;
  /** Local files in the program (outside node_modules and the project's dist/): their changes trigger a rebuild. */
  private localFiles: string[] = [];
  private detachedSinceBuild = 0;
  private serial = 0;
  private declarationsText: string | undefined;
  private declarationsFile: DetachedFile | undefined;
  private declarationsAttached = false;
  private globalsChecked = false;
  /** Called with the names of local files that changed on disk. */
  onLocalChange: (files: string[]) => void = () => {};

  /**
   * @param ts the TypeScript module (tslab's build).
   * @param root the project root: its dist/ is treated as installed, never re-read.
   * @param cwd the notebook's folder: cells live there, relative imports start there.
   * @param globalsSource TypeScript declaring the kernel's globals (`declare global { ... }`).
   */
  constructor(
    private readonly ts: Ts,
    private readonly root: string,
    readonly cwd: string,
    globalsSource: string,
  ) {
    this.internal = internals(ts);
    this.options = compilerOptions(ts, cwd);
    this.globalsName = path.join(cwd, "__llmlab_globals__.ts");
    this.importsName = path.join(cwd, "__llmlab_imports__.ts");
    this.attachedDeclarationsName = path.join(cwd, "__llmlab_declarations__.d.ts");
    this.virtual.set(this.globalsName, MODULE_PREFIX + globalsSource);
    this.host = this.createHost();
  }

  /** The path a cell's output gets (outDir-relative paths are mapped back to the notebook's folder). */
  outputPath(emitted: string): string | undefined {
    const rel = path.relative(this.options.outDir!, emitted);
    return rel.startsWith("..") || path.isAbsolute(rel) ? undefined : path.join(this.cwd, rel);
  }

  /**
   * Parses a cell (`MODULE_PREFIX` is added here) and makes sure the program
   * has what it needs: its imports, the declarations' imports, unchanged local
   * files. The cell is attached to `declarations` for name lookup.
   */
  prepare(cellText: string, declarationsText: string): PreparedCell {
    if (this.localFilesChanged()) this.program = undefined;
    const cell = this.detach(MODULE_PREFIX + cellText, "cell");
    const decls = this.declarations(declarationsText);
    if (decls.augments !== this.declarationsAttached) this.program = undefined;
    if (decls.augments && this.virtual.get(this.attachedDeclarationsName) !== decls.sf.text) this.program = undefined;
    for (const spec of [...decls.specifiers, ...cell.specifiers]) this.need(spec);
    if (this.refreshDue) this.program = undefined;
    const program = this.ensureProgram(decls);
    let declsFile: TS.SourceFile;
    if (this.declarationsAttached) {
      declsFile = program.getSourceFile(this.attachedDeclarationsName)!;
    } else {
      declsFile = decls.sf;
      if (decls.boundFor !== program) {
        this.bind(decls);
        decls.boundFor = program;
      }
    }
    this.detachedSinceBuild++;
    if (!cell.augments) {
      this.bind(cell);
      (cell.sf as { parent?: TS.Node }).parent = declsFile;
      return { sf: cell.sf, declarations: declsFile, program, checker: this.checker! };
    }
    // The cell's augmentations must be merged by a checker: check it inside a
    // one-off program (the long-lived one stays as it is: the cell may never run).
    const name = cell.sf.fileName;
    this.virtual.set(name, cell.sf.text);
    try {
      const oneOff = this.ts.createProgram({ rootNames: [...program.getRootFileNames(), name], options: this.options, host: this.host, oldProgram: program });
      const sf = oneOff.getSourceFile(name)!;
      (sf as { parent?: TS.Node }).parent = declsFile;
      return { sf, declarations: declsFile, program: oneOff, checker: oneOff.getTypeChecker() };
    } finally {
      this.virtual.delete(name);
      this.virtualFiles.delete(name);
    }
  }

  /**
   * The top-level names a cell declares (`MODULE_PREFIX` is added here), and
   * whether it augments the globals or a module (`declare global`, `declare module "x"`).
   */
  topLevelNames(cellText: string): { names: string[]; augments: boolean } {
    const ts = this.ts;
    const sf = ts.createSourceFile("names.ts", MODULE_PREFIX + cellText, this.options.target!, false, ts.ScriptKind.TS);
    this.internal.bindSourceFile(sf, this.options);
    const names: string[] = [];
    (sf as unknown as { locals?: TS.SymbolTable }).locals?.forEach((_symbol, escaped) => {
      // Augmentations are in `locals` too, as "__global" or a quoted module name.
      const name = ts.unescapeLeadingUnderscores(escaped);
      if (escaped !== "__global" && this.internal.isIdentifierText(name, this.options.target!)) names.push(name);
    });
    return { names, augments: moduleReferences(ts, sf).augments };
  }

  /**
   * Local TypeScript/JavaScript files `sf` imports, directly or not, in import
   * order (they are compiled and run from memory along with the cell).
   */
  localDependencies(sf: TS.SourceFile, program: TS.Program): TS.SourceFile[] {
    const out: TS.SourceFile[] = [];
    const seen = new Set<string>([sf.fileName]);
    const queue = [sf];
    while (queue.length > 0) {
      const file = queue.shift()!;
      const next: string[] = [];
      const resolved = (file as unknown as { resolvedModules?: { forEach(cb: (r: Resolution | undefined) => void): void } }).resolvedModules;
      resolved?.forEach((r) => {
        if (r?.resolvedModule) next.push(r.resolvedModule.resolvedFileName);
      });
      for (const name of next) {
        const dep = program.getSourceFile(name);
        if (!dep || seen.has(dep.fileName)) continue;
        seen.add(dep.fileName);
        if (dep.isDeclarationFile || !this.isLocal(dep.fileName) || !/\.[cm]?[jt]sx?$/.test(dep.fileName)) continue;
        out.push(dep);
        queue.push(dep);
      }
    }
    return out;
  }

  /** True when the checker has seen {@link REFRESH_AFTER} detached files: rebuild it (see {@link rebuild}), best while idle. */
  get refreshDue(): boolean {
    return this.program !== undefined && this.detachedSinceBuild >= REFRESH_AFTER;
  }

  /** Makes the next cell rebuild the program (and with it a fresh checker). */
  rebuild(): void {
    this.program = undefined;
  }

  /** Drops the program (a later cell rebuilds it). */
  close(): void {
    this.program = undefined;
    this.checker = undefined;
  }

  // ---- files -------------------------------------------------------------------------

  private createHost(): TS.CompilerHost {
    const ts = this.ts;
    const host = ts.createCompilerHost(this.options, false);
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, languageVersion, onError, shouldCreateNewSourceFile) => {
      const text = this.virtual.get(fileName);
      if (text !== undefined) {
        const cached = this.virtualFiles.get(fileName);
        if (cached && cached.text === text) return cached.sf;
        const sf = ts.createSourceFile(fileName, text, languageVersion, false, ts.ScriptKind.TS);
        this.virtualFiles.set(fileName, { text, sf });
        return sf;
      }
      const cached = this.files.get(fileName);
      if (cached && !shouldCreateNewSourceFile) return cached.sf;
      const local = this.isLocal(fileName);
      // Read the time first: a change while reading is then seen at the next cell.
      const mtimeMs = local ? fs.statSync(fileName, { throwIfNoEntry: false })?.mtimeMs : undefined;
      const sf = read(fileName, languageVersion, onError, shouldCreateNewSourceFile);
      if (sf) this.files.set(fileName, { sf, mtimeMs: local ? mtimeMs ?? -1 : undefined });
      return sf;
    };
    host.fileExists = (fileName) => this.virtual.has(fileName) || ts.sys.fileExists(fileName);
    host.readFile = (fileName) => this.virtual.get(fileName) ?? ts.sys.readFile(fileName);
    host.getCurrentDirectory = () => this.cwd;
    host.useCaseSensitiveFileNames = () => true;
    host.getCanonicalFileName = (fileName) => fileName;
    host.writeFile = (fileName) => {
      throw new Error(`the cell compiler never writes files (asked to write ${fileName})`);
    };
    return host;
  }

  /** Files that may change during a session: not installed packages, not the standard library, not this project's build. */
  private isLocal(fileName: string): boolean {
    return !this.virtual.has(fileName) && !fileName.includes("/node_modules/") && !fileName.startsWith(this.root + "/dist/");
  }

  /** True when a local file of the program changed on disk (and forgets it, so the rebuild re-reads it). */
  private localFilesChanged(): boolean {
    const changed: string[] = [];
    for (const name of this.localFiles) {
      const cached = this.files.get(name);
      const now = fs.statSync(name, { throwIfNoEntry: false })?.mtimeMs ?? -1;
      if (!cached || cached.mtimeMs !== now) {
        this.files.delete(name);
        changed.push(name);
      }
    }
    if (changed.length === 0) return false;
    this.resolutions.clear();
    this.onLocalChange(changed);
    return true;
  }

  /** Parses `text` outside the program, without binding it yet. */
  private detach(text: string, kind: "cell" | "declarations"): DetachedFile {
    const ts = this.ts;
    const name = path.join(this.cwd, kind === "cell" ? `__llmlab_cell${++this.serial}__.ts` : `__llmlab_declarations${++this.serial}__.d.ts`);
    const sf = ts.createSourceFile(name, text, this.options.target!, false, ts.ScriptKind.TS);
    // The program would set these; the checker's diagnostics caches key on `path`.
    Object.assign(sf, { path: name, resolvedPath: name, originalFileName: name });
    return { sf, ...moduleReferences(ts, sf) };
  }

  /** The carried declarations as a detached file (re-parsed only when they change). */
  private declarations(text: string): DetachedFile {
    if (this.declarationsFile && this.declarationsText === text) return this.declarationsFile;
    const file = this.detach(MODULE_PREFIX + text, "declarations");
    this.declarationsText = text;
    this.declarationsFile = file;
    return file;
  }

  /** Sets a detached file's module resolutions (from the current program) and binds it. */
  private bind(file: DetachedFile): void {
    const sf = file.sf as TS.SourceFile & { resolvedModules?: ReturnType<TsInternals["createModeAwareCache"]>; locals?: unknown };
    if (file.specifiers.length > 0) {
      const cache = this.internal.createModeAwareCache<Resolution>();
      for (const spec of file.specifiers) {
        if (this.ambient.has(spec)) continue;
        const r = this.resolutions.get(spec) ?? this.resolve(spec);
        if (r) cache.set(spec, undefined, r);
      }
      sf.resolvedModules = cache;
    }
    if (!sf.locals) this.internal.bindSourceFile(sf, this.options);
  }

  // ---- modules -----------------------------------------------------------------------

  /** Resolves a module specifier from the notebook's folder; remembers successes for this program. */
  private resolve(spec: string): Resolution | undefined {
    const r = this.ts.resolveModuleName(spec, this.importsName, this.options, this.host);
    if (!r.resolvedModule) return undefined;
    this.resolutions.set(spec, r);
    return r;
  }

  /** Makes sure the program will hold the file `spec` resolves to (if the program would load it at all). */
  private need(spec: string): void {
    if (this.imported.has(spec) || this.ambient.has(spec)) return;
    const r = this.resolutions.get(spec) ?? this.resolve(spec);
    const m = r?.resolvedModule;
    // Unresolved: the checker reports it. Plain JavaScript in node_modules: the program never loads it (an untyped module).
    if (!m || (m.isExternalLibraryImport && !/^\.(d\.)?[cm]?tsx?$|^\.json$/.test(m.extension))) return;
    if (this.program?.getSourceFile(m.resolvedFileName)) return;
    this.imported.add(spec);
    this.program = undefined;
  }

  // ---- the program -------------------------------------------------------------------

  private ensureProgram(decls: DetachedFile): TS.Program {
    if (this.program) return this.program;
    const ts = this.ts;
    const imports = [...this.imported].map((s) => `import ${JSON.stringify(s)};`).join("\n");
    this.virtual.set(this.importsName, MODULE_PREFIX + imports + "\n");
    const roots = [this.globalsName, this.importsName];
    this.declarationsAttached = decls.augments;
    if (decls.augments) {
      this.virtual.set(this.attachedDeclarationsName, decls.sf.text);
      roots.push(this.attachedDeclarationsName);
    } else {
      this.virtual.delete(this.attachedDeclarationsName);
    }
    const old = this.program;
    const program = ts.createProgram({ rootNames: roots, options: this.options, host: this.host, oldProgram: old });
    this.program = program;
    this.checker = program.getTypeChecker();
    this.ambient = new Set(this.checker.getAmbientModules().map((m) => m.name.replace(/^"(.*)"$/, "$1")));
    this.detachedSinceBuild = 0;
    this.resolutions.clear();
    this.localFiles = program
      .getSourceFiles()
      .map((f) => f.fileName)
      .filter((f) => this.isLocal(f));
    if (!this.globalsChecked) {
      this.checkGlobals(program);
      this.globalsChecked = true;
    }
    return program;
  }

  private checkGlobals(program: TS.Program): void {
    const sf = program.getSourceFile(this.globalsName)!;
    const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    if (diags.length > 0) {
      const text = diags.map((d) => this.ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("; ");
      throw new Error(`kernel globals do not type-check: ${text}`);
    }
  }
}

/**
 * The compiler options of every cell: tslab's (Node 18+ target, type roots
 * that always find @types/node, JavaScript allowed and checked, library files
 * not checked), except that cells are emitted as CommonJS directly.
 */
function compilerOptions(ts: Ts, cwd: string): TS.CompilerOptions {
  return {
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts"],
    declaration: true,
    newLine: ts.NewLineKind.LineFeed,
    // No "use strict" in the output: cells run as sloppy scripts, like Node's REPL.
    noImplicitUseStrict: true,
    ignoreDeprecations: "5.0",
    experimentalDecorators: true,
    resolveJsonModule: true,
    jsx: ts.JsxEmit.React,
    typeRoots: typeRoots(ts, cwd),
    allowJs: true,
    checkJs: true,
    // tslab's TypeScript reports a top-level `await` as an error (TS1308), which
    // the compiler drops: the kernel runs such cells as async functions.
    disableTopLevelAwait: true,
    skipLibCheck: true,
    sourceMap: true,
    rootDir: cwd,
    outDir: path.join(cwd, "__llmlab_out__"),
  } as TS.CompilerOptions;
}

/** The @types folders seen from `cwd`, plus tslab's own when none has @types/node. */
function typeRoots(ts: Ts, cwd: string): string[] {
  const roots = internals(ts).getDefaultTypeRoots(cwd, { directoryExists: (d) => ts.sys.directoryExists(d) }) ?? [];
  if (!roots.some((r) => ts.sys.fileExists(path.join(r, "node", "package.json")))) {
    roots.push(path.join(path.dirname(require.resolve("tslab/package.json")), "node_modules", "@types"));
  }
  return roots;
}

/**
 * The module specifiers a file refers to, found the way the program finds
 * them (imports, re-exports, `import x = require()`, `import("x")` calls and
 * types), and whether it augments the globals or another module.
 */
function moduleReferences(ts: Ts, sf: TS.SourceFile): { specifiers: string[]; augments: boolean } {
  const specs = new Set<string>();
  let augments = false;
  const add = (node: TS.Node | undefined) => {
    if (node && ts.isStringLiteralLike(node)) specs.add(node.text);
  };
  for (const stmt of sf.statements) {
    if (ts.isImportDeclaration(stmt) || ts.isExportDeclaration(stmt)) add(stmt.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(stmt) && ts.isExternalModuleReference(stmt.moduleReference)) add(stmt.moduleReference.expression);
    else if (ts.isModuleDeclaration(stmt) && (ts.isStringLiteral(stmt.name) || (stmt.flags & ts.NodeFlags.GlobalAugmentation) !== 0)) {
      augments = true;
      // The program only merges an augmentation into a module it loaded.
      if (ts.isStringLiteral(stmt.name)) add(stmt.name);
    }
  }
  if (/\bimport\s*\(/.test(sf.text)) {
    const visit = (node: TS.Node): void => {
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
      else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { specifiers: [...specs], augments };
}
