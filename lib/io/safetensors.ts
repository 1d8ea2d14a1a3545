/**
 * The safetensors file format (Hugging Face), read and written without copying
 * more than needed:
 *
 * ```
 * [8 bytes]  N, the header length, unsigned 64-bit little-endian
 * [N bytes]  JSON: { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
 *                    "__metadata__": { "<key>": "<string value>" } }   (padded with spaces to a multiple of 8)
 * [rest]     the tensors' bytes, little-endian, row-major; offsets are relative to this
 *            section, and together the tensors cover it exactly (no holes, no overlap)
 * ```
 */
import * as fs from "node:fs";

/** dtypes of the format, with their byte sizes. */
export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

/** A safetensors dtype name. */
export type SafeDtype = keyof typeof DTYPE_SIZES;

/** One tensor of a file: dtype, shape and its raw little-endian bytes. */
export interface RawTensor {
  dtype: SafeDtype;
  shape: number[];
  /** Exactly numel × dtype size bytes (a view into the file buffer when read). */
  data: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name, in file order. */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` string map (empty if absent). */
  metadata: Record<string, string>;
}

function fail(msg: string): never {
  throw new Error(`safetensors: ${msg}`);
}

/** Number of elements of a shape (1 for a scalar []). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Parse a safetensors buffer, validating the header: known dtypes, integer
 * shapes, offsets that match the shapes, lie inside the file and cover the data
 * section exactly. Errors say what is wrong.
 */
export function parseSafetensors(buffer: Uint8Array): SafetensorsFile {
  if (buffer.byteLength < 8) fail(`file too short (${buffer.byteLength} bytes): no 8-byte header length`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(buffer.byteLength - 8)) {
    fail(`header length ${headerLen64} exceeds the file size (${buffer.byteLength} bytes) — not a safetensors file, or truncated`);
  }
  const headerLen = Number(headerLen64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) fail("header must be a JSON object");
  const dataStart = 8 + headerLen;
  const dataLen = buffer.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, RawTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) fail("__metadata__ must be an object of strings");
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== "object") fail(`tensor '${name}': entry must be an object`);
    const { dtype, shape, data_offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in DTYPE_SIZES)) {
      fail(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(", ")})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(data_offsets) ||
      data_offsets.length !== 2 ||
      !data_offsets.every((o) => Number.isInteger(o) && o >= 0) ||
      data_offsets[1] < data_offsets[0]
    ) {
      fail(`tensor '${name}': data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(data_offsets)}`);
    }
    const [begin, end] = data_offsets as number[];
    const expected = numel(shape as number[]) * DTYPE_SIZES[dtype as SafeDtype];
    if (end - begin !== expected) {
      fail(`tensor '${name}': ${dtype} [${shape}] needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    if (end > dataLen) fail(`tensor '${name}': data_offsets end ${end} is past the data section (${dataLen} bytes) — file truncated?`);
    spans.push([begin, end, name]);
    tensors.set(name, {
      dtype: dtype as SafeDtype,
      shape: (shape as number[]).slice(),
      data: buffer.subarray(dataStart + begin, dataStart + end),
    });
  }
  // The data section must be covered exactly: sorted spans abut, from 0 to its end.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cursor = 0;
  for (const [begin, end, name] of spans) {
    if (begin < cursor) fail(`tensor '${name}' overlaps another tensor's data`);
    if (begin > cursor) fail(`hole in the data section before tensor '${name}' (bytes ${cursor}..${begin})`);
    cursor = end;
  }
  if (cursor !== dataLen) fail(`data section has ${dataLen - cursor} bytes that belong to no tensor`);
  return { tensors, metadata };
}

