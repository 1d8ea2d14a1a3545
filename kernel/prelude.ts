// The llmlab prelude: the kernel runs this file before the first cell, and
// every cell is type-checked against what it declares (so `const x = ...` here
// becomes a typed global of every notebook).
//
// Choose another file with `llmlab kernel --prelude FILE` (or `llmlab install
// --prelude FILE`) or the LLMLAB_PRELUDE environment variable; set
// LLMLAB_PRELUDE="" or pass --no-prelude for none.
//
// Keep it quick: kernel_info is answered before the prelude runs, but the first
// cell waits for it. Load heavy things lazily, and call kernel.setBanner(...)
// to say what was loaded and on which device.

import * as tf from "@tensorflow/tfjs";
import * as llm from "llmlab";
// Types only (danfo itself loads on first use): with this name in scope, a cell's
// DataFrame can be named in the declarations carried to the next cell even when
// the notebook is outside this project (else TS2742, "cannot be named without a
// reference to llmlab/node_modules/danfojs-node").
import type * as danfo from "danfojs-node";

/** Plotly figures: `plot.line`, `plot.scatter`, `plot.heatmap`, `plot.histogram`, `plot.bar`, `plot.subplots`, `plot.dashboard`, … */
const plot = llm.plot;

/** The compute device in use: backend, device name, SIMD/threads, memory. Shows as a table. */
const device = llm.device;

// Pick the fastest backend present (tfjs-node-gpu → tfjs-node → WebGPU → wasm → cpu,
// or LLMLAB_BACKEND) and give tensors and DataFrames their rich display.
await llm.initBackend();
llm.viz.installDisplays(tf);

/** danfo.js DataFrames (`new dfd.DataFrame(...)`); loaded on first use. */
const dfd: typeof danfo = llm.viz.dfd;

const pretrained = await llm.io.loadPretrained("shakespeare-char");

/** The preloaded character-level GPT pretrained on tiny Shakespeare (see datasets/README.md). */
const model: llm.GPT = pretrained.model;

/** The preloaded model's character tokenizer (65 characters; '\n' → 0, ' ' → 1). */
const tokenizer = pretrained.tokenizer as llm.CharTokenizer;

kernel.setBanner(
  `LLM Lab (TypeScript) on ${device().toString()}\n` +
    `Preloaded: tf, llm, plot, dfd, device, model (${pretrained.model.paramCount().toLocaleString("en-US")}-parameter ` +
    `character GPT pretrained on tiny Shakespeare), tokenizer (${tokenizer.vocabSize} characters).`,
);
