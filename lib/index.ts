/**
 * llmlab — the library behind the "LLM Lab (TypeScript)" kernel.
 *
 * Everything here is written against TensorFlow.js ops and runs on every tfjs
 * backend; `import * as llm from "llmlab"` in a notebook (the kernel preloads it as `llm`).
 */
export * from "./host";
export * as viz from "./viz";
export { plot, progress } from "./viz";
export * as backend from "./backend";
export { device, initBackend } from "./backend";
export * as model from "./model";
export { GPT, gptConfig } from "./model";
export * as train from "./train";
export * as io from "./io";
export * as eval from "./eval";
export * as tokenizer from "./tokenizer";
export { CharTokenizer, BPETokenizer, encodingFor, loadTokenizer } from "./tokenizer";
