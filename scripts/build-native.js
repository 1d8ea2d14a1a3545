#!/usr/bin/env node
// Builds the optional native addon (native/*.c -> native/build/llmlab_native.node)
// at `npm install` time with the system C compiler. It must never fail the
// install: with no compiler, no Node headers or any build error it prints one
// line and exits 0, and llmlab then runs its pure-wasm kernels.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync, spawnSync } = require("child_process");

const root = path.resolve(__dirname, "..");
const srcDir = path.join(root, "native");
// LLMLAB_NATIVE_BUILD_DIR redirects the output (tests build into a temporary folder).
const outDir = process.env.LLMLAB_NATIVE_BUILD_DIR ? path.resolve(process.env.LLMLAB_NATIVE_BUILD_DIR) : path.join(srcDir, "build");
const outFile = path.join(outDir, "llmlab_native.node");

function skip(why) {
  // A stale addon from an earlier build must not outlive a failed rebuild.
  try { fs.unlinkSync(outFile); } catch { /* none there */ }
  console.log(`llmlab: native kernels not built (${why}); using the wasm kernels.`);
  process.exit(0);
}

function findCompiler() {
  const candidates = [process.env.CC, "cc", "gcc", "clang"].filter(Boolean);
  for (const cc of candidates) {
    const r = spawnSync(cc, ["--version"], { stdio: "ignore" });
    if (r.status === 0) return cc;
  }
  return null;
}

function findHeaders() {
  const candidates = [
    process.env.LLMLAB_NODE_HEADERS,
    path.join(path.dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
    path.join(root, "node_modules", "node-api-headers", "include"),
  ].filter(Boolean);
  return candidates.find((dir) => fs.existsSync(path.join(dir, "node_api.h"))) || null;
}

function main() {
  if (/^(0|false|off|no)$/i.test(process.env.LLMLAB_NATIVE || "")) skip("LLMLAB_NATIVE=0");
  if (process.platform === "win32") skip("Windows build not supported");
  const cc = findCompiler();
  if (!cc) skip("no C compiler found");
  const headers = findHeaders();
  if (!headers) skip("Node-API headers (node_api.h) not found");
  const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith(".c")).map((f) => path.join(srcDir, f));
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = `${outFile}.tmp-${process.pid}`;
  const flags = [
    "-O3", "-std=gnu11", "-fPIC", "-shared", "-fvisibility=hidden", "-fno-math-errno", "-fno-trapping-math", "-Werror=implicit-function-declaration",
    "-I", headers, "-I", srcDir, ...sources, "-o", tmp, "-ldl", "-lm", "-lpthread",
  ];
  if (process.platform === "darwin") flags.push("-undefined", "dynamic_lookup");
  try {
    execFileSync(cc, flags, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    try { fs.unlinkSync(tmp); } catch { /* nothing to clean */ }
    const first = String(err.stderr || err.message).split("\n").find((l) => /error/i.test(l)) || "compiler error";
    skip(`${path.basename(cc)} failed: ${first.trim()}`);
  }
  // Load it once in a child process: a broken addon must not reach users.
  const check = spawnSync(process.execPath, ["-e", `const m={exports:{}};process.dlopen(m,${JSON.stringify(tmp)});console.log(JSON.stringify(m.exports.info()))`], { encoding: "utf8" });
  if (check.status !== 0) {
    try { fs.unlinkSync(tmp); } catch { /* nothing to clean */ }
    skip(`built addon does not load: ${(check.stderr || "").split("\n")[0]}`);
  }
  fs.renameSync(tmp, outFile);
  const info = JSON.parse(check.stdout.trim());
  console.log(`llmlab: native kernels built (${info.blas} sgemm, ${info.isa}).`);
}

try {
  main();
} catch (err) {
  skip(`unexpected: ${err && err.message}`);
}
