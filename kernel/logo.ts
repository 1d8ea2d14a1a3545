/**
 * The kernel logo: a causal attention mask (a lower-triangular grid) on a dark
 * rounded square. Rendered to PNG with a small encoder (zlib + CRC), no image
 * library needed. `node dist/kernel/logo.js` rewrites the logo files in kernel/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { deflateSync } from "node:zlib";

const GRID = 4;
const CELL = 10;
const GAP = 2;
const ORIGIN = 9;
const BACKGROUND: [number, number, number] = [0x1e, 0x2a, 0x44];
const EMPTY: [number, number, number] = [0x2f, 0x3f, 0x5f];
const FILLED: [number, number, number] = [0xf7, 0xa5, 0x41];

/** Brightness of a visible cell: the diagonal strongest, like attention to the current token. */
function weight(row: number, col: number): number {
  return 0.55 + 0.45 * ((col + 1) / (row + 1));
}

/** The colour at a point of the 64×64 design, or undefined outside the rounded square. */
function colourAt(x: number, y: number): [number, number, number] | undefined {
  const r = 12;
  const cx = Math.min(Math.max(x, r), 64 - r);
  const cy = Math.min(Math.max(y, r), 64 - r);
  if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) return undefined;
  const gx = x - ORIGIN;
  const gy = y - ORIGIN;
  const col = Math.floor(gx / (CELL + GAP));
  const row = Math.floor(gy / (CELL + GAP));
  const inCell = gx >= 0 && gy >= 0 && col < GRID && row < GRID && gx - col * (CELL + GAP) < CELL && gy - row * (CELL + GAP) < CELL;
  if (!inCell) return BACKGROUND;
  if (col > row) return EMPTY;
  const w = weight(row, col);
  return [0, 1, 2].map((i) => Math.round(BACKGROUND[i] + (FILLED[i] - BACKGROUND[i]) * w)) as [number, number, number];
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Encodes RGBA pixels (row-major, 4 bytes each) as a PNG file. */
export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  if (rgba.length !== width * height * 4) throw new Error(`expected ${width * height * 4} RGBA bytes, got ${rgba.length}`);
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", new Uint8Array(0))]);
}

/** The logo as a `size`×`size` PNG, antialiased by 4×4 supersampling. */
export function renderLogoPng(size: number): Buffer {
  const rgba = new Uint8Array(size * size * 4);
  const S = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const c = colourAt(((px + (sx + 0.5) / S) * 64) / size, ((py + (sy + 0.5) / S) * 64) / size);
          if (c) {
            r += c[0];
            g += c[1];
            b += c[2];
            a++;
          }
        }
      }
      const i = (py * size + px) * 4;
      if (a > 0) {
        rgba[i] = Math.round(r / a);
        rgba[i + 1] = Math.round(g / a);
        rgba[i + 2] = Math.round(b / a);
      }
      rgba[i + 3] = Math.round((255 * a) / (S * S));
    }
  }
  return encodePng(size, size, rgba);
}

/** The logo as SVG markup. */
export function logoSvg(): string {
  const hex = (c: number[]) => "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
  const cells: string[] = [];
  for (let row = 0; row < GRID; row++) {
    for (let col = 0; col < GRID; col++) {
      const x = ORIGIN + col * (CELL + GAP);
      const y = ORIGIN + row * (CELL + GAP);
      const fill = col > row ? hex(EMPTY) : hex([0, 1, 2].map((i) => Math.round(BACKGROUND[i] + (FILLED[i] - BACKGROUND[i]) * weight(row, col))));
      cells.push(`  <rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${fill}"/>`);
    }
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">`,
    `  <title>llmlab</title>`,
    `  <rect width="64" height="64" rx="12" fill="${hex(BACKGROUND)}"/>`,
    ...cells,
    `</svg>`,
    "",
  ].join("\n");
}

/** The logo files a kernelspec carries: name → contents. */
export function logoFiles(): Record<string, Buffer> {
  return {
    "logo-32x32.png": renderLogoPng(32),
    "logo-64x64.png": renderLogoPng(64),
    "logo-svg.svg": Buffer.from(logoSvg()),
  };
}

if (require.main === module) {
  const dir = path.resolve(__dirname, "..", "..", "kernel");
  for (const [name, data] of Object.entries(logoFiles())) fs.writeFileSync(path.join(dir, name), data);
  console.log(`wrote the logo files into ${dir}`);
}