/** Read and parse a safetensors file from disk. */
export function readSafetensors(file: string): SafetensorsFile {
  let buffer: Buffer;
  try {
    buffer = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`safetensors: cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return parseSafetensors(buffer);
  } catch (e) {
    throw new Error(`${(e as Error).message} (in ${file})`);
  }
}

/**
 * Serialise tensors (in the order given) and metadata into safetensors bytes.
 * The header is padded with spaces to a multiple of 8 bytes.
 */
export function serializeSafetensors(tensors: Map<string, RawTensor> | Record<string, RawTensor>, metadata: Record<string, string> = {}): Buffer {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === "__metadata__") throw new Error("safetensors: '__metadata__' cannot be a tensor name");
    if (!(t.dtype in DTYPE_SIZES)) throw new Error(`safetensors: tensor '${name}' has unknown dtype ${t.dtype}`);
    const bytes = numel(t.shape) * DTYPE_SIZES[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new Error(`safetensors: tensor '${name}' ${t.dtype} [${t.shape}] needs ${bytes} bytes, got ${t.data.byteLength}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, "utf8");
  json += " ".repeat((8 - (jsonBytes % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.byteLength + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.byteLength), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const [, t] of entries) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Write tensors and metadata to a safetensors file. */
export function writeSafetensors(file: string, tensors: Map<string, RawTensor> | Record<string, RawTensor>, metadata: Record<string, string> = {}): void {
  fs.writeFileSync(file, serializeSafetensors(tensors, metadata));
}

/** IEEE half (binary16) bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number → IEEE half bits (round to nearest even). */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** A copy of bytes into a fresh, aligned buffer (views into files may be unaligned). */
function aligned(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * A tensor's values as float32 (F64, F32, F16, BF16 and the integer types are
 * converted; I64/U64 beyond 2^53 lose precision).
 */
export function toFloat32(t: RawTensor): Float32Array {
  const n = numel(t.shape);
  switch (t.dtype) {
    case "F32":
      return new Float32Array(aligned(t.data));
    case "F64":
      return Float32Array.from(new Float64Array(aligned(t.data)));
    case "F16": {
      const u16 = new Uint16Array(aligned(t.data));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(u16[i]);
      return out;
    }
    case "BF16": {
      const u16 = new Uint16Array(aligned(t.data));
      const u32 = new Uint32Array(n);
      for (let i = 0; i < n; i++) u32[i] = u16[i] << 16;
      return new Float32Array(u32.buffer);
    }
    default:
      return Float32Array.from(toNumbers(t));
  }
}

/** A tensor's values as plain numbers (any dtype; 64-bit integers beyond 2^53 lose precision). */
export function toNumbers(t: RawTensor): number[] {
  const buf = aligned(t.data);
  switch (t.dtype) {
    case "F32":
    case "F64":
    case "F16":
    case "BF16":
      return Array.from(toFloat32(t));
    case "I64":
      return Array.from(new BigInt64Array(buf), Number);
    case "U64":
      return Array.from(new BigUint64Array(buf), Number);
    case "I32":
      return Array.from(new Int32Array(buf));
    case "U32":
      return Array.from(new Uint32Array(buf));
    case "I16":
      return Array.from(new Int16Array(buf));
    case "U16":
      return Array.from(new Uint16Array(buf));
    case "I8":
      return Array.from(new Int8Array(buf));
    case "U8":
    case "BOOL":
      return Array.from(new Uint8Array(buf));
  }
}

/** Raw tensor from float32 values (stored as F32, or converted to F16 / BF16). */
export function fromFloat32(values: Float32Array, shape: number[], dtype: "F32" | "F16" | "BF16" = "F32"): RawTensor {
  if (values.length !== numel(shape)) throw new Error(`safetensors: ${values.length} values do not fill shape [${shape}]`);
  if (dtype === "F32") return { dtype, shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  const u16 = new Uint16Array(values.length);
  if (dtype === "F16") {
    for (let i = 0; i < values.length; i++) u16[i] = floatToHalf(values[i]);
  } else {
    const u32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) {
      const x = u32[i];
      if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) u16[i] = (x >>> 16) | 0x40; // keep NaN a NaN
      else u16[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16; // round to nearest even
    }
  }
  return { dtype, shape, data: new Uint8Array(u16.buffer) };
}
