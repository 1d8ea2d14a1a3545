/**
 * How a checked cell becomes code and declarations for the next cells:
 *
 * - the value of a cell's last expression is stored in `exports.<name>`;
 * - names from earlier cells are read from the shared `exports` object
 *   (`x` → `exports.x`), so that every cell sees their current values;
 * - the declarations carried to the next cells are the cell's own (its d.ts)
 *   plus the earlier ones it does not redefine.
 */
import type * as TS from "typescript";

type Ts = typeof TS;

/** The object holding every cell's top-level names at run time (the executor's `exports`). */
const EXPORTS = "exports";

/**
 * A name for the last expression's value that no name of the cell or of the
 * earlier cells uses.
 */
export function lastExpressionName(taken: (name: string) => boolean): string {
  if (!taken("tsLastExpr")) return "tsLastExpr";
  for (let i = 0; ; i++) if (!taken(`tsLastExpr${i}`)) return `tsLastExpr${i}`;
}

/**
 * Rewrites the cell's last statement, when it is an expression statement
 * (`expr;` → `exports.<name> = expr;`). Statements that only declare what the
 * cell exports (`export { a, b }`) do not count; anything else after the
 * expression means the cell has no value, as in IPython.
 * @param onFound called when the cell has a value.
 */
export function lastExpression(ts: Ts, name: string, onFound: () => void): TS.TransformerFactory<TS.SourceFile> {
  return (context) => (sf) => {
    const f = context.factory;
    for (let i = sf.statements.length - 1; i >= 0; i--) {
      const stmt = sf.statements[i];
      if (ts.isExportDeclaration(stmt)) continue;
      if (!ts.isExpressionStatement(stmt)) return sf;
      const store = f.createExpressionStatement(
        f.createAssignment(f.createPropertyAccessExpression(f.createIdentifier(EXPORTS), name), stmt.expression),
      );
      ts.setTextRange(store, stmt);
      onFound();
      const statements = [...sf.statements];
      statements[i] = store;
      return f.updateSourceFile(sf, statements);
    }
    return sf;
  };
}

/**
 * Rewrites references to names declared by earlier cells (`declarations`) as
 * reads of the shared `exports` object. Runs after TypeScript's own
 * transforms, so types are gone and only values are left.
 */
export function earlierCellNames(ts: Ts, checker: TS.TypeChecker, declarations: TS.SourceFile): TS.TransformerFactory<TS.SourceFile> {
  // Declared at the top of the declarations file (not inside its `declare global { ... }`).
  const declaredEarlier = (symbol: TS.Symbol | undefined) =>
    symbol?.declarations?.some((d) => d.getSourceFile() === declarations && !ts.findAncestor(d.parent, ts.isModuleDeclaration)) === true;
  return (context) => {
    const f = context.factory;
    const fromExports = (id: TS.Identifier) => f.createPropertyAccessExpression(f.createIdentifier(EXPORTS), id);
    const visit = (node: TS.Node): TS.Node => {
      if (ts.isIdentifier(node)) {
        // A parse-tree identifier (synthesized ones have no parent) that is not a property name.
        if (!node.parent || (ts.isPropertyAccessExpression(node.parent) && node.parent.name === node)) return node;
        return declaredEarlier(checker.getSymbolAtLocation(node)) ? fromExports(node) : node;
      }
      if (ts.isShorthandPropertyAssignment(node) && node.parent && declaredEarlier(checker.getShorthandAssignmentValueSymbol(node))) {
        // `{ x }` → `{ x: exports.x }` (and `{ x = 1 } = o` → `{ x: exports.x = 1 } = o`).
        const value = node.objectAssignmentInitializer
          ? f.createAssignment(fromExports(node.name), ts.visitNode(node.objectAssignmentInitializer, visit) as TS.Expression)
          : fromExports(node.name);
        return ts.setTextRange(f.createPropertyAssignment(node.name, value), node);
      }
      return ts.visitEachChild(node, visit, context);
    };
    return (sf) => ts.visitEachChild(sf, visit, context);
  };
}

/** Drops `export { ... }` from a cell's declarations: its names stay local to the declarations file. */
export function withoutExportDeclarations(ts: Ts): TS.TransformerFactory<TS.SourceFile | TS.Bundle> {
  return (context) => (node) => {
    if (!ts.isSourceFile(node)) return node;
    return context.factory.updateSourceFile(
      node,
      node.statements.filter((s) => !ts.isExportDeclaration(s)),
    );
  };
}

/**
 * The earlier declarations a cell leaves in place: those of the names it
 * does not redefine (as a value, a type, or both), as TypeScript text.
 * @param cell the checked cell (its top-level names are `cell.locals`).
 * @param declarations the declarations the cell was checked against.
 */
