/**
 * The `generate` benchmark case: generation speed (tokens/s) of the reference
 * GPT with the KV cache, per backend — one token per forward pass, sampled
 * from the logits — and, for comparison, without the cache (the whole
 * window recomputed for every token).
 */
import { useBackend, device } from "../lib/backend";
import { GPT } from "../lib/model/gpt";
import type { BenchCase, BenchContext } from "./index";

const REF = { vocabSize: 65, contextLength: 64, dModel: 128, nLayer: 4, nHead: 4, dFF: 512, dropout: 0 } as const;
/** A one-token prompt and 63 new tokens fill the 64-token context exactly. */
const NEW_TOKENS = REF.contextLength - 1;

async function tokensPerSecond(model: GPT, useCache: boolean, runs: number): Promise<number> {
  const once = () => model.generate([0], { maxNewTokens: NEW_TOKENS, temperature: 1, seed: 1, useCache });
  await once(); // warmup: first calls compile and allocate
  const start = performance.now();
  let tokens = 0;
  for (let i = 0; i < runs; i++) tokens += (await once()).ids.length;
  return tokens / ((performance.now() - start) / 1000);
}

/** The generate case. */
export const generateBench: BenchCase = {
  name: "generate",
  describe: "generation tokens/s of the reference GPT (64-token context), with and without the KV cache",
  async run(ctx: BenchContext) {
    for (const backend of ctx.backends) {
      await useBackend(backend);
      const model = new GPT(REF, { seed: 1337 });
      const slow = backend === "cpu";
      for (const useCache of [true, false]) {
        const tps = await tokensPerSecond(model, useCache, slow ? 1 : Math.max(1, Math.min(5, Math.round(ctx.steps / 2))));
        const row = { case: "generate", backend, threads: device().threads, kv_cache: useCache, tokens_per_s: Math.round(tps * 10) / 10 };
        ctx.report(row, `${backend.padEnd(8)} ${useCache ? "with KV cache   " : "without KV cache"} ${tps.toFixed(1).padStart(8)} tokens/s`);
      }
      model.dispose();
    }
  },
};
