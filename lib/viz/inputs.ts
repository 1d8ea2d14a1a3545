/**
 * Turning the friendly inputs the plot helpers accept — plain arrays, typed
 * arrays, tf tensors, `{x, y}` series, several named series — into the plain
 * JSON arrays plotly.js wants, with errors that say what was wrong.
 */

/** Any of JavaScript's typed arrays. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/**
 * The part of a tf.Tensor the plots use (duck-typed, so tensors from any tfjs
 * copy or backend work): the shape and a synchronous read of the values.
 */
export interface TensorLike {
  readonly shape: number[];
  readonly dtype?: string;
  dataSync(): ArrayLike<number | string | boolean> | Iterable<unknown>;
}

/** Numbers to plot: an array (null or NaN leave a gap), a typed array or a tensor. */
export type Values = ReadonlyArray<number | null | undefined> | TypedArray | TensorLike;

/** Coordinates or labels: numbers, strings or dates, as an array, typed array or tensor. */
export type Labels = ReadonlyArray<number | string | Date | null | undefined> | TypedArray | TensorLike;

/** A matrix: rows of numbers (`number[][]`), or a 2-D tensor. */
export type Matrix = ReadonlyArray<ReadonlyArray<number | null | undefined> | TypedArray> | TensorLike;

/** One named series of points. `x` defaults to 0, 1, 2, … */
export interface Series {
  y: Values;
  x?: Labels;
  name?: string;
}

/**
 * What `plot.line` and `plot.scatter` accept: one series of y values, one
 * `{x, y}` series, an array of series, or several named series as an object
 * (`{ train: losses, val: { x: steps, y: valLosses } }`).
 */
export type SeriesInput = Values | Series | ReadonlyArray<Series> | Record<string, Values | Series>;

/** A series after normalisation: plain arrays of equal length. */
export interface NormalSeries {
  name?: string;
  x: Array<number | string | null>;
  y: Array<number | null>;
}

/** True for tf tensors and anything else with `shape` and `dataSync()`. */
export function isTensorLike(value: unknown): value is TensorLike {
  return (
    value !== null &&
    typeof value === "object" &&
    Array.isArray((value as TensorLike).shape) &&
    typeof (value as TensorLike).dataSync === "function"
  );
}

/** True for typed arrays (not DataView). */
export function isTypedArray(value: unknown): value is TypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** True for anything {@link toNumbers} accepts as a list of values. */
export function isValues(value: unknown): value is Values {
  return Array.isArray(value) || isTypedArray(value) || isTensorLike(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (isTensorLike(value)) return `a tensor of shape [${value.shape.join(", ")}]`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  if (typeof value === "object") return `an object (${(value as object).constructor?.name ?? "Object"})`;
  return `${typeof value} ${String(value)}`;
}

/** The values of a tensor as a flat array, with a clear error if it was disposed. */
function tensorValues(t: TensorLike, what: string): unknown[] {
  if ((t as { isDisposed?: boolean }).isDisposed) {
    throw new Error(`${what}: the tensor was disposed (tf.dispose / tf.tidy) before it was plotted; plot it inside the tidy or keep() it`);
  }
  return Array.from(t.dataSync() as ArrayLike<unknown>);
}

/** The shape with size-1 axes dropped (so [1, n] and [n, 1] count as 1-D). */
function squeezedShape(shape: number[]): number[] {
  return shape.filter((d) => d !== 1);
}

/** The items of a 1-D array, typed array or tensor (squeezed); `noun`/`expected` word the errors. */
function oneDimensional(value: unknown, what: string, noun: string, expected: string): unknown[] {
  if (isTensorLike(value)) {
    if (squeezedShape(value.shape).length > 1) {
      throw new Error(`${what}: expected 1-D ${noun}, got a tensor of shape [${value.shape.join(", ")}]`);
    }
    return tensorValues(value, what);
  }
  if (isTypedArray(value)) return Array.from(value as ArrayLike<number>);
  if (Array.isArray(value)) return value;
  throw new Error(`${what}: expected ${expected}, got ${describe(value)}`);
}

/**
 * A 1-D list of numbers (null for gaps). Accepts arrays, typed arrays and
 * tensors whose shape has one axis longer than 1.
 */
export function toNumbers(value: unknown, what: string): Array<number | null> {
  const items = oneDimensional(value, what, "values", "an array, typed array or tensor of numbers");
  return items.map((v, i) => {
    if (v === null || v === undefined) return null;
    if (typeof v === "number") return Number.isFinite(v) ? v : null;
    if (typeof v === "bigint") return Number(v);
    if (typeof v === "boolean") return v ? 1 : 0;
    throw new Error(`${what}[${i}] is ${describe(v)}, expected a number`);
  });
}

/** A 1-D list of coordinates or labels: numbers, strings, or dates (as ISO strings). */
export function toLabels(value: unknown, what: string): Array<number | string | null> {
  const items = oneDimensional(value, what, "labels", "an array of numbers or strings");
  return items.map((v, i) => {
    if (v === null || v === undefined) return null;
    if (typeof v === "number") return Number.isFinite(v) ? v : null;
    if (typeof v === "string") return v;
    if (typeof v === "bigint") return Number(v);
    if (v instanceof Date) return v.toISOString();
    throw new Error(`${what}[${i}] is ${describe(v)}, expected a number, string or Date`);
  });
}

/**
 * A rectangular matrix as rows of numbers (null for NaN/±Infinity, e.g. a
 * causal mask's -Infinity). Accepts `number[][]`, an array of typed arrays, or
 * a tensor with exactly two axes longer than 1 (a [1, T, T] batch works).
 */
export function toMatrix(value: unknown, what: string): Array<Array<number | null>> {
  if (isTensorLike(value)) {
    const shape = value.shape;
    let rows: number;
    let cols: number;
    if (shape.length === 2) {
      [rows, cols] = shape;
    } else if (shape.length > 2 && shape.slice(0, -2).every((d) => d === 1)) {
      [rows, cols] = shape.slice(-2);
    } else {
      throw new Error(
        `${what}: expected a 2-D matrix, got a tensor of shape [${shape.join(", ")}]` +
          (shape.length > 2 ? "; select one matrix first, e.g. t.slice / t.gather, or use plot.heatmaps for a grid" : ""),
      );
    }
    const flat = tensorValues(value, what);
    const out: Array<Array<number | null>> = [];
    for (let r = 0; r < rows; r++) {
      out.push(flat.slice(r * cols, (r + 1) * cols).map((v) => finiteOrNull(v)));
    }
    return out;
  }
  if (!Array.isArray(value)) {
    throw new Error(`${what}: expected a 2-D array (rows of numbers) or a 2-D tensor, got ${describe(value)}`);
  }
  const out = value.map((row, r) => {
    if (!Array.isArray(row) && !isTypedArray(row)) {
      throw new Error(`${what}: row ${r} is ${describe(row)}, expected an array of numbers (is this a 1-D array? a matrix is an array of rows)`);
    }
    return toNumbers(row, `${what} row ${r}`);
  });
  const width = out.length > 0 ? out[0].length : 0;
  out.forEach((row, r) => {
    if (row.length !== width) {
      throw new Error(`${what}: rows have different lengths (row 0 has ${width} values, row ${r} has ${row.length})`);
    }
  });
  return out;
}

function finiteOrNull(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "boolean") return v ? 1 : 0;
  return null;
}