export function remainingDeclarations(ts: Ts, checker: TS.TypeChecker, cell: TS.SourceFile, declarations: TS.SourceFile): string {
  const cellNames = (cell as unknown as { locals?: TS.SymbolTable }).locals;
  const earlier = (declarations as unknown as { locals?: TS.SymbolTable }).locals;
  if (!earlier || earlier.size === 0) return "";
  /** Top-level statement → the names it declares that are kept. */
  const keep = new Map<TS.Statement, Set<string>>();
  const valueKept = new Set<string>();
  /** Values whose class or enum declaration must go (its type was redefined): kept as `let name: any`. */
  const untyped = new Set<string>();
  const keepName = (stmt: TS.Statement, name: string) => {
    let names = keep.get(stmt);
    if (!names) keep.set(stmt, (names = new Set()));
    names.add(name);
  };
  const resolved = (symbol: TS.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);

  earlier.forEach((symbol, escaped) => {
    const name = escaped as string;
    const redefined = cellNames?.get(escaped);
    const target = redefined && resolved(redefined);
    const keepValue = !target || (target.flags & ts.SymbolFlags.Value) === 0;
    const keepType = !target || (target.flags & ts.SymbolFlags.Type) === 0;
    if (!keepValue && !keepType) return;
    for (const decl of symbol.declarations ?? []) {
      let stmt: TS.Node = decl;
      while (stmt.parent && stmt.parent !== declarations) stmt = stmt.parent;
      const top = stmt as TS.Statement;
      if (ts.isVariableStatement(top)) {
        if (keepValue) {
          keepName(top, name);
          untyped.delete(name);
          valueKept.add(name);
        }
      } else if (ts.isTypeAliasDeclaration(top) || ts.isInterfaceDeclaration(top)) {
        if (keepType) keepName(top, name);
      } else if (ts.isFunctionDeclaration(top)) {
        if (keepValue) keepName(top, name);
      } else if (ts.isClassDeclaration(top) || ts.isEnumDeclaration(top)) {
        // Both a value and a type: kept whole, or (type redefined) as an untyped value.
        if (keepType && keepValue) keepName(top, name);
        else if (keepValue && !valueKept.has(name)) untyped.add(name);
      } else if (ts.isImportDeclaration(top) || ts.isImportEqualsDeclaration(top)) {
        if (keepValue && keepType) {
          keepName(top, name);
          continue;
        }
        const aliased = checker.getAliasedSymbol(symbol);
        const isValue = (aliased.flags & ts.SymbolFlags.Value) !== 0;
        const isType = (aliased.flags & ts.SymbolFlags.Type) !== 0;
        if (keepType && !isValue) keepName(top, name);
        else if (keepValue && !isType) keepName(top, name);
        else if (keepValue && isValue && !valueKept.has(name)) untyped.add(name);
      } else if (ts.isModuleDeclaration(top)) {
        if (keepValue) keepName(top, name);
      }
    }
  });

  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed });
  const f = ts.factory;
  const parts: string[] = [];
  for (const stmt of declarations.statements) {
    const names = keep.get(stmt);
    if (!names) continue;
    let partial: TS.Statement | undefined;
    if (ts.isVariableStatement(stmt)) {
      const decls = stmt.declarationList.declarations.filter((d) => ts.isIdentifier(d.name) && names.has(d.name.text));
      if (decls.length < stmt.declarationList.declarations.length) {
        partial = f.updateVariableStatement(stmt, stmt.modifiers, f.updateVariableDeclarationList(stmt.declarationList, decls));
      }
    } else if (ts.isImportDeclaration(stmt)) {
      partial = importKeeping(ts, stmt, names);
    }
    // Unchanged statements are copied with their doc comments; trimmed ones are printed.
    if (!partial) parts.push(declarations.text.slice(stmt.pos, stmt.end).replace(/^\s*\n/, "") + "\n");
    else parts.push(printer.printNode(ts.EmitHint.Unspecified, partial, declarations) + "\n");
  }
  for (const name of untyped) parts.push(`declare let ${name}: any;\n`);
  return parts.join("");
}

/** An import declaration trimmed to the names in `names` (undefined when all stay). */
function importKeeping(ts: Ts, stmt: TS.ImportDeclaration, names: Set<string>): TS.ImportDeclaration | undefined {
  const clause = stmt.importClause;
  if (!clause) return undefined;
  const f = ts.factory;
  const name = clause.name && names.has(clause.name.text) ? clause.name : undefined;
  let bindings = clause.namedBindings;
  let changed = name !== clause.name;
  if (bindings && ts.isNamespaceImport(bindings)) {
    if (!names.has(bindings.name.text)) {
      bindings = undefined;
      changed = true;
    }
  } else if (bindings) {
    const elements = bindings.elements.filter((e) => names.has(e.name.text));
    if (elements.length < bindings.elements.length) {
      changed = true;
      bindings = elements.length > 0 ? f.updateNamedImports(bindings, elements) : undefined;
    }
  }
  if (!changed) return undefined;
  return f.updateImportDeclaration(
    stmt,
    stmt.modifiers,
    f.updateImportClause(clause, clause.isTypeOnly, name, bindings),
    stmt.moduleSpecifier,
    stmt.assertClause,
  );
}
