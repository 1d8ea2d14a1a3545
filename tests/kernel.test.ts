/**
 * Unit tests of the kernel's building blocks (no sockets): the wire format and
 * signatures, interrupt instrumentation, source-mapped positions, history,
 * display formatting, comms. The protocol end to end is tested in
 * tests/python (jupyter_kernel_test and robustness tests).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Signer, decode, encode, makeMessage, replyType, checkConnectionInfo, WireError } from "../kernel/wire";
import { instrument, TICK, ENTER, RESUME } from "../kernel/instrument";
import { CellCompiler, CompileError, loadTypeScript, projectRoot } from "../kernel/compiler";
import { GLOBALS_SOURCE } from "../kernel/globals";
import { History, globToRegExp } from "../kernel/history";
import { createDisplay, formatValue, isDisplayHandle, isMimeBundle } from "../kernel/display";
import { CommRegistry } from "../kernel/comm";
import { encodePng } from "../kernel/logo";
import { DISPLAY_SYMBOL } from "../lib/host";

test("signed messages round-trip; a wrong key or a missing signature is rejected", () => {
  const signer = new Signer("secret-key");
  const msg = makeMessage("execute_request", { code: "1 + 1" }, undefined, "session-1");
  const frames = encode([Buffer.from("client-id")], msg, signer);
  const back = decode(frames, signer);
  assert.deepEqual(back.identities.map((b) => Buffer.from(b).toString()), ["client-id"]);
  assert.equal(back.msg.content.code, "1 + 1");
  assert.equal(back.msg.header.version, "5.3");
  assert.throws(() => decode(frames, new Signer("other-key")), /invalid signature/);
  const unsigned = encode([], msg, new Signer(""));
  assert.throws(() => decode(unsigned, signer), /missing signature/);
  // An empty key means no signing at all.
  assert.equal(decode(unsigned, new Signer("")).msg.content.code, "1 + 1");
});

test("malformed frames are rejected with a reason, replyable when the header was sound", () => {
  const signer = new Signer("k");
  assert.throws(() => decode([Buffer.from("junk")], signer), /no <IDS\|MSG> delimiter/);
  assert.throws(() => decode([Buffer.from("<IDS|MSG>"), Buffer.from("x")], signer), /truncated/);
  const header = Buffer.from(JSON.stringify(makeMessage("execute_request", {}, undefined, "s").header));
  const badContent = [header, Buffer.from("{}"), Buffer.from("{}"), Buffer.from("{nope")];
  try {
    decode([Buffer.from("<IDS|MSG>"), Buffer.from(signer.sign(badContent)), ...badContent], signer);
    assert.fail("expected a WireError");
  } catch (e) {
    assert.ok(e instanceof WireError && e.replyable, "content errors are replyable");
    assert.equal(e.replyable!.msg.header.msg_type, "execute_request");
  }
  const notJson = [Buffer.from("nope"), Buffer.from("{}"), Buffer.from("{}"), Buffer.from("{}")];
  assert.throws(() => decode([Buffer.from("<IDS|MSG>"), Buffer.from(signer.sign(notJson)), ...notJson], signer), (e: WireError) => !e.replyable);
  assert.equal(replyType("kernel_info_request"), "kernel_info_reply");
  assert.throws(() => new Signer("k", "md5-plain"), /signature_scheme/);
  assert.throws(() => checkConnectionInfo({ ip: "127.0.0.1", shell_port: "x" }), /shell_port/);
});

test("instrumentation adds checks without moving lines, and maps columns back", () => {
  const ts = loadTypeScript(projectRoot());
  const code = "for (let i = 0; i < 3; i++) x(i);\nwhile (a) { b(); }\nconst f = async () => await g(1);\nfunction h() { 'use strict'; return 1; }";
  const out = instrument(ts, code);
  const lines = out.code.split("\n");
  assert.equal(lines.length, 4);
  assert.equal(lines[0], `for (let i = 0; i < 3; i++) {${TICK}();x(i);}`);
  assert.equal(lines[1], `while (a) {${TICK}(); b(); }`);
  assert.equal(lines[2], `const f = async () => (${ENTER}(), ${RESUME}(await g(1)));`);
  assert.equal(lines[3], `function h() { 'use strict';${ENTER}(); return 1; }`);
  // `b()` sits at column 12 originally; after the insertion it is further right.
  const shifted = lines[1].indexOf("b()");
  assert.equal(out.originalColumn(1, shifted), 12);
  assert.equal(out.originalColumn(1, 0), 0);
  // The instrumented code still parses.
  new Function(`let a = false, x = () => {}, g = async () => 1;\n${out.code}`);
});

test("cells compile with types carried over, errors located, positions mapped to the cell", async (t) => {
  const compiler = new CellCompiler(projectRoot(), GLOBALS_SOURCE);
  t.after(() => compiler.close());
  const first = compiler.compile("interface P { x: number }\n\n\nconst p: P = { x: 1 };\np.x + 1");
  compiler.commit(first);
  assert.equal(first.lastExpressionVar !== undefined, true);
  const lines = first.code.split("\n");
  const row = lines.findIndex((l) => l.includes("p.x + 1"));
  assert.ok(row >= 0);
  assert.deepEqual(first.mapPosition(row, lines[row].indexOf("p.x")), { line: 4, column: 0 });
  // The declaration of `p` is known to the next cell, with its type.
  assert.throws(
    () => compiler.compile("const s: string = p.x;"),
    (e: CompileError) => e instanceof CompileError && e.diagnostics[0].line === 0 && e.diagnostics[0].column === 6,
  );
  assert.equal(compiler.compile("display.html('<b>x</b>')").code.includes("display"), true);
  assert.deepEqual(compiler.isComplete("function f() {"), { status: "incomplete", indent: "  " });
  assert.deepEqual(compiler.isComplete("1 +* 2"), { status: "invalid" });
  assert.deepEqual(compiler.isComplete("const x = `a"), { status: "incomplete", indent: "" });
  assert.deepEqual(compiler.isComplete("let y = 1"), { status: "complete" });
});

test("history: glob search, unique, n, ranges, and a new session per start", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-history-"));
  const file = path.join(dir, "h.jsonl");
  const a = new History(file);
  a.store(1, "x = 1", "1");
  a.store(2, "print(x)");
  a.store(3, "x = 1", "1");
  assert.equal(a.session, 1);
  const b = new History(file);
  b.store(1, "y = 2");
  assert.equal(b.session, 2);
  assert.deepEqual(b.tail(2), [[1, 3, "x = 1"], [2, 1, "y = 2"]]);
  assert.deepEqual(b.tail(1, true), [[2, 1, ["y = 2", null]]]);
  assert.deepEqual(b.search("x *", undefined, false).length, 2);
  assert.deepEqual(b.search("x *", undefined, true), [[1, 3, "x = 1"]]);
  assert.deepEqual(b.search("*", 2, false), [[1, 3, "x = 1"], [2, 1, "y = 2"]]);
  assert.deepEqual(b.range(-1, 2, 4), [[1, 2, "print(x)"], [1, 3, "x = 1"]]);
  assert.deepEqual(b.range(0, 0, undefined), [[2, 1, "y = 2"]]);
  assert.deepEqual(b.range(1, 1, 2, true), [[1, 1, ["x = 1", "1"]]]);
  assert.ok(globToRegExp("a?c").test("abc") && !globToRegExp("a?c").test("abbc"));
  assert.ok(globToRegExp("[!x]*").test("y = 2") && !globToRegExp("[!x]*").test("x = 1"));
  assert.ok(globToRegExp("*(x)*").test("print(x)"));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("values format like the REPL; bundles and the display protocol are honoured", () => {
  assert.deepEqual(formatValue(42).data, { "text/plain": "42" });
  assert.deepEqual(formatValue("hi").data, { "text/plain": "'hi'" });
  assert.deepEqual(formatValue({ "text/html": "<b>x</b>" }).data, { "text/html": "<b>x</b>", "text/plain": "" });
  const rich = { [DISPLAY_SYMBOL]: () => ({ "text/markdown": "**m**" }) };
  assert.equal(formatValue(rich).data["text/markdown"], "**m**");
  assert.equal(typeof formatValue(rich).data["text/plain"], "string");
  const broken = { [DISPLAY_SYMBOL]: () => { throw new Error("bad display"); } };
  assert.match(String(formatValue(broken).data["text/plain"]), /display failed: bad display/);
  assert.equal(isMimeBundle({ a: 1 }), false);
  assert.equal(isMimeBundle(new Map()), false);
});

test("display publishes data, ids and updates; handles are recognised", () => {
  const sent: Array<[string, Record<string, any>]> = [];
  const { display, clearOutput } = createDisplay((type, content) => sent.push([type, content]));
  const h = display.html("<i>a</i>", { id: true, metadata: { "text/html": { isolated: true } } });
  h.update("b");
  display.png(Buffer.from([1, 2, 3]), { height: 10 });
  clearOutput({ wait: true });
  assert.deepEqual(sent.map(([t]) => t), ["display_data", "update_display_data", "display_data", "clear_output"]);
  assert.equal(sent[0][1].transient.display_id, h.id);
  assert.deepEqual(sent[0][1].metadata, { "text/html": { isolated: true } });
  assert.equal(sent[1][1].transient.display_id, h.id);
  assert.equal(sent[2][1].data["image/png"], "AQID");
  assert.deepEqual(sent[2][1].metadata, { "image/png": { height: 10 } });
  assert.deepEqual(sent[3][1], { wait: true });
  assert.ok(isDisplayHandle(h));
  assert.throws(() => display.svg(undefined as any), /display.svg expects a string/);
});

test("comms: targets, messages, close, info", () => {
  const sent: Array<[string, Record<string, any>]> = [];
  const errors: unknown[] = [];
  const comms = new CommRegistry((type, content) => sent.push([type, content]), (e) => errors.push(e));
  const got: unknown[] = [];
  comms.registerTarget("t", (comm, data) => {
    got.push(data);
    comm.onMessage = (d) => comm.send({ echo: d });
  });
  comms.handleOpen({ comm_id: "c1", target_name: "t", data: { a: 1 } }, []);
  comms.handleMessage({ comm_id: "c1", data: 5 }, []);
  assert.deepEqual(got, [{ a: 1 }]);
  assert.deepEqual(sent, [["comm_msg", { comm_id: "c1", data: { echo: 5 } }]]);
  assert.deepEqual(comms.info(), { c1: { target_name: "t" } });
  assert.deepEqual(comms.info("other"), {});
  comms.handleClose({ comm_id: "c1" });
  assert.deepEqual(comms.info(), {});
  assert.throws(() => comms.handleOpen({ comm_id: "c2", target_name: "nope" }, []), /no comm target/);
  assert.equal(errors.length, 0);
});

test("the PNG encoder writes a valid signature and size", () => {
  const png = encodePng(2, 1, new Uint8Array([255, 0, 0, 255, 0, 255, 0, 255]));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.readUInt32BE(16), 2);
  assert.equal(png.readUInt32BE(20), 1);
  assert.throws(() => encodePng(2, 2, new Uint8Array(3)), /RGBA bytes/);
});