function isSeries(value: unknown): value is Series {
  return value !== null && typeof value === "object" && !isValues(value) && "y" in (value as object) && isValues((value as Series).y);
}

/** The range 0, 1, …, n-1. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function normaliseOne(series: Series, name: string | undefined, fn: string): NormalSeries {
  const label = name ?? series.name;
  const where = label !== undefined ? `${fn}: series ${JSON.stringify(label)}` : fn;
  const y = toNumbers(series.y, `${where} y`);
  const x = series.x === undefined ? range(y.length) : toLabels(series.x, `${where} x`);
  if (x.length !== y.length) {
    throw new Error(`${where} has ${x.length} x values but ${y.length} y values; they must have the same length`);
  }
  return { name: label, x, y };
}

/**
 * Normalises the arguments of `plot.line`/`plot.scatter`: either `(input)` or
 * `(x, y)`, where input is any {@link SeriesInput}. `fn` names the caller in errors.
 */
/** True for a non-empty plain object whose every value is a list of values: `{ train: [...], val: [...] }`. */
export function isNamedValues(value: unknown): value is Record<string, Values> {
  if (value === null || typeof value !== "object" || Array.isArray(value) || isValues(value)) return false;
  const values = Object.values(value as Record<string, unknown>);
  return values.length > 0 && values.every(isValues);
}

export function toSeriesList(input: unknown, y: unknown, fn: string): NormalSeries[] {
  if (y !== undefined) {
    if (!isValues(input)) throw new Error(`${fn}(x, y): x must be an array, typed array or tensor, got ${describe(input)}`);
    if (isNamedValues(y)) {
      // Several named series over the same x: (steps, { train: [...], val: [...] }).
      return Object.entries(y).map(([name, v]) => normaliseOne({ x: input as Labels, y: v }, name, fn));
    }
    if (!isValues(y)) throw new Error(`${fn}(x, y): y must be an array, typed array, tensor or {name: values}, got ${describe(y)}`);
    return [normaliseOne({ x: input as Labels, y: y as Values }, undefined, fn)];
  }
  if (isValues(input)) {
    if (Array.isArray(input) && input.length > 0 && input.every((s) => isSeries(s))) {
      return (input as Series[]).map((s, i) => normaliseOne(s, s.name ?? `series ${i}`, fn));
    }
    return [normaliseOne({ y: input as Values }, undefined, fn)];
  }
  if (isSeries(input)) return [normaliseOne(input, undefined, fn)];
  if (input !== null && typeof input === "object") {
    const entries = Object.entries(input as Record<string, unknown>);
    if (entries.length === 0) throw new Error(`${fn}: got an empty object; pass y values, {x, y}, or named series like {loss: [...]}`);
    return entries.map(([name, v]) => {
      if (isSeries(v)) return normaliseOne(v, name, fn);
      if (isValues(v)) return normaliseOne({ y: v }, name, fn);
      throw new Error(`${fn}: series ${JSON.stringify(name)} is ${describe(v)}; expected values (array, typed array, tensor) or {x, y}`);
    });
  }
  throw new Error(`${fn}: expected y values, {x, y}, an array of series or named series, got ${describe(input)}`);
}

/**
 * Deep copy of a figure part where typed arrays and tensors become plain
 * arrays, so the result is valid JSON for the plotly MIME type.
 */
export function plainData<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (isTypedArray(value)) return Array.from(value as ArrayLike<number>) as unknown as T;
  if (isTensorLike(value)) return nestedTensorArray(value) as unknown as T;
  if (value instanceof Date) return value.toISOString() as unknown as T;
  if (Array.isArray(value)) return value.map((v) => plainData(v)) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v !== undefined) out[k] = plainData(v);
  }
  return out as T;
}

function nestedTensorArray(t: TensorLike): unknown {
  const flat = tensorValues(t, "figure data");
  const build = (dim: number, offset: number): unknown => {
    if (dim === t.shape.length) return flat[offset];
    const size = t.shape[dim];
    const stride = t.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: size }, (_, i) => build(dim + 1, offset + i * stride));
  };
  return t.shape.length === 0 ? flat[0] : build(0, 0);
}
