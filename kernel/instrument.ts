/**
 * Makes compiled cell code interruptible: a check at the top of every loop
 * iteration and every function body, and after every `await` resumes.
 *
 * The edits are insertions on the JavaScript text that never add a line break,
 * so line numbers stay put; {@link Instrumented.originalColumn} undoes the
 * column shift when a stack trace is mapped back to the cell.
 */
import type * as TS from "typescript";

/** Name of the check run at each loop iteration. */
export const TICK = "__llmlab_tick";
/** Name of the check run at each function entry (breaks recursion and callback-driven loops). */
export const ENTER = "__llmlab_enter";
/** Name of the check wrapped around each `await` expression. */
export const RESUME = "__llmlab_resume";

interface Insertion {
  pos: number;
  text: string;
  closing: boolean;
  order: number;
}

/** The instrumented code and how to map its columns back. */
export interface Instrumented {
  code: string;
  /** True when the code awaits outside any function (`await x`, `for await`): it must run as an async function. */
  topLevelAwait: boolean;
  /** Column (0-based) in the code before instrumentation, from a column in `code`. */
  originalColumn(line: number, column: number): number;
}

/**
 * Inserts interrupt checks into `code` (JavaScript). `ts` is the TypeScript
 * module used to parse it.
 */
export function instrument(ts: typeof TS, code: string): Instrumented {
  // Parse the cell as the body of an async function: in a plain script `await`
  // is an identifier, so `await (f)()` would parse as a call of a function named
  // await. The wrapper adds no line break, so only positions shift (by PREFIX).
  const PREFIX = "(async () => {";
  const sf = ts.createSourceFile("cell.js", PREFIX + code + "\n})", ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const wrapper = ((sf.statements[0] as TS.ExpressionStatement).expression as TS.ParenthesizedExpression).expression as TS.ArrowFunction;
  const inserts: Insertion[] = [];
  let order = 0;
  const open = (pos: number, text: string) => inserts.push({ pos: pos - PREFIX.length, text, closing: false, order: order++ });
  const close = (pos: number, text: string) => inserts.push({ pos: pos - PREFIX.length, text, closing: true, order: order++ });

  function tickStatement(body: TS.Statement): void {
    if (ts.isBlock(body)) {
      open(body.getStart(sf) + 1, `${TICK}();`);
    } else {
      open(body.getStart(sf), `{${TICK}();`);
      close(body.end, "}");
    }
  }

  function tickFunctionBody(body: TS.ConciseBody): void {
    if (ts.isBlock(body)) {
      // Keep directive prologues ("use strict") first, or they stop being directives.
      let at = body.getStart(sf) + 1;
      for (const stmt of body.statements) {
        if (ts.isExpressionStatement(stmt) && ts.isStringLiteral(stmt.expression)) at = stmt.end;
        else break;
      }
      open(at, `${ENTER}();`);
    } else {
      open(body.getStart(sf), `(${ENTER}(), `);
      close(body.end, ")");
    }
  }

  let topLevelAwait = false;
  let functionDepth = 0;

  function visit(node: TS.Node): void {
    if (functionDepth === 0 && (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier))) {
      topLevelAwait = true;
    }
    if (ts.isIterationStatement(node, false)) {
      tickStatement(node.statement);
    } else if (
      (ts.isFunctionDeclaration(node) ||
        ts.isFunctionExpression(node) ||
        ts.isArrowFunction(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isConstructorDeclaration(node) ||
        ts.isGetAccessorDeclaration(node) ||
        ts.isSetAccessorDeclaration(node)) &&
      node.body
    ) {
      tickFunctionBody(node.body);
    } else if (ts.isAwaitExpression(node)) {
      open(node.getStart(sf), `${RESUME}(`);
      close(node.end, ")");
    }
    const isFunction = ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node);
    if (isFunction) functionDepth++;
    ts.forEachChild(node, visit);
    if (isFunction) functionDepth--;
  }
  (wrapper.body as TS.Block).statements.forEach(visit);

  // Same position: closings before openings; openings outer-first; closings inner-first.
  inserts.sort((a, b) => {
    if (a.pos !== b.pos) return a.pos - b.pos;
    if (a.closing !== b.closing) return a.closing ? -1 : 1;
    return a.closing ? b.order - a.order : a.order - b.order;
  });

  const parts: string[] = [];
  /** Per line: [column in the original, inserted length], in order. */
  const shifts = new Map<number, Array<[number, number]>>();
  let last = 0;
  for (const ins of inserts) {
    parts.push(code.slice(last, ins.pos), ins.text);
    last = ins.pos;
    const at = sf.getLineAndCharacterOfPosition(ins.pos + PREFIX.length);
    const line = at.line;
    const character = line === 0 ? at.character - PREFIX.length : at.character;
    let list = shifts.get(line);
    if (!list) shifts.set(line, (list = []));
    list.push([character, ins.text.length]);
  }
  parts.push(code.slice(last));

  return {
    code: parts.join(""),
    topLevelAwait,
    originalColumn(line: number, column: number): number {
      const list = shifts.get(line);
      if (!list) return column;
      let shift = 0;
      for (const [col, len] of list) {
        // The insertion occupies [col + shift, col + shift + len) in the instrumented line.
        if (column >= col + shift + len) shift += len;
        else if (column >= col + shift) return col;
        else break;
      }
      return column - shift;
    },
  };
}
