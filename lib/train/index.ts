/**
 * Training: AdamW, learning-rate schedules, gradient clipping, token batches
 * and the `train()` loop.
 */
export * from "./adamw";
export * from "./schedule";
export * from "./clip";
export * from "./data";
export * from "./train";
