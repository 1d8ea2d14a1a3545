/**
 * The files shipped in llmlab's `datasets/` folder: the tiny Shakespeare corpus
 * and the character-level GPT pretrained on it. Paths resolve from the package,
 * so notebooks find them whatever directory they run in.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Checkpoint, loadCheckpoint } from "./checkpoint";

/** The package's `datasets/` folder (absolute). */
export function datasetsDir(): string {
  // Compiled files live in dist/lib/io/, sources in lib/io/: walk up to package.json.
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "datasets"))) return path.join(dir, "datasets");
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find llmlab's datasets/ folder above ${__dirname}`);
}

/** Absolute path of a file or folder inside `datasets/`; throws a clear error if it is missing. */
export function datasetPath(...parts: string[]): string {
  const p = path.join(datasetsDir(), ...parts);
  if (!fs.existsSync(p)) {
    const present = fs.readdirSync(datasetsDir()).join(", ");
    throw new Error(`no '${parts.join("/")}' in ${datasetsDir()} (present: ${present})`);
  }
  return p;
}

/**
 * Read a text corpus from `datasets/` (default: `tinyshakespeare.txt`, 1,115,394
 * characters of Shakespeare, public domain, as concatenated for char-rnn).
 */
export function readCorpus(name = "tinyshakespeare.txt"): string {
  return fs.readFileSync(datasetPath(name), "utf8");
}

/**
 * Load a pretrained checkpoint shipped in `datasets/` (default
 * `shakespeare-char`: a 4-layer, 128-wide character GPT in the Hugging Face
 * GPT-2 layout, with its tokenizer and training metadata).
 */
export async function loadPretrained(name = "shakespeare-char"): Promise<Checkpoint> {
  return loadCheckpoint(datasetPath(name));
}
