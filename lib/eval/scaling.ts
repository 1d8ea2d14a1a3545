/**
 * Scaling-law fits: loss as a power law of model size (or data, or compute),
 *
 *     L(N) ≈ a · N^(−α)          (pure power law)
 *     L(N) ≈ a · N^(−α) + c      (with an irreducible loss c)
 *
 * as in Kaplan et al. 2020 ("Scaling Laws for Neural Language Models") and
 * Hoffmann et al. 2022 (Chinchilla).
 *
 * How the fits are made:
 * - Pure power law: ordinary least squares of ln L on ln N (a straight line on
 *   log-log axes), so α is minus the slope and a = e^intercept. Exact, no search.
 * - With offset: for a fixed α the model a·x + c (x = N^(−α)) is linear in
 *   (a, c), so those two have a closed-form weighted least-squares solution.
 *   What is left is a 1-D problem in α ("variable projection"): we scan α on a
 *   log-spaced grid over [1e-3, 5] and refine the best grid cell by
 *   golden-section search. The objective is the relative squared error
 *   Σ ((fit − L) / L)², which to first order is the squared error of ln L — the
 *   same space as the pure fit — but keeps (a, c) linear. The fit keeps a > 0,
 *   α > 0 and c ≥ 0 (a loss floor is an entropy: it cannot be negative).
 *
 * Both report R² of ln L (1 − residual / total sum of squares in log space),
 * so the two forms can be compared on the same data.
 */

import { DISPLAY_SYMBOL, type MimeBundle } from "../host";

/** Options of {@link fitPowerLaw}. */
export interface PowerLawOptions {
  /** Fit `a·N^(−α) + c` (needs ≥ 3 points) instead of `a·N^(−α)` (default false). */
  withOffset?: boolean;
  /** Name of the scaling variable in `toString()`, e.g. `"C"` for compute (default `"N"`). */
  variable?: string;
}

/** A fitted power law; see {@link fitPowerLaw}. */
export interface PowerLawFit {
  /** Scale: the law's value at N = 1, minus c. */
  a: number;
  /** Exponent: the loss falls as N^(−alpha). */
  alpha: number;
  /** Irreducible loss (0 for the pure power law). */
  c: number;
  /** R² of ln(loss) (1 = perfect fit). */
  r2: number;
  /** Whether c was fitted. */
  withOffset: boolean;
  /** Number of points fitted. */
  points: number;
  /** The fitted law at `n` (a number, or each of several). */
  predict(n: number): number;
  predict(n: ArrayLike<number>): number[];
  /** One line, e.g. `L(N) = 7.21·N^(−0.0913) + 1.02  (R² 0.998, 5 points)`. */
  toString(): string;
}

/** Lowest and highest exponent the offset fit considers. */
const ALPHA_MIN = 1e-3;
const ALPHA_MAX = 5;
const GRID_POINTS = 600;

/** Checks one input array: array-like, finite, > 0; returns it as numbers. */
function positiveValues(values: ArrayLike<number>, what: string): number[] {
  if (values === null || typeof values !== "object" || typeof (values as ArrayLike<number>).length !== "number") {
    throw new TypeError(`fitPowerLaw: ${what} must be an array of numbers`);
  }
  const out = Array.from(values);
  out.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`fitPowerLaw: ${what}[${i}] = ${v} — every value must be a finite number > 0 (the fit works on logarithms)`);
    }
  });
  return out;
}

/** Coefficient of determination of `observed` vs `fitted`, both in log space. */
function logR2(observed: number[], fitted: number[]): number {
  const ly = observed.map(Math.log);
  const mean = ly.reduce((s, v) => s + v, 0) / ly.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < ly.length; i++) {
    ssRes += (ly[i] - Math.log(fitted[i])) ** 2;
    ssTot += (ly[i] - mean) ** 2;
  }
  // All losses equal: a flat law fits them exactly (or not at all).
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}

/** Ordinary least squares y ≈ slope·x + intercept. */
function lineFit(x: number[], y: number[]): { slope: number; intercept: number } {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/** The best (a, c) for a fixed α, and its objective; `cost` is Infinity when no a > 0 exists. */
interface Profile {
  a: number;
  c: number;
  cost: number;
}

/**
 * For fixed α: minimise Σ w_i (a·x_i + c − L_i)² with x_i = (N_i/N_ref)^(−α),
 * w_i = 1/L_i², subject to a > 0, c ≥ 0. Returns a for the scaled x (the caller
 * converts it back). Scaling by N_ref (the geometric mean) keeps x near 1.
 */
function profileAt(alpha: number, logRatio: number[], losses: number[]): Profile {
  let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  const x = logRatio.map((l) => Math.exp(-alpha * l));
  for (let i = 0; i < x.length; i++) {
    const w = 1 / (losses[i] * losses[i]);
    sw += w;
    sx += w * x[i];
    sy += w * losses[i];
    sxx += w * x[i] * x[i];
    sxy += w * x[i] * losses[i];
  }
  const det = sw * sxx - sx * sx;
  let a = det > 0 ? (sw * sxy - sx * sy) / det : NaN;
  let c = det > 0 ? (sxx * sy - sx * sxy) / det : NaN;
  if (!(c >= 0) || !Number.isFinite(a)) {
    // The unconstrained optimum has c < 0 (or is degenerate): the constrained
    // one lies on the boundary c = 0.
    c = 0;
    a = sxy / sxx;
  }
  if (!(a > 0) || !Number.isFinite(a)) return { a: NaN, c: NaN, cost: Infinity };
  let cost = 0;
  for (let i = 0; i < x.length; i++) cost += ((a * x[i] + c - losses[i]) / losses[i]) ** 2;
  return { a, c, cost };
}

/** Builds the result object from fitted parameters. */
function makeFit(
  a: number, alpha: number, c: number, ns: number[], losses: number[], withOffset: boolean, variable: string,
): PowerLawFit {
  const law = (n: number): number => {
    if (typeof n !== "number" || !(n > 0) || !Number.isFinite(n)) {
      throw new RangeError(`PowerLawFit.predict: n must be a finite number > 0, got ${n}`);
    }
    return a * Math.pow(n, -alpha) + c;
  };
  const r2 = logR2(losses, ns.map(law));
  function predict(n: number): number;
  function predict(n: ArrayLike<number>): number[];
  function predict(n: number | ArrayLike<number>): number | number[] {
    return typeof n === "number" ? law(n) : Array.from(n, law);
  }
  const text = (): string => {
    const g = (v: number) => (v === 0 ? "0" : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4));
    return `L(${variable}) = ${g(a)}·${variable}^(−${alpha.toPrecision(4)})${withOffset ? ` + ${g(c)}` : ""}  (R² ${r2.toFixed(4)}, ${ns.length} points)`;
  };
  return {
    a, alpha, c, r2, withOffset, points: ns.length, predict,
    toString: text,
    [DISPLAY_SYMBOL]: (): MimeBundle => ({ "text/plain": text() }),
  } as PowerLawFit;
}

