/**
 * llmlab — the library behind the "LLM Lab (TypeScript)" kernel.
 *
 * Everything here is written against TensorFlow.js ops and runs on every tfjs
 * backend; `import * as llm from "llmlab"` in a notebook (the kernel preloads it as `llm`).
 */
export * from "./host";
