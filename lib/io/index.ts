/**
 * Files: the safetensors format and model checkpoints in the Hugging Face GPT-2 layout.
 */
export * from "./safetensors";
export * from "./checkpoint";
export * from "./datasets";