/**
 * Fits `losses ≈ a·ns^(−α)` — or, with `{ withOffset: true }`,
 * `losses ≈ a·ns^(−α) + c` — and returns `{ a, alpha, c, r2, predict }`.
 * `ns` is what the loss scales with (parameters, tokens or FLOPs); all values
 * must be finite and > 0, with at least 2 distinct `ns` (3 for the offset form).
 * See the module comment for the methods (log-log least squares; variable
 * projection over α for the offset form) and for what `r2` measures.
 *
 * @example
 * const fit = llm.eval.fitPowerLaw([1e4, 1e5, 1e6], [2.4, 2.1, 1.9]);
 * fit.alpha;           // the exponent
 * fit.predict(1e7);    // extrapolation (take it with a grain of salt)
 */
export function fitPowerLaw(ns: ArrayLike<number>, losses: ArrayLike<number>, options: PowerLawOptions = {}): PowerLawFit {
  const n = positiveValues(ns, "ns");
  const y = positiveValues(losses, "losses");
  if (n.length !== y.length) {
    throw new RangeError(`fitPowerLaw: ns has ${n.length} values but losses has ${y.length}; give one loss per n`);
  }
  const withOffset = options.withOffset ?? false;
  const variable = options.variable ?? "N";
  if (typeof variable !== "string") throw new TypeError(`fitPowerLaw: options.variable must be a string, got ${typeof variable}`);
  const needed = withOffset ? 3 : 2;
  const distinct = new Set(n).size;
  if (n.length < needed) {
    throw new RangeError(
      `fitPowerLaw: ${withOffset ? "the offset form a·N^(−α) + c has 3 parameters and needs" : "needs"} at least ${needed} points, got ${n.length}`,
    );
  }
  if (distinct < needed) {
    throw new RangeError(`fitPowerLaw: needs at least ${needed} distinct values of ns, got ${distinct}`);
  }

  const logN = n.map(Math.log);
  if (!withOffset) {
    const { slope, intercept } = lineFit(logN, y.map(Math.log));
    return makeFit(Math.exp(intercept), -slope, 0, n, y, false, variable);
  }

  // Variable projection: scan α, keep the best cell, refine by golden section.
  const logRef = logN.reduce((s, v) => s + v, 0) / logN.length;
  const logRatio = logN.map((l) => l - logRef);
  const lo = Math.log(ALPHA_MIN);
  const hi = Math.log(ALPHA_MAX);
  const grid = Array.from({ length: GRID_POINTS }, (_, i) => Math.exp(lo + ((hi - lo) * i) / (GRID_POINTS - 1)));
  const costs = grid.map((alpha) => profileAt(alpha, logRatio, y).cost);
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (costs[i] < costs[best]) best = i;
  if (!Number.isFinite(costs[best])) {
    throw new Error("fitPowerLaw: no decreasing law a·N^(−α) + c (a > 0, α > 0, c ≥ 0) fits these points; do the losses fall as n grows?");
  }
  let left = grid[Math.max(0, best - 1)];
  let right = grid[Math.min(grid.length - 1, best + 1)];
  const phi = (Math.sqrt(5) - 1) / 2;
  let x1 = right - phi * (right - left);
  let x2 = left + phi * (right - left);
  let f1 = profileAt(x1, logRatio, y).cost;
  let f2 = profileAt(x2, logRatio, y).cost;
  for (let iter = 0; iter < 200 && right - left > 1e-13 * right; iter++) {
    if (f1 <= f2) {
      right = x2;
      x2 = x1;
      f2 = f1;
      x1 = right - phi * (right - left);
      f1 = profileAt(x1, logRatio, y).cost;
    } else {
      left = x1;
      x1 = x2;
      f1 = f2;
      x2 = left + phi * (right - left);
      f2 = profileAt(x2, logRatio, y).cost;
    }
  }
  // The refined point, unless the grid point itself is better (flat or boundary optimum).
  let alpha = f1 <= f2 ? x1 : x2;
  if (Math.min(f1, f2) > costs[best]) alpha = grid[best];
  const p = profileAt(alpha, logRatio, y);
  // x was (N / N_ref)^(−α): a·(N/N_ref)^(−α) = a·N_ref^α · N^(−α).
  return makeFit(p.a * Math.exp(alpha * logRef), alpha, p.c, n, y, true, variable);
}
