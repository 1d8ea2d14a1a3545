/**
 * Learning-rate schedules: linear warmup then cosine decay (nanoGPT's `get_lr`).
 */

/** Options of {@link cosineSchedule}. */
export interface CosineScheduleOptions {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Steps of linear warmup (default 0). */
  warmupSteps?: number;
  /** Step at which the decay reaches `minLr` (usually the total steps). */
  decaySteps: number;
  /** Floor of the decay (default lr / 10). */
  minLr?: number;
}

/**
 * A function from a 0-based step to its learning rate:
 * - `step < warmupSteps`: `lr · (step + 1) / (warmupSteps + 1)`;
 * - `step > decaySteps`: `minLr`;
 * - otherwise `minLr + ½(1 + cos(π·r))·(lr − minLr)` with
 *   `r = (step − warmupSteps) / (decaySteps − warmupSteps)`.
 */
export function cosineSchedule(options: CosineScheduleOptions): (step: number) => number {
  const { lr, decaySteps } = options;
  const warmup = options.warmupSteps ?? 0;
  const minLr = options.minLr ?? lr / 10;
  if (!(lr >= 0)) throw new Error(`cosineSchedule: lr must be ≥ 0, got ${lr}`);
  if (!(minLr >= 0 && minLr <= lr)) throw new Error(`cosineSchedule: minLr must be in [0, lr], got ${minLr}`);
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new Error(`cosineSchedule: warmupSteps must be an integer ≥ 0, got ${warmup}`);
  if (!(decaySteps >= 0)) throw new Error(`cosineSchedule: decaySteps must be ≥ 0, got ${decaySteps}`);
  return (step: number) => {
    if (step < warmup) return (lr * (step + 1)) / (warmup + 1);
    if (step > decaySteps || decaySteps <= warmup) return minLr;
    const ratio = (step - warmup) / (decaySteps - warmup);
    return minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (lr - minLr);
  };
}

/** A constant learning rate, as a schedule. */
export function constantSchedule(lr: number): (step: number) => number {
  return () => lr;
}
