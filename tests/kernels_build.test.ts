// scripts/build-native.js runs at `npm install`: it must never fail the
// install, and where a compiler exists it must produce a loadable addon.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";

const script = path.resolve(__dirname, "..", "..", "scripts", "build-native.js");

function build(env: NodeJS.ProcessEnv) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-native-"));
  const r = spawnSync(process.execPath, [script], { env: { ...env, LLMLAB_NATIVE_BUILD_DIR: dir }, encoding: "utf8", timeout: 120_000 });
  return { ...r, dir, file: path.join(dir, "llmlab_native.node") };
}

test("no compiler: the build prints one line and exits 0 without an addon", () => {
  const r = build({ PATH: "/nonexistent", CC: "" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /native kernels not built \(no C compiler found\)/);
  assert.equal(r.stdout.trim().split("\n").length, 1);
  assert.equal(fs.existsSync(r.file), false);
});

test("LLMLAB_NATIVE=0: the build is skipped", () => {
  const r = build({ ...process.env, LLMLAB_NATIVE: "0" });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /not built \(LLMLAB_NATIVE=0\)/);
  assert.equal(fs.existsSync(r.file), false);
});

test("with a compiler: the addon builds and loads", (t) => {
  if (spawnSync("cc", ["--version"], { stdio: "ignore" }).status !== 0) return t.skip("no C compiler here");
  const r = build(process.env);
  assert.equal(r.status, 0, r.stderr);
  if (!fs.existsSync(r.file)) return t.skip(`addon not built here: ${r.stdout.trim()}`);
  const mod = { exports: {} as { abi: number; info(): { blas: string; threads: number } } };
  process.dlopen(mod, r.file);
  assert.equal(typeof mod.exports.abi, "number");
  assert.match(mod.exports.info().blas, /^(openblas|builtin)$/);
  fs.rmSync(r.dir, { recursive: true, force: true });
});
