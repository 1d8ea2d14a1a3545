/**
 * Tokenizer benchmark (`npm run bench:tokenizer`): encode throughput of our
 * BPE against js-tiktoken on the same ≥ 1 MB mixed text, in the same process
 * (ratios are what to compare on a shared machine), and BPE training time.
 *
 *   node dist/bench/tokenizer.js [--quick]
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { BPETokenizer, CharTokenizer, encodingFor } from "../lib/tokenizer";

const root = path.join(__dirname, "..", "..");
const quick = process.argv.includes("--quick");
for (const a of process.argv.slice(2)) {
  if (a === "--help" || a === "-h") {
    console.log("usage: npm run bench:tokenizer -- [--quick]  (encode MB/s, ours vs js-tiktoken, and BPE training time)");
    process.exit(0);
  }
  if (a !== "--quick") {
    console.error(`bench:tokenizer: unknown option '${a}' (use --quick or --help)`);
    process.exit(2);
  }
}

function readText(rel: string): string {
  return fs.readFileSync(path.join(root, rel), "utf8");
}

/** ≥ 1 MB of mixed text: tiny Shakespeare interleaved with the multilingual/code/emoji test text. */
function mixedText(): string {
  const shakespeare = readText("datasets/tinyshakespeare.txt");
  const mixed = readText("tests/fixtures/tokenizer/mixed.txt");
  // Interleave so that no script or style forms one long homogeneous block.
  const parts: string[] = [];
  const n = 6;
  const a = Math.ceil(shakespeare.length / n);
  const b = Math.ceil(mixed.length / n);
  for (let i = 0; i < n; i++) parts.push(shakespeare.slice(i * a, (i + 1) * a), mixed.slice(i * b, (i + 1) * b));
  return parts.join("");
}

/** Best of `reps` runs of `fn`, in milliseconds. */
function best(reps: number, fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return min;
}

function main(): void {
  const text = mixedText();
  const bytes = Buffer.byteLength(text, "utf8");
  const mb = bytes / 1e6;
  console.log(`Text: ${mb.toFixed(2)} MB mixed (tiny Shakespeare interleaved with tests/fixtures/tokenizer/mixed.txt)`);
  console.log(`Node ${process.version}; best of ${quick ? 2 : 3} runs each, ours and js-tiktoken alternating.\n`);

  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Tiktoken } = require("js-tiktoken/lite");
  const names = ["cl100k_base", "gpt2", "o200k_base"] as const;
  console.log("encoding      load ours / js-tiktoken   encode MB/s ours / js-tiktoken   speed-up   ids equal");
  for (const name of names) {
    let t0 = Date.now();
    const ours = encodingFor(name);
    ours.encode("warm up");
    const loadOurs = Date.now() - t0;
    t0 = Date.now();
    const ref = new Tiktoken(require(`js-tiktoken/ranks/${name}`));
    ref.encode("warm up");
    const loadRef = Date.now() - t0;

    let a: number[] = [];
    let b: number[] = [];
    const reps = quick ? 2 : 3;
    let msOurs = Infinity;
    let msRef = Infinity;
    for (let r = 0; r < reps; r++) {
      msOurs = Math.min(msOurs, best(1, () => (a = ours.encode(text, { disallowedSpecial: "none" }))));
      msRef = Math.min(msRef, best(1, () => (b = ref.encode(text, [], []))));
    }
    const equal = a.length === b.length && a.every((v, i) => v === b[i]);
    const mbsOurs = mb / (msOurs / 1000);
    const mbsRef = mb / (msRef / 1000);
    console.log(
      `${name.padEnd(13)} ${`${loadOurs} / ${loadRef} ms`.padEnd(25)} ` +
      `${`${mbsOurs.toFixed(2)} / ${mbsRef.toFixed(2)}`.padEnd(32)} ${(mbsOurs / mbsRef).toFixed(2).padStart(6)}x   ${equal}`,
    );
  }

  const shakespeare = readText("datasets/tinyshakespeare.txt");
  console.log(`\nBPE training on datasets/tinyshakespeare.txt (${(Buffer.byteLength(shakespeare) / 1e6).toFixed(2)} MB):`);
  const configs: Array<[string, number, string | null | undefined]> = [
    ["GPT-4 split pattern", 4096, undefined],
    ...(quick ? [] : ([["no split pattern", 1024, null]] as Array<[string, number, string | null | undefined]>)),
  ];
  for (const [label, vocab, pattern] of configs) {
    const tok = new BPETokenizer(pattern === undefined ? {} : { pattern });
    const t0 = Date.now();
    tok.trainSync(shakespeare, vocab);
    const ms = Date.now() - t0;
    const t1 = Date.now();
    const ids = tok.encode(shakespeare);
    const encMs = Date.now() - t1;
    console.log(
      `  vocab ${vocab}, ${label}: trained in ${(ms / 1000).toFixed(2)} s (${tok.merges.length} merges); ` +
      `encodes it in ${encMs} ms to ${ids.length} tokens, ${tok.bytesPerToken(shakespeare).toFixed(2)} bytes/token`,
    );
  }
  const chars = CharTokenizer.fromText(shakespeare);
  const t2 = Date.now();
  const n = chars.encode(shakespeare).length;
  console.log(`  character tokenizer: ${chars.vocabSize} characters, encodes ${n} tokens in ${Date.now() - t2} ms`);
}

main();
