/**
 * The Transformer: configuration, the GPT model, generation, and the seeded RNG
 * they share.
 */
export * from "./config";
export * from "./gpt";
export * from "./generate";
export { Rng } from "./rng";
