/**
 * The cell compiler keeps one program and checker across cells and caches
 * parsed files, module resolutions and compiled local modules: these tests
 * check that what a user relies on survives those caches (types carried from
 * cell to cell, edits to local modules seen, new imports typed, the checker
 * replaced every few hundred cells).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CellCompiler, CompileError, CompiledCell, projectRoot } from "../kernel/compiler";
import { GLOBALS_SOURCE } from "../kernel/globals";
import { REFRESH_AFTER } from "../kernel/program";

/** Compiles and commits a cell (as the kernel does once it ran). */
function run(compiler: CellCompiler, src: string): CompiledCell {
  const cell = compiler.compile(src);
  compiler.commit(cell);
  return cell;
}

/** The diagnostics of a cell that must not compile. */
function errorsOf(compiler: CellCompiler, src: string): CompileError["diagnostics"] {
  try {
    compiler.compile(src);
  } catch (e) {
    if (e instanceof CompileError) return e.diagnostics;
    throw e;
  }
  assert.fail(`expected a compile error for ${JSON.stringify(src)}`);
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-compiler-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("types carry across cells, redefinitions replace them, and errors keep their line and column", (t) => {
  const compiler = new CellCompiler(projectRoot(), GLOBALS_SOURCE, tempDir(t));
  t.after(() => compiler.close());
  run(compiler, "interface Point { x: number }\nlet p: Point = { x: 1 };\nfunction norm(q: Point) { return Math.abs(q.x) }");
  assert.equal(run(compiler, "norm(p) + 1").lastExpressionVar !== undefined, true);
  // The earlier names are read from the shared variables object at run time.
  assert.match(compiler.compile("norm(p)").code, /exports\.norm\(exports\.p\)/);
  assert.deepEqual(
    errorsOf(compiler, "const ok = 1;\nconst s: string = p.x;").map((d) => [d.line, d.column, d.code]),
    [[1, 6, 2322]],
  );
  run(compiler, "interface Point { y: string }");
  // The new Point replaces the old one (`p` is now declared with the new type too).
  const diags = errorsOf(compiler, "const q: Point = { x: 2 };");
  assert.equal(diags[0].line, 0);
  assert.ok(diags.some((d) => /'x' does not exist in type 'Point'/.test(d.message)), JSON.stringify(diags));
  // A cell that declares nothing leaves the declarations exactly as they were.
  const before = compiler.state;
  run(compiler, "typeof p");
  assert.equal(compiler.state, before);
});

test("the checker is replaced after many cells without losing types", (t) => {
  const compiler = new CellCompiler(projectRoot(), GLOBALS_SOURCE, tempDir(t));
  t.after(() => compiler.close());
  run(compiler, "const base: { n: number } = { n: 1 };");
  let cells = 0;
  // Checked while idle (as the kernel does)...
  while (!compiler.refreshDue && cells <= REFRESH_AFTER) run(compiler, cells % 50 === 0 ? `const v${cells} = base.n + ${cells++};` : `base.n + ${cells++}`);
  assert.equal(compiler.refreshDue, true);
  compiler.refreshIfDue();
  assert.equal(compiler.refreshDue, false);
  assert.equal(errorsOf(compiler, "const t: string = v0;")[0].code, 2322);
  // ... or by the next cell.
  for (let i = 0; i <= REFRESH_AFTER + 1; i++) run(compiler, `base.n * ${i}`);
  assert.equal(errorsOf(compiler, "const t: string = v50;")[0].code, 2322);
  assert.equal(errorsOf(compiler, "base.m")[0].code, 2339);
});

test("a local module edited on disk is checked and compiled again", async (t) => {
  const dir = tempDir(t);
  const helper = path.join(dir, "helper.ts");
  fs.writeFileSync(helper, "export function triple(x: number): number { return 3 * x; }\n");
  const compiler = new CellCompiler(projectRoot(), GLOBALS_SOURCE, dir);
  t.after(() => compiler.close());
  const first = run(compiler, 'import { triple } from "./helper";\ntriple(2)');
  assert.deepEqual(first.sideOutputs.map((o) => o.path), [path.join(dir, "helper.js")]);
  assert.match(first.sideOutputs[0].data, /3 \* x/);
  // Unchanged: not compiled again.
  assert.deepEqual(compiler.compile('import { triple as t3 } from "./helper"; t3(1)').sideOutputs, []);

  // A new signature (and a later modification time, even on coarse clocks).
  fs.writeFileSync(helper, "export function triple(x: string): string { return x.repeat(3); }\nexport const k = 1;\n");
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(helper, later, later);
  const diags = errorsOf(compiler, 'import { triple as t4 } from "./helper";\nt4(1)');
  assert.deepEqual([diags[0].line, diags[0].code], [1, 2345]);
  const again = compiler.compile('import { triple as t5, k } from "./helper";\nt5("a") + k');
  assert.match(again.sideOutputs[0]?.data ?? "", /repeat\(3\)/);

  // An error inside the module is reported with its file name.
  fs.writeFileSync(helper, "export const broken: number = 'no';\n");
  const evenLater = new Date(Date.now() + 10000);
  fs.utimesSync(helper, evenLater, evenLater);
  const inModule = errorsOf(compiler, 'import { broken } from "./helper";\nbroken');
  assert.equal(inModule[0].fileName, "helper.ts");
});

test("a package imported for the first time brings its types", (t) => {
  const compiler = new CellCompiler(projectRoot(), GLOBALS_SOURCE, tempDir(t));
  t.after(() => compiler.close());
  run(compiler, "const before = 1;");
  run(compiler, 'import { getEncoding } from "js-tiktoken";');
  const diags = errorsOf(compiler, "const n: number = getEncoding;");
  assert.equal(diags[0].code, 2322);
  assert.equal(errorsOf(compiler, 'import { nothingHere } from "no-such-package-llmlab";')[0].code, 2307);
  assert.equal(compiler.compile("before + 1").lastExpressionVar !== undefined, true);
});

test("global augmentations reach later cells; shorthand properties and the value name do not clash", (t) => {
  const compiler = new CellCompiler(projectRoot(), GLOBALS_SOURCE, tempDir(t));
  t.after(() => compiler.close());
  run(compiler, "declare global { var llmlabTestGlobal: number }");
  const use = run(compiler, "const after = 2;\nllmlabTestGlobal + after");
  // A global is read as a global, not from the cells' variables.
  assert.match(use.code, /= llmlabTestGlobal \+ after/);
  assert.equal(errorsOf(compiler, "const s: string = llmlabTestGlobal;")[0].code, 2322);
  run(compiler, "let x = 1; const tsLastExpr = 5;");
  const shorthand = compiler.compile("({ x })");
  assert.match(shorthand.code, /\{ x: exports\.x \}/);
  assert.notEqual(shorthand.lastExpressionVar, "tsLastExpr");
});

test("completion and hover see the earlier cells", (t) => {
  const compiler = new CellCompiler(projectRoot(), GLOBALS_SOURCE, tempDir(t));
  t.after(() => compiler.close());
  run(compiler, "/** Halves a number. */\nfunction halve(n: number): number { return n / 2; }\nconst alphabet = 'abc';");
  const names = compiler.complete("alp", 3);
  assert.deepEqual([names.start, names.end, names.candidates[0]], [0, 3, "alphabet"]);
  const members = compiler.complete("alphabet.len", 12);
  assert.deepEqual([members.start, members.end, members.candidates], [9, 12, ["length"]]);
  const info = compiler.inspect("halve(4)", 2);
  assert.ok(info);
  assert.equal(compiler.ts.displayPartsToString(info.displayParts), "function halve(n: number): number");
  assert.equal(compiler.ts.displayPartsToString(info.documentation), "Halves a number.");
  assert.deepEqual(info.textSpan, { start: 0, length: 5 });
});
